"""The described NLU's network, losses and batches (``dialog.nlu.described`` reads schemas into them):
torch alone, so that ``dialog.train.standalone`` trains it on a bare GPU machine."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from dialog.nlu.labels import ACT_LABELS, SPECIAL_VALUES

IGNORE = -100


@dataclass
class DescribedConfig:
    acts: list[str] = field(default_factory=lambda: list(ACT_LABELS))
    hidden: int = 384
    mlp: int = 256
    span_hidden: int = 128
    dropout: float = 0.1
    max_length: int = 96
    lora_rank: int = 16
    lora_alpha: int = 32
    negatives: int = 3  # services of other domains whose intents a training example also scores

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mlp(inputs: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(), nn.Linear(hidden, out))


def _pair(c: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    return torch.cat([c.expand_as(e), e, c.expand_as(e) * e], dim=-1)


class DescribedHeads(nn.Module):
    """Shapes: hidden (B, T, D); table (N, D); rows (B, I) intents, (B, S) slots."""

    def __init__(self, config: DescribedConfig) -> None:
        super().__init__()
        d, m = config.hidden, config.mlp
        self.dropout = nn.Dropout(config.dropout)
        self.element = nn.Sequential(nn.Linear(d, d), nn.LayerNorm(d))  # schema embedding → turn space
        self.no_intent = nn.Parameter(torch.zeros(d))
        self.intent = _mlp(3 * d, m, 1)
        self.requested = _mlp(3 * d, m, 1)
        self.specials = _mlp(3 * d, m, len(SPECIAL_VALUES))
        self.acts = nn.Linear(d, max(1, len(config.acts)))
        self.outside = nn.Linear(d, 1)
        self.span_token = nn.Linear(d, config.span_hidden)
        self.span_slot = nn.Linear(d, config.span_hidden)
        self.span_out = nn.Linear(config.span_hidden, 2)  # beginning, inside

    def forward(
        self, hidden: torch.Tensor, table: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> dict[str, Any]:
        hidden = self.dropout(hidden.float())  # the encoder may run in bfloat16
        cls = hidden[:, 0]
        b, t = hidden.shape[:2]
        elements = self.element(table)
        e_int = torch.cat([self.no_intent.expand(b, 1, -1), elements[batch["intent_rows"]]], dim=1)
        intent = self.intent(_pair(cls[:, None], e_int)).squeeze(-1)  # (B, 1 + I)
        e_slot = elements[batch["slot_rows"]]  # (B, S, D)
        pair = _pair(cls[:, None], e_slot)
        slot_ok = batch["slot_mask"]  # (B, S)
        inside = self.span_out(
            torch.tanh(self.span_token(hidden)[:, :, None] + self.span_slot(e_slot)[:, None])
        )
        inside = inside.masked_fill(~slot_ok[:, None, :, None], -1e4)  # (B, T, S, 2)
        return {
            "intent": intent.masked_fill(~batch["intent_mask"], -1e4),
            "tags": torch.cat([self.outside(hidden), inside.reshape(b, t, -1)], dim=-1),  # (B, T, 1 + 2S)
            "requested": self.requested(pair).squeeze(-1),  # (B, S)
            "specials": self.specials(pair),  # (B, S, 3)
            "acts": self.acts(cls),
        }


class DescribedModel(nn.Module):
    def __init__(self, encoder: nn.Module, config: DescribedConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config
        self.heads = DescribedHeads(config)

    def forward(self, table: torch.Tensor, **batch: torch.Tensor) -> dict[str, Any]:
        hidden = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return self.heads(hidden.last_hidden_state, table, batch)


def described_loss(logits: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
    ce, bce = nn.functional.cross_entropy, nn.functional.binary_cross_entropy_with_logits
    loss = ce(logits["intent"], batch["intent"])
    tags = logits["tags"]
    loss = loss + ce(tags.reshape(-1, tags.shape[-1]), batch["tags"].reshape(-1), ignore_index=IGNORE)
    slots = batch["slot_mask"].float() * batch["slots_labelled"][:, None]  # (B, S)
    if slots.sum() > 0:
        loss = (
            loss
            + (bce(logits["requested"], batch["requested"], reduction="none") * slots).sum() / slots.sum()
        )
        per = bce(logits["specials"], batch["specials"], reduction="none").sum(-1)
        loss = loss + (per * slots).sum() / slots.sum()
    acts = batch["acts_mask"]
    if acts.sum() > 0:
        per = bce(logits["acts"], batch["acts"], reduction="none").mean(-1)
        loss = loss + (per * acts).sum() / acts.sum()
    return loss


def collate(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    b = len(features)
    t = max(len(f["input_ids"]) for f in features)
    s = max(1, max(len(f["slot_rows"]) for f in features))
    i = max(1, max(len(f["intent_rows"]) for f in features))
    out = {
        "input_ids": torch.zeros(b, t, dtype=torch.long),
        "attention_mask": torch.zeros(b, t, dtype=torch.long),
        "slot_rows": torch.zeros(b, s, dtype=torch.long),
        "slot_mask": torch.zeros(b, s, dtype=torch.bool),
        "intent_rows": torch.zeros(b, i, dtype=torch.long),
        "intent_mask": torch.zeros(b, 1 + i, dtype=torch.bool),
    }
    labelled = all("tags" in f for f in features)
    if labelled:
        out["tags"] = torch.full((b, t), IGNORE, dtype=torch.long)
        out["requested"] = torch.zeros(b, s)
        out["specials"] = torch.zeros(b, s, len(SPECIAL_VALUES))
    for k, f in enumerate(features):
        n, m, q = len(f["input_ids"]), len(f["slot_rows"]), len(f["intent_rows"])
        out["input_ids"][k, :n] = torch.tensor(f["input_ids"])
        out["attention_mask"][k, :n] = 1
        out["intent_mask"][k, : 1 + q] = True
        if m:
            out["slot_rows"][k, :m] = torch.tensor(f["slot_rows"])
            out["slot_mask"][k, :m] = True
        if q:
            out["intent_rows"][k, :q] = torch.tensor(f["intent_rows"])
        if labelled:
            out["tags"][k, :n] = torch.tensor(f["tags"])
            if m:
                out["requested"][k, :m] = torch.tensor(f["requested"])
                out["specials"][k, :m] = torch.tensor(f["specials"])
    if labelled:
        out["intent"] = torch.tensor([f["intent"] for f in features])
        out["slots_labelled"] = torch.tensor([f["slots_labelled"] for f in features])
        out["acts"] = torch.tensor([f["acts"] for f in features], dtype=torch.float)
        out["acts_mask"] = torch.tensor([f["acts_mask"] for f in features])
    return out
