"""The Transformer NLG's rules of decoding (``Rule`` hooks of dialog/generation/decode.py, called as
``(written, scores) -> scores``): the slot constraint (every placeholder of the acts said exactly once)
and the no-stutter rule. SimpleTOD's schema machines (``dialog.e2e.constrain``) are its rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from dialog.common.delex import placeholder
from dialog.generation.decode import Rule


class SlotConstraint(Rule):
    """A rule that makes each reply say every placeholder of its acts exactly once and
    no other: inside ``[`` only the token paths of the placeholders still due are allowed, ``[`` is
    barred once none is due, and the end of the reply is barred while one is. A finite-state
    machine over token ids, per row of the batch (rows of one item share its placeholders)."""

    def __init__(
        self, tokenizer: Any, expected: Sequence[Sequence[str]], group: int, max_new_tokens: int = 64
    ) -> None:
        self.max_new_tokens = max_new_tokens
        self.open = tokenizer.convert_tokens_to_ids("[")
        self.eos = tokenizer.sep_token_id
        self.group = max(1, group)
        self.paths = [
            {
                slot: tuple(tokenizer(placeholder(slot), add_special_tokens=False)["input_ids"])
                for slot in slots
            }
            for slots in expected
        ]

    def _due(
        self, row: Sequence[int], paths: Mapping[str, tuple[int, ...]]
    ) -> tuple[set[str], tuple[int, ...]]:
        """The placeholders not said yet, and the tokens of the placeholder being written (if any)."""
        said: set[str] = set()
        current: list[int] | None = None
        for token in row:
            if token == self.open:
                current = [token]
            elif current is not None:
                current.append(token)
                for slot, path in paths.items():
                    if tuple(current) == path:
                        said.add(slot)
                        current = None
                        break
                else:
                    if not any(path[: len(current)] == tuple(current) for path in paths.values()):
                        current = None
        return set(paths) - said, tuple(current or ())

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        banned = torch.zeros_like(scores, dtype=torch.bool)
        for r, row in enumerate(input_ids.tolist()):
            paths = self.paths[min(r // self.group, len(self.paths) - 1)]
            due, current = self._due(row[1:], paths)
            if current:
                allowed = {
                    p[len(current)] for s, p in paths.items() if s in due and p[: len(current)] == current
                }
                keep = torch.zeros(scores.shape[1], dtype=torch.bool)
                keep[list(allowed)] = True
                banned[r] = ~keep
                continue
            if not due:
                banned[r, self.open] = True
            else:
                banned[r, self.eos] = True
                # Too few tokens left for what is due: start the next placeholder now.
                if len(row) - 1 + sum(len(paths[s]) for s in due) >= self.max_new_tokens - 1:
                    banned[r] = True
                    banned[r, self.open] = False
        return scores.masked_fill(banned, float("-inf"))


class NoStutter(Rule):
    """A rule against the stutters the guard rejects (see ``degenerate``): no trigram of
    tokens said twice outside placeholders (as ``generate``'s ``no_repeat_ngram_size=3``) and no
    punctuation mark right after another. A row it would leave without a token keeps its scores."""

    MARKS = (".", "?", "!", ",", ";", ":")

    def __init__(self, tokenizer: Any, n: int = 3) -> None:
        self.n = n
        self.open, self.close = tokenizer.convert_tokens_to_ids(["[", "]"])
        self.marks = set(tokenizer.convert_tokens_to_ids(list(self.MARKS)))

    def banned(self, row: Sequence[int]) -> set[int]:
        """The tokens that would make ``row`` (the reply so far, without its start) stutter."""
        out = set(self.marks) if row and row[-1] in self.marks else set()
        plain, inside = [], False
        for token in row:
            inside = (inside or token == self.open) and token != self.close
            plain.append(not inside and token != self.close)
        k = self.n - 1
        if len(row) < k or not all(plain[-k:]):
            return out
        prefix = tuple(row[-k:])
        for i in range(len(row) - k):
            if all(plain[i : i + self.n]) and tuple(row[i : i + k]) == prefix:
                out.add(row[i + k])
        return out

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for r, row in enumerate(input_ids.tolist()):
            banned = self.banned(row[1:])
            if banned:
                kept = scores[r].clone()
                kept[list(banned)] = float("-inf")
                if bool(torch.isfinite(kept).any()):
                    scores[r] = kept
        return scores
