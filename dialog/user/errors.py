"""An error model for what the system receives from the user: acts dropped, slots swapped, values
replaced, each at a given rate (the misrecognitions a real NLU or ASR makes).

Like a real recogniser, it also says how sure it is: every INFORM that gets through carries a
confidence, drawn from Beta(5, 1.5) when it is right (mean 0.77) and from Beta(1.5, 3) when it was
corrupted (mean 0.33), so the scores are informative but overlap (as in PyDial's error models). The
confidences come from the model's own random stream, so they do not change the errors drawn.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from dialog.backend import Backend
from dialog.schema import Schema
from dialog.types import ActType, DialogueAct


@dataclass(frozen=True)
class ErrorStats:
    acts: int = 0
    corrupted: int = 0


class ErrorModel:
    """Corrupts each INFORM act with probability ``rate``: drop it, move its value to another slot,
    or replace its value by another value of the same slot."""

    RIGHT = (5.0, 1.5)  # Beta parameters of the confidence of an act that came through right
    WRONG = (1.5, 3.0)  # ... and of one that was corrupted

    def __init__(
        self, rate: float, schemas: Sequence[Schema], backends: Mapping[str, Backend], seed: int = 0
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"error rate must be in [0, 1], got {rate}")
        self.rate = rate
        self.scores = random.Random(f"confidence:{seed}")
        self.schemas = {s.service: s for s in schemas}
        self.values: dict[str, dict[str, list[str]]] = {}
        for schema in schemas:
            vocab = backends[schema.service].slot_values() if schema.service in backends else {}
            self.values[schema.service] = {
                s.name: list(dict.fromkeys([*s.values, *s.examples, *vocab.get(s.name, [])]))
                for s in schema.slots
            }

    def corrupt(self, acts: Sequence[DialogueAct], rng: random.Random) -> tuple[DialogueAct, ...]:
        if self.rate == 0.0:
            return tuple(acts)
        out = []
        for act in acts:
            schema = self.schemas.get(act.service or "")
            if act.act is not ActType.INFORM or schema is None or not act.slot:
                out.append(act)
                continue
            heard = act
            if rng.random() < self.rate:
                kind = rng.choice(("drop", "swap", "value"))
                if kind == "drop":
                    continue
                if kind == "swap":
                    others = [s for s in schema.slot_names if s != act.slot]
                    heard = (
                        DialogueAct(act.act, rng.choice(others), act.values, act.service) if others else act
                    )
                else:
                    pool = [v for v in self.values[schema.service].get(act.slot, []) if v != act.values[0]]
                    heard = DialogueAct(act.act, act.slot, (rng.choice(pool),), act.service) if pool else act
            a, b = self.RIGHT if heard == act else self.WRONG
            out.append(replace(heard, confidence=round(self.scores.betavariate(a, b), 3)))
        return tuple(out)
