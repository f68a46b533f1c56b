"""The tracker's network: one encoder pass per turn, schema elements as cached embeddings, small heads.

Shapes: B examples, T tokens, S slots, I intents (+1 for NONE), V values, C candidates, D = 384.
Schema embeddings come from the frozen pretrained encoder (mean pooling, as the sentence model was
trained), so they are computed once per schema and never change with training; the turn encoder has
LoRA adapters and is trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from dialog.dst.features import CANDIDATE_FEATURES, IGNORE, SLOT_FEATURES, STATUSES, VALUE_FEATURES


@dataclass
class DSTConfig:
    hidden: int = 384
    mlp: int = 256
    dropout: float = 0.1
    max_length: int = 128
    max_candidates: int = 10
    max_span: int = 20  # tokens
    span_hidden: int = 64
    lora_rank: int = 16
    lora_alpha: int = 32

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mlp(inputs: int, hidden: int, out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(), nn.Linear(hidden, out))


class TrackerHeads(nn.Module):
    def __init__(self, config: DSTConfig) -> None:
        super().__init__()
        d, m, p = config.hidden, config.mlp, config.dropout
        self.dropout = nn.Dropout(p)
        self.element = nn.Sequential(nn.Linear(d, d), nn.LayerNorm(d))  # schema embedding → turn space
        self.none_intent = nn.Parameter(torch.zeros(d))
        self.intent = _mlp(3 * d + 1, m, 1, p)
        self.requested = _mlp(3 * d, m, 1, p)
        self.status = _mlp(3 * d + SLOT_FEATURES, m, len(STATUSES), p)
        self.value = _mlp(3 * d + VALUE_FEATURES, m, 1, p)
        self.span_token = nn.Linear(d, config.span_hidden)
        self.span_slot = nn.Linear(d, config.span_hidden)
        self.span_out = nn.Linear(config.span_hidden, 2)
        self.carry = _mlp(3 * d + CANDIDATE_FEATURES, m, 1, p)

    @staticmethod
    def pair(c: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return torch.cat([c.expand_as(e), e, c.expand_as(e) * e], dim=-1)

    def forward(
        self, hidden: torch.Tensor, table: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> dict[str, Any]:
        hidden = self.dropout(hidden)
        cls = hidden[:, 0]  # (B, D)
        elements = self.element(table)  # (N, D)
        b = cls.shape[0]
        out: dict[str, Any] = {}
        # intents: (B, I+1), index 0 NONE
        e_int = elements[batch["intent_rows"]]  # (B, I, D)
        e_int = torch.cat([self.none_intent.expand(b, 1, -1), e_int], dim=1)
        x = torch.cat([self.pair(cls[:, None], e_int), batch["intent_prev"][..., None]], -1)
        out["intent"] = self.intent(x).squeeze(-1).masked_fill(~batch["intent_mask"], -1e4)
        # slots
        e_slot = elements[batch["slot_rows"]]  # (B, S, D)
        pair = self.pair(cls[:, None], e_slot)  # (B, S, 3D)
        out["requested"] = self.requested(pair).squeeze(-1)  # (B, S)
        out["status"] = self.status(torch.cat([pair, batch["slot_features"]], -1))  # (B, S, 4)
        # categorical values: (B, S, V)
        e_val = elements[batch["value_rows"]]  # (B, S, V, D)
        x = torch.cat(
            [self.pair(cls[:, None, None], e_val * e_slot[:, :, None]), batch["value_features"]], -1
        )
        out["value"] = self.value(x).squeeze(-1).masked_fill(~batch["value_mask"], -1e4)
        # spans: (B, S, T) start and end
        tok = self.span_token(hidden)  # (B, T, M)
        slot = self.span_slot(e_slot)  # (B, S, M)
        logits = self.span_out(torch.tanh(tok[:, None] + slot[:, :, None]))  # (B, S, T, 2)
        token_ok = batch["span_tokens"][:, None, :]  # (B, 1, T)
        out["start"] = logits[..., 0].masked_fill(~token_ok, -1e4)
        out["end"] = logits[..., 1].masked_fill(~token_ok, -1e4)
        # carry-over candidates: (B, S, C)
        e_src = elements[batch["candidate_rows"]]  # (B, S, C, D)
        x = torch.cat(
            [self.pair(cls[:, None, None], e_src * e_slot[:, :, None]), batch["candidate_features"]], -1
        )
        out["carry"] = self.carry(x).squeeze(-1).masked_fill(~batch["candidate_mask"], -1e4)
        return out


class TrackerModel(nn.Module):
    def __init__(self, encoder: nn.Module, config: DSTConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config
        self.heads = TrackerHeads(config)

    def forward(self, table: torch.Tensor, **batch: torch.Tensor) -> dict[str, Any]:
        hidden = self.encoder(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        return self.heads(hidden, table, batch)


def _pad(
    rows: Sequence[Sequence[Any]], fill: Any, dtype: torch.dtype, width: int | None = None
) -> torch.Tensor:
    width = max([width or 0, *(len(r) for r in rows)], default=0) or 1
    return torch.tensor([list(r) + [fill] * (width - len(r)) for r in rows], dtype=dtype)


def collate(features: list[dict[str, Any]], labels: bool = True) -> dict[str, torch.Tensor]:
    """Pad a batch. Slot-level lists become (B, S, ...), value/candidate lists (B, S, V|C, ...)."""
    b = len(features)
    out: dict[str, torch.Tensor] = {}
    out["input_ids"] = _pad([f["input_ids"] for f in features], 0, torch.long)
    t = out["input_ids"].shape[1]
    out["attention_mask"] = _pad([[1] * len(f["input_ids"]) for f in features], 0, torch.long)
    out["span_tokens"] = _pad(
        [[s is not None for s in f["sequence_ids"]] for f in features], False, torch.bool, t
    )
    out["intent_rows"] = _pad([f["intent_rows"] for f in features], 0, torch.long)
    out["intent_prev"] = _pad([f["intent_prev"] for f in features], 0.0, torch.float)
    out["intent_mask"] = _pad([[True] * len(f["intent_prev"]) for f in features], False, torch.bool)
    s = max(1, max(len(f["slots"]) for f in features))
    out["slot_rows"] = _pad([f["slot_rows"] for f in features], 0, torch.long, s)
    out["slot_mask"] = _pad([[True] * len(f["slots"]) for f in features], False, torch.bool, s)
    out["slot_features"] = torch.zeros(b, s, SLOT_FEATURES)
    v = max([1, *(len(x) for f in features for x in f["values"])])
    c = max([1, *(len(x) for f in features for x in f["candidates"])])
    out["value_rows"] = torch.zeros(b, s, v, dtype=torch.long)
    out["value_mask"] = torch.zeros(b, s, v, dtype=torch.bool)
    out["value_features"] = torch.zeros(b, s, v, VALUE_FEATURES)
    out["candidate_rows"] = torch.zeros(b, s, c, dtype=torch.long)
    out["candidate_mask"] = torch.zeros(b, s, c, dtype=torch.bool)
    out["candidate_features"] = torch.zeros(b, s, c, CANDIDATE_FEATURES)
    for i, f in enumerate(features):
        n = len(f["slots"])
        if n:
            out["slot_features"][i, :n] = torch.tensor(f["slot_features"])
        for j in range(n):
            k = len(f["value_rows"][j])
            if k:
                out["value_rows"][i, j, :k] = torch.tensor(f["value_rows"][j])
                out["value_mask"][i, j, :k] = True
                out["value_features"][i, j, :k] = torch.tensor(f["value_features"][j])
            k = len(f["candidate_rows"][j])
            if k:
                out["candidate_rows"][i, j, :k] = torch.tensor(f["candidate_rows"][j])
                out["candidate_mask"][i, j, :k] = True
                out["candidate_features"][i, j, :k] = torch.tensor(f["candidate_features"][j])
    if labels and "status" in features[0]:
        out["intent_label"] = torch.tensor([f["intent_label"] for f in features])
        out["requested"] = _pad([f["requested"] for f in features], 0.0, torch.float, s)
        for key in ("status", "value_label", "start", "end", "carry_label"):
            out[key] = _pad([f[key] for f in features], IGNORE, torch.long, s)
    return out


def tracker_loss(logits: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
    ce = nn.functional.cross_entropy
    mask = batch["slot_mask"]
    loss = ce(logits["intent"], batch["intent_label"])
    req = nn.functional.binary_cross_entropy_with_logits(
        logits["requested"], batch["requested"], reduction="none"
    )
    loss = loss + (req * mask).sum() / mask.sum().clamp(min=1)
    status = logits["status"]
    loss = loss + ce(status.reshape(-1, status.shape[-1]), batch["status"].reshape(-1), ignore_index=IGNORE)
    for key, label in (
        ("value", "value_label"),
        ("start", "start"),
        ("end", "end"),
        ("carry", "carry_label"),
    ):
        target = batch[label].reshape(-1)
        if (target != IGNORE).any():
            scores = logits[key]
            loss = loss + ce(scores.reshape(-1, scores.shape[-1]), target, ignore_index=IGNORE)
    return loss
