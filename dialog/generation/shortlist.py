"""A vocabulary shortlist for the Transformer NLG's output layer.

The output layer scores every one of MiniLM's 30,522 word pieces at every step, and that matrix
product is most of a step's time on a CPU. A reply only ever uses the word pieces of SGD's system
turns (about 4,500) and those of its own input (the template rendering, with the placeholders of a
schema it may never have seen), so the layer scores those and gives every other piece ``-inf``.
Output stays the full vocabulary wide: the slot constraint, sampling and beam search are unchanged.
Whether a shortlisted model says the same as the full one is measured (``bench/nlg_speed.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

FILE = "shortlist.json"


class ShortlistHead(nn.Module):
    """Drop-in for the decoder's output layer (an ``nn.Linear``): scores only the shortlisted word pieces and
    those of the current inputs (``use_inputs``); every other piece gets ``-inf``."""

    def __init__(self, full: Any, ids: Sequence[int]) -> None:
        super().__init__()
        self.full_weight = full.weight.detach()  # (V, H), shared with the word embeddings
        self.full_bias = full.bias.detach() if full.bias is not None else torch.zeros(full.out_features)
        self.vocab = full.out_features
        self.ids = torch.tensor(sorted(set(ids)), dtype=torch.long)
        self.static = nn.Linear(full.in_features, len(self.ids))  # quantizable like any linear
        with torch.no_grad():
            self.static.weight.copy_(self.full_weight[self.ids])
            self.static.bias.copy_(self.full_bias[self.ids])
        self._known = torch.zeros(self.vocab, dtype=torch.bool)
        self._known[self.ids] = True
        self.use_inputs(torch.zeros(0, dtype=torch.long))

    def use_inputs(self, input_ids: torch.Tensor) -> None:
        """Also score the pieces of these inputs (a new schema's slot names, words of the input); their
        rows of the output layer are gathered here, once per call, not at every step."""
        seen = torch.unique(input_ids.flatten())
        self.extra = seen[~self._known[seen]]
        self._extra_weight = self.full_weight[self.extra]
        self._extra_bias = self.full_bias[self.extra]

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out = hidden.new_full((*hidden.shape[:-1], self.vocab), float("-inf"))
        out[..., self.ids] = self.static(hidden)
        if len(self.extra):
            out[..., self.extra] = nn.functional.linear(hidden, self._extra_weight, self._extra_bias)
        return out


def output_layer(model: Any) -> nn.Module:
    """The encoder-decoder's output layer (word-piece scores)."""
    return model.decoder.cls.predictions.decoder


def install(model: Any, ids: Sequence[int]) -> ShortlistHead:
    """Replace the encoder-decoder's output layer by a shortlist of ``ids``; returns the new head."""
    head = ShortlistHead(output_layer(model), ids)
    model.decoder.cls.predictions.decoder = head
    return head


def target_ids(tokenizer: object, targets: Iterable[str], batch: int = 4096) -> list[int]:
    """Every word piece (special ones included) of the target replies."""
    chunk: list[str] = []
    seen: set[int] = set()
    for text in targets:
        chunk.append(text)
        if len(chunk) == batch:
            seen.update(i for ids in tokenizer(chunk)["input_ids"] for i in ids)  # type: ignore[operator]
            chunk = []
    if chunk:
        seen.update(i for ids in tokenizer(chunk)["input_ids"] for i in ids)  # type: ignore[operator]
    return sorted(seen)


def write(directory: Path, ids: Sequence[int]) -> None:
    (directory / FILE).write_text(json.dumps(sorted(ids)) + "\n")


def read(directory: Path) -> list[int] | None:
    path = directory / FILE
    if not path.is_file():
        return None
    try:
        ids = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        from dialog.errors import TodError

        raise TodError(f"NLG shortlist damaged: {path}: {exc}") from None
    return [int(i) for i in ids]
