"""Aligning a new service's slot names with the names the model was trained on.

A SimpleTOD model learns what to write under a slot name from the services it was trained on: it
knows Restaurants_1's ``cuisine``, ``city`` and ``party_size``, and reads Restaurants_2's ``category``,
``location`` and ``number_of_seats`` as the unrelated names they are (``category`` is an event type in
Events_1). Before the model meets a service it was not trained on, each of its slots is matched, by
the MiniLM embedding of its name and description, with a slot of the most similar trained service; the
model then reads and writes the trained name, and the agent and evaluator read the belief back under
the service's own names. A slot with no close counterpart keeps its own name (the model copies it from
the services text, as before).

Only the names the model sees change: values, categorical value lists and everything the agent does
with the belief (backend lookups, forms, templates) stay in the service's own terms.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dialog.schema import Schema, Slot
from dialog.types import Dialogue, DialogueAct, FrameState, Turn

#: The schemas of the services a model was trained on, in SGD schema.json form, beside its weights.
TRAINED_FILE = "trained_schemas.json"
MIN_SLOT = 0.45  # cosine below which a slot keeps its own name
MIN_SERVICE = 0.5  # mean matched cosine below which no trained service is close enough to align with
MISMATCH = 0.15  # taken off the cosine of a categorical and a free-form slot

Embed = Callable[[Sequence[str]], np.ndarray]


def slot_text(slot: Slot) -> str:
    return f"{slot.name.replace('_', ' ')}: {slot.description}"


@dataclass(frozen=True)
class Alignment:
    """Per service not trained on: its slot names mapped to trained names, and the service aligned with."""

    slots: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    partners: Mapping[str, str] = field(default_factory=dict)
    scores: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.slots.values())

    def inverse(self) -> dict[str, dict[str, str]]:
        return {svc: {t: s for s, t in names.items()} for svc, names in self.slots.items()}

    def to_model(self, service: str, slot: str) -> str:
        return self.slots.get(service, {}).get(slot, slot)

    def from_model(self, service: str, slot: str) -> str:
        return self.inverse().get(service, {}).get(slot, slot)

    def schema(self, schema: Schema) -> Schema:
        """``schema`` with its slots under the names the model knows."""
        names = self.slots.get(schema.service)
        if not names:
            return schema
        n = lambda s: names.get(s, s)  # noqa: E731
        slots = [s.model_copy(update={"name": n(s.name)}) for s in schema.slots]
        intents = [
            i.model_copy(
                update={
                    "required_slots": [n(s) for s in i.required_slots],
                    "optional_slots": {n(s): v for s, v in i.optional_slots.items()},
                    "result_slots": [n(s) for s in i.result_slots],
                }
            )
            for i in schema.intents
        ]
        return schema.model_copy(update={"slots": slots, "intents": intents})

    def dialogue(self, dialogue: Dialogue, back: bool = False) -> Dialogue:
        """``dialogue`` (acts, states, calls) in the model's names, or, with ``back``, in the schemas'."""
        from dialog.dst.sgd import rename_dialogue

        slots = self.inverse() if back else {k: dict(v) for k, v in self.slots.items()}
        return rename_dialogue(dialogue, {}, slots, {}) if self else dialogue

    def turns(self, turns: Sequence[Turn]) -> tuple[Turn, ...]:
        """``turns`` (their acts and states) in the model's names."""
        return self.dialogue(Dialogue("", (), tuple(turns))).turns

    def state(self, service: str, frame: FrameState, back: bool = False) -> FrameState:
        """A service's frame state in the model's names, or, with ``back``, in the schema's."""
        names = self.inverse().get(service, {}) if back else self.slots.get(service, {})
        if not names:
            return frame
        n = lambda s: names.get(s, s)  # noqa: E731
        values = {n(s): v for s, v in frame.slot_values.items()}
        return FrameState(frame.active_intent, tuple(n(s) for s in frame.requested_slots), values)

    def act(self, act: DialogueAct) -> DialogueAct:
        """A system act in the model's names."""
        if not act.slot or act.slot == "intent":
            return act
        return replace(act, slot=self.to_model(act.service or "", act.slot))

    def describe(self) -> dict[str, Any]:
        return {
            svc: {"with": self.partners[svc], "slots": dict(names), "cosine": dict(self.scores.get(svc, {}))}
            for svc, names in self.slots.items()
        }


def align(
    schemas: Iterable[Schema],
    trained: Sequence[Schema],
    embed: Embed | None = None,
    min_slot: float = MIN_SLOT,
    min_service: float = MIN_SERVICE,
) -> Alignment:
    """Align each of ``schemas`` that is not among ``trained`` (by service name) with the trained
    service whose slots match its own best (one-to-one, by cosine; a shared name counts as a match of
    1), keeping the matches of at least ``min_slot`` that do not clash with a name the service keeps."""
    from scipy.optimize import linear_sum_assignment

    new = [s for s in schemas if s.service not in {t.service for t in trained}]
    if not new or not trained:
        return Alignment()
    embed = embed or _minilm()
    vectors = {t.service: embed([slot_text(s) for s in t.slots]) for t in trained}
    slots: dict[str, dict[str, str]] = {}
    partners: dict[str, str] = {}
    scores: dict[str, dict[str, float]] = {}
    for schema in new:
        if not schema.slots:
            continue
        own = embed([slot_text(s) for s in schema.slots])
        best: tuple[float, Schema, np.ndarray, Any, Any] | None = None
        for other in trained:
            if not other.slots:
                continue
            sim = _similarity(schema, own, other, vectors[other.service])
            rows, cols = linear_sum_assignment(-sim)
            score = float(sim[rows, cols].sum()) / len(schema.slots)
            if best is None or score > best[0]:
                best = (score, other, sim, rows, cols)
        if best is None or best[0] < min_service:
            continue
        _, other, sim, rows, cols = best
        pairs = {
            schema.slots[i].name: (other.slots[j].name, float(sim[i, j]))
            for i, j in zip(rows, cols, strict=True)
            if sim[i, j] >= min_slot and schema.slots[i].name != other.slots[j].name
        }
        kept = set(schema.slot_names) - set(pairs)
        pairs = {s: (t, c) for s, (t, c) in pairs.items() if t not in kept}
        if pairs:
            slots[schema.service] = {s: t for s, (t, _) in pairs.items()}
            scores[schema.service] = {s: round(c, 3) for s, (_, c) in pairs.items()}
            partners[schema.service] = other.service
    return Alignment(slots, partners, scores)


def _similarity(schema: Schema, own: np.ndarray, other: Schema, theirs: np.ndarray) -> np.ndarray:
    sim = own @ theirs.T
    for i, a in enumerate(schema.slots):
        for j, b in enumerate(other.slots):
            if a.name == b.name:
                sim[i, j] = 1.0
            if a.categorical != b.categorical:
                sim[i, j] -= MISMATCH
    return np.asarray(sim)


def _minilm() -> Embed:
    from dialog.eval.coherence import EmbeddingSimilarity

    encoder = EmbeddingSimilarity()
    return lambda texts: encoder.embed(texts).numpy()


def save_trained(schemas: Iterable[Schema], model_dir: Path) -> Path:
    path = Path(model_dir) / TRAINED_FILE
    data = [s.to_sgd() for s in sorted(schemas, key=lambda s: s.service)]
    path.write_text(json.dumps(data, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_trained(model_dir: Path) -> list[Schema]:
    """The trained services recorded beside a model; none (no alignment) for a model without the file."""
    path = Path(model_dir) / TRAINED_FILE
    if not path.is_file():
        return []
    return [Schema.from_sgd(obj) for obj in json.loads(path.read_text(encoding="utf-8"))]
