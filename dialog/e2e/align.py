"""Aligning a new service's slot and intent names with the names the model was trained on.

A SimpleTOD model learns what to write under a slot name from the services it was trained on: it
knows Restaurants_1's ``cuisine``, ``city`` and ``party_size``, and reads Restaurants_2's ``category``,
``location`` and ``number_of_seats`` as the unrelated names they are (``category`` is an event type in
Events_1). Before the model meets a service it was not trained on, each of its slots is matched, by
the MiniLM embedding of its name and description, with a slot of the most similar trained service; the
model then reads and writes the trained name, and the agent and evaluator read the belief back under
the service's own names. A slot with no close counterpart keeps its own name (the model copies it from
the services text, as before). Its intents are matched with the trained service's intents the same way.

Only the names the model sees change: values, categorical value lists and everything the agent does
with the belief (backend lookups, forms, templates) stay in the service's own terms.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from dialog.schema import Intent, Schema, Slot
from dialog.types import Dialogue, DialogueAct, FrameState, Turn

#: The schemas of the services a model was trained on, in SGD schema.json form, beside its weights.
TRAINED_FILE = "trained_schemas.json"
MIN_SLOT = 0.45  # cosine below which a slot keeps its own name
MIN_SERVICE = 0.5  # mean matched cosine below which no trained service is close enough to align with
MISMATCH = 0.15  # taken off the cosine of a categorical and a free-form slot

Embed = Callable[[Sequence[str]], np.ndarray]


def slot_text(slot: Slot) -> str:
    return f"{slot.name.replace('_', ' ')}: {slot.description}"


def intent_text(intent: Intent) -> str:
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", intent.name)
    return f"{' '.join(words).lower()}: {intent.description}"


Names = Mapping[str, Mapping[str, str]]  # service -> its own name -> the trained name


@dataclass(frozen=True)
class Alignment:
    """Per service not trained on: its slot and intent names mapped to trained names, and the trained
    service it was aligned with."""

    slots: Names = field(default_factory=dict)
    intents: Names = field(default_factory=dict)
    partners: Mapping[str, str] = field(default_factory=dict)
    scores: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.slots.values()) or any(self.intents.values())

    @cached_property
    def _back(self) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
        """The slot and intent maps from the model's names back to the schemas' (made once)."""
        inverse = lambda names: {svc: {t: s for s, t in own.items()} for svc, own in names.items()}  # noqa: E731
        return inverse(self.slots), inverse(self.intents)

    def to_model(self, service: str, slot: str) -> str:
        return self.slots.get(service, {}).get(slot, slot)

    def from_model(self, service: str, slot: str) -> str:
        return self._back[0].get(service, {}).get(slot, slot)

    def intent_from_model(self, service: str, intent: str) -> str:
        return self._back[1].get(service, {}).get(intent, intent)

    def schema(self, schema: Schema) -> Schema:
        """``schema`` with its slots and intents under the names the model knows."""
        names, intents = self.slots.get(schema.service, {}), self.intents.get(schema.service, {})
        if not names and not intents:
            return schema
        n = lambda s: names.get(s, s)  # noqa: E731
        slots = [s.model_copy(update={"name": n(s.name)}) for s in schema.slots]
        renamed = [
            i.model_copy(
                update={
                    "name": intents.get(i.name, i.name),
                    "required_slots": [n(s) for s in i.required_slots],
                    "optional_slots": {n(s): v for s, v in i.optional_slots.items()},
                    "result_slots": [n(s) for s in i.result_slots],
                }
            )
            for i in schema.intents
        ]
        return schema.model_copy(update={"slots": slots, "intents": renamed})

    def dialogue(self, dialogue: Dialogue, back: bool = False) -> Dialogue:
        """``dialogue`` (acts, states, calls) in the model's names, or, with ``back``, in the schemas'."""
        from dialog.data.sgd import rename_dialogue

        if not self:
            return dialogue
        if back:
            return rename_dialogue(dialogue, {}, *self._back)
        slots = {k: dict(v) for k, v in self.slots.items()}
        return rename_dialogue(dialogue, {}, slots, {k: dict(v) for k, v in self.intents.items()})

    def turns(self, turns: Sequence[Turn]) -> tuple[Turn, ...]:
        """``turns`` (their acts and states) in the model's names."""
        return self.dialogue(Dialogue("", (), tuple(turns))).turns

    def state(self, service: str, frame: FrameState, back: bool = False) -> FrameState:
        """A service's frame state in the model's names, or, with ``back``, in the schema's."""
        slots, intents = self._back if back else (self.slots, self.intents)
        names, renamed = slots.get(service, {}), intents.get(service, {})
        if not names and not renamed:
            return frame
        n = lambda s: names.get(s, s)  # noqa: E731
        values = {n(s): v for s, v in frame.slot_values.items()}
        intent = renamed.get(frame.active_intent, frame.active_intent)
        return FrameState(intent, tuple(n(s) for s in frame.requested_slots), values)

    def act(self, act: DialogueAct) -> DialogueAct:
        """A system act in the model's names."""
        service = act.service or ""
        if act.slot == "intent":
            intents = self.intents.get(service, {})
            return replace(act, values=tuple(intents.get(v, v) for v in act.values))
        if not act.slot:
            return act
        return replace(act, slot=self.to_model(service, act.slot))

    def describe(self) -> dict[str, Any]:
        return {
            svc: {
                "with": self.partners[svc],
                "slots": dict(self.slots.get(svc, {})),
                "intents": dict(self.intents.get(svc, {})),
                "cosine": dict(self.scores.get(svc, {})),
            }
            for svc in self.partners
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
    1), keeping the matches of at least ``min_slot`` that do not clash with a name the service keeps;
    its intents are matched with that service's intents the same way."""
    new = [s for s in schemas if s.service not in {t.service for t in trained}]
    if not new or not trained:
        return Alignment()
    embed = embed or _minilm()
    vectors = {t.service: embed([slot_text(s) for s in t.slots]) for t in trained}
    slots: dict[str, dict[str, str]] = {}
    intents: dict[str, dict[str, str]] = {}
    partners: dict[str, str] = {}
    scores: dict[str, dict[str, float]] = {}
    for schema in new:
        if not schema.slots:
            continue
        own = embed([slot_text(s) for s in schema.slots])
        best: tuple[float, Schema, dict[str, tuple[str, float]]] | None = None
        for other in trained:
            if not other.slots:
                continue
            sim = _similarity(schema.slots, own, other.slots, vectors[other.service])
            score, pairs = _match(schema.slot_names, other.slot_names, sim)
            if best is None or score > best[0]:
                best = (score, other, pairs)
        if best is None or best[0] < min_service:
            continue
        _, other, pairs = best
        sim = _similarity(
            schema.intents,
            embed([intent_text(i) for i in schema.intents]),
            other.intents,
            embed([intent_text(i) for i in other.intents]),
        )
        _, intent_pairs = _match(schema.intent_names, other.intent_names, sim)
        kept_pairs = {
            kind: _kept(names, found, min_slot)
            for kind, names, found in (
                ("slot", schema.slot_names, pairs),
                ("intent", schema.intent_names, intent_pairs),
            )
        }
        if kept_pairs["slot"] or kept_pairs["intent"]:
            slots[schema.service] = {s: t for s, (t, _) in kept_pairs["slot"].items()}
            intents[schema.service] = {s: t for s, (t, _) in kept_pairs["intent"].items()}
            scores[schema.service] = {s: round(c, 3) for m in kept_pairs.values() for s, (_, c) in m.items()}
            partners[schema.service] = other.service
    return Alignment(slots, intents, partners, scores)


def _match(
    own: Sequence[str], theirs: Sequence[str], sim: np.ndarray
) -> tuple[float, dict[str, tuple[str, float]]]:
    """The one-to-one matching of the highest total cosine: its mean over ``own``, and the pairs."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-sim)
    pairs = {own[i]: (theirs[j], float(sim[i, j])) for i, j in zip(rows, cols, strict=True)}
    return float(sim[rows, cols].sum()) / len(own), pairs


def _kept(
    names: Sequence[str], pairs: Mapping[str, tuple[str, float]], least: float
) -> dict[str, tuple[str, float]]:
    """The pairs to rename: close enough, not already the same name, and not onto a name kept."""
    moved = {s: (t, c) for s, (t, c) in pairs.items() if c >= least and s != t}
    kept = set(names) - set(moved)
    return {s: (t, c) for s, (t, c) in moved.items() if t not in kept}


def _similarity(
    own: Sequence[Any], own_vectors: np.ndarray, theirs: Sequence[Any], vectors: np.ndarray
) -> np.ndarray:
    """Cosines of slots (or intents); the same name counts 1, a categorical against a free-form slot less."""
    sim = own_vectors @ vectors.T
    for i, a in enumerate(own):
        for j, b in enumerate(theirs):
            if a.name == b.name:
                sim[i, j] = 1.0
            if getattr(a, "categorical", None) != getattr(b, "categorical", None):
                sim[i, j] -= MISMATCH
    return np.asarray(sim)


def _minilm() -> Embed:
    from dialog.infra.encoder import EmbeddingSimilarity

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
