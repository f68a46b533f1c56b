"""Choosing the next token, shared by the generators' decoding loops (the Transformer NLG, SimpleTOD):
temperature, top-k and top-p filtering, then greedy or sampled picks, from a seeded generator."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dialog.types import GenerationSettings


def filter_logits(logits: torch.Tensor, settings: GenerationSettings) -> torch.Tensor:
    """Logits (rows × vocabulary, or one row) with temperature applied and what top-k / top-p drop
    set to -inf (only when sampling)."""
    if not settings.do_sample:
        return logits
    logits = logits / max(settings.temperature, 1e-5)
    if settings.top_k:
        kth = torch.topk(logits, min(settings.top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if settings.top_p < 1.0:
        probs = torch.softmax(logits, -1)
        ordered, order = torch.sort(probs, descending=True, dim=-1)
        drop = torch.cumsum(ordered, -1) - ordered > settings.top_p
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(-1, order, drop), float("-inf"))
    return logits


def pick(
    logits: torch.Tensor, settings: GenerationSettings, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The next token of each row: the most likely, or a sample of the filtered distribution."""
    if not settings.do_sample:
        return logits.argmax(-1)
    probs = torch.softmax(filter_logits(logits, settings), -1)
    if probs.dim() == 1:
        return torch.multinomial(probs, 1, generator=generator)[0]
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def seeded(settings: GenerationSettings) -> torch.Generator | None:
    return torch.Generator().manual_seed(settings.seed) if settings.seed is not None else None


class Network(nn.Module):
    """A generator's network as the training loop calls it: batch in, output with ``loss`` (on the
    labelled tokens) out. Shared by the Transformer NLG and SimpleTOD."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, **batch: torch.Tensor) -> Any:
        return self.model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
        )
