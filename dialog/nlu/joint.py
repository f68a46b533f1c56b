"""The joint NLU model: one MiniLM pass over "utterance [SEP] context", and heads for

- intent: which intent the user states this turn ("NONE" when none), softmax over labels;
- acts: which user act types the turn holds (AFFIRM, THANK_YOU, ...), multi-label;
- requested: which slots the user asks for, multi-label;
- specials: slot values that are not spans of the utterance (``slot=dontcare``, ``slot=True``), multi-label;
- tags: BIO slot tags on the first sub-token of each word.

Heads without labels for an example (SNIPS has no act types) are masked out of its loss.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from dialog.nlu.crf import CRF, pack_words


@dataclass
class JointConfig:
    intents: list[str]  # index 0 is "NONE"
    slots: list[str]
    acts: list[str] = field(default_factory=list)
    specials: list[str] = field(default_factory=list)  # "slot=value"
    hidden: int = 384
    dropout: float = 0.1
    max_length: int = 96
    lora_rank: int = 16
    lora_alpha: int = 32
    crf: bool = False  # a linear-chain CRF over the word tags
    # intent → the slots tagged with it in training; at inference a word may only get a tag of the
    # predicted intent's slots (intents not listed: any). Empty: no restriction.
    intent_slots: dict[str, list[str]] = field(default_factory=dict)

    @property
    def tags(self) -> list[str]:
        return ["O", *(f"{p}-{s}" for s in self.slots for p in ("B", "I"))]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JointHeads(nn.Module):
    """The heads over the encoder's outputs. Shapes: hidden (B, T, H) → logits per head."""

    def __init__(self, config: JointConfig) -> None:
        super().__init__()
        h = config.hidden
        self.dropout = nn.Dropout(config.dropout)
        self.intent = nn.Linear(h, len(config.intents))
        self.acts = nn.Linear(h, max(1, len(config.acts)))
        self.requested = nn.Linear(h, max(1, len(config.slots)))
        self.specials = nn.Linear(h, max(1, len(config.specials)))
        self.tags = nn.Linear(h, len(config.tags))
        self.crf = CRF(len(config.tags)) if config.crf else None

    def forward(self, hidden: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.dropout(hidden)
        cls = hidden[:, 0]  # (B, H)
        return {
            "intent": self.intent(cls),  # (B, n_intents)
            "acts": self.acts(cls),  # (B, n_acts)
            "requested": self.requested(cls),  # (B, n_slots)
            "specials": self.specials(cls),  # (B, n_specials)
            "tags": self.tags(hidden),  # (B, T, n_tags)
        }


class JointModel(nn.Module):
    def __init__(self, encoder: nn.Module, config: JointConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config
        self.heads = JointHeads(config)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any
    ) -> dict[str, torch.Tensor]:
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask
        ).last_hidden_state  # (B, T, H)
        return self.heads(hidden.float())  # the encoder may run in bfloat16

    def loss(self, logits: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return joint_loss(logits, batch, self.heads.crf)


def joint_loss(
    logits: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], crf: CRF | None = None
) -> torch.Tensor:
    """Sum of the heads' losses; each example's multi-label heads count only where it has labels."""
    loss = nn.functional.cross_entropy(logits["intent"], batch["intent"], ignore_index=-100)
    tags = logits["tags"]
    if crf is not None:
        words = batch["tags"] != -100  # (B, T): the first sub-token of each word
        emissions, mask = pack_words(tags, words)
        gold, _ = pack_words(batch["tags"], words)
        loss = loss + crf.nll(emissions, gold, mask)
    else:
        flat = tags.reshape(-1, tags.shape[-1])
        loss = loss + nn.functional.cross_entropy(flat, batch["tags"].reshape(-1), ignore_index=-100)
    for head in ("acts", "requested", "specials"):
        mask = batch[f"{head}_mask"]  # (B,) 1 where the example has labels for this head
        if mask.sum() == 0:
            continue
        per = nn.functional.binary_cross_entropy_with_logits(
            logits[head], batch[head], reduction="none"
        ).mean(-1)
        loss = loss + (per * mask).sum() / mask.sum()
    return loss


class EnsembleHeads(nn.Module):
    """The members' CRFs averaged: a path's score is the mean of its scores under each member, so
    Viterbi over the mean emissions and the mean transitions finds the path the members agree on best."""

    def __init__(self, crfs: list[CRF | None]) -> None:
        super().__init__()
        self.crf: CRF | None = None
        present = [c for c in crfs if c is not None]
        if present:
            self.crf = CRF(present[0].transitions.shape[0])
            with torch.no_grad():
                for name in ("transitions", "start", "end"):
                    getattr(self.crf, name).copy_(torch.stack([getattr(c, name) for c in present]).mean(0))


class JointEnsemble(nn.Module):
    """Several joint models with the same labels (e.g. trained from different seeds), one prediction:
    the mean of their logits; ``heads.crf`` the mean of their CRFs. For inference only."""

    def __init__(self, members: list[JointModel]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.config = members[0].config
        self.heads = EnsembleHeads([m.heads.crf for m in members])

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any
    ) -> dict[str, torch.Tensor]:
        outs = [m(input_ids=input_ids, attention_mask=attention_mask) for m in self.members]
        return {key: torch.stack([o[key] for o in outs]).mean(0) for key in outs[0]}
