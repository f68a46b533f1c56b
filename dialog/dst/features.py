"""What the BERT tracker sees of one (user turn, service) pair, and the labels it learns from.

One pass of the encoder reads ``[CLS] system utterance [SEP] user utterance [SEP]``; every schema
element (intent, slot, categorical value) is a text whose embedding is computed once per schema and
cached. A *feature* is a plain dict: the token ids, and per schema element the index of its text in a
:class:`TextTable` plus a few binary facts (was the slot asked for by the system, is it filled, ...).

The state update of a slot is one of four statuses, as in the SGD baseline with FastSGT's carry-over:

- ``none``: unchanged; ``dontcare``; ``active``: a new value read from this turn (a categorical value,
  or a span of the user or system utterance); ``carry``: a value said earlier, by the system for this
  service (an offer two turns back) or in another service's state (the city of the hotel, for the cab).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dialog.common.text import words
from dialog.infra.elements import TextTable, intent_text, slot_text, value_text
from dialog.schema import Schema
from dialog.types import DONTCARE, ActType, DialogueAct, FrameState, SlotSpan

A = ActType
STATUSES = ("none", "dontcare", "active", "carry")
NONE, DONTCARE_STATUS, ACTIVE, CARRY = range(4)
IGNORE = -100
#: Per-slot facts: filled before, categorical, the system's last turn REQUESTed / CONFIRMed / OFFERed /
#: INFORMed it, has carry-over candidates, required / optional in the active intent, the frame is new
#: (first turn of this service), the value so far appears again in the user's words.
SLOT_FEATURES = 11
#: Per carry-over candidate: from this service's system acts / another service's state / another
#: service's system acts, recency, same slot name, value in the user's words.
CANDIDATE_FEATURES = 6
VALUE_FEATURES = 2  # the value's words appear in the user / system utterance


def _norm(text: str) -> str:
    return " " + re.sub(r"[^\w]+", " ", text.casefold()).strip() + " "


def mentions(text_norm: str, value: str) -> bool:
    v = _norm(value)
    return len(v) > 2 and v in text_norm


@dataclass
class Mention:
    """A value said earlier in the dialogue, a carry-over candidate."""

    value: str
    service: str
    slot: str
    kind: int  # 0 this service's system acts, 1 another service's state, 2 another service's system acts
    turn: int


@dataclass
class History:
    """The running facts about one dialogue that the features need (gold or predicted states)."""

    states: dict[str, FrameState] = field(default_factory=dict)
    system_mentions: list[tuple[int, str, str, str]] = field(default_factory=list)  # turn, svc, slot, value
    turn: int = 0

    def add_system_acts(self, acts: Iterable[DialogueAct]) -> None:
        self.turn += 1
        for act in acts:
            if act.slot and act.values and act.service and act.act in (A.INFORM, A.OFFER, A.CONFIRM):
                for v in act.values:
                    self.system_mentions.append((self.turn, act.service, act.slot, v))

    def candidates(self, service: str, slot: str, limit: int) -> list[Mention]:
        """Earlier values, most recent first, one per value text."""
        out: list[Mention] = []
        seen: set[str] = set()

        def add(m: Mention) -> None:
            key = m.value.casefold()
            if key not in seen and m.value != DONTCARE:
                seen.add(key)
                out.append(m)

        for turn, svc, s, v in reversed(self.system_mentions):
            if svc == service and s == slot:
                add(Mention(v, svc, s, 0, turn))
        for svc, state in self.states.items():
            if svc != service:
                for s, values in state.slot_values.items():
                    if values:
                        add(Mention(values[0], svc, s, 1, self.turn))
        for turn, svc, s, v in reversed(self.system_mentions):
            if svc != service:
                add(Mention(v, svc, s, 2, turn))
        return out[:limit]


def token_span(
    offsets: Sequence[tuple[int, int]], sequence_ids: Sequence[int | None], which: int, start: int, end: int
) -> tuple[int, int] | None:
    """The first and last token of the characters [start, end) of sequence ``which``."""
    first = last = None
    for i, ((a, b), seq) in enumerate(zip(offsets, sequence_ids, strict=True)):
        if seq != which or b <= a:
            continue
        if a < end and b > start:
            first = i if first is None else first
            last = i
    return None if first is None or last is None else (first, last)


def find_span(text: str, values: Sequence[str]) -> tuple[int, int] | None:
    """The characters of the first of ``values`` found in ``text`` (case-insensitive, whole words)."""
    folded = text.casefold()
    for value in values:
        v = value.casefold().strip()
        if not v:
            continue
        for m in re.finditer(re.escape(v), folded):
            before = folded[m.start() - 1] if m.start() > 0 else " "
            after = folded[m.end()] if m.end() < len(folded) else " "
            if not before.isalnum() and not after.isalnum():
                return m.start(), m.end()
    return None


@dataclass
class Gold:
    """The labels of one (turn, service): the state after the turn and the spans annotated in it."""

    state: FrameState
    user_spans: Sequence[SlotSpan] = ()
    system_spans: Sequence[SlotSpan] = ()
    user_acts: Sequence[DialogueAct] = ()


class Featurizer:
    """Builds features (and, given gold, labels) for the tracker."""

    def __init__(
        self,
        tokenizer: Any,
        table: TextTable,
        schemas: Mapping[str, Schema],
        max_length: int = 128,
        max_candidates: int = 10,
    ) -> None:
        self.tokenizer = tokenizer
        self.schemas = schemas
        self.table = table
        self.max_length = max_length
        self.max_candidates = max_candidates

    def encode(self, system: str, user: str) -> dict[str, Any]:
        enc = self.tokenizer(
            system or ".",
            user or ".",
            truncation="longest_first",
            max_length=self.max_length,
            return_offsets_mapping=True,
        )
        return {
            "input_ids": list(enc["input_ids"]),
            "offsets": [tuple(o) for o in enc["offset_mapping"]],
            "sequence_ids": enc.sequence_ids(),
        }

    def feature(
        self,
        schema: Schema,
        system: str,
        user: str,
        system_acts: Sequence[DialogueAct],
        history: History,
        encoded: dict[str, Any] | None = None,
        gold: Gold | None = None,
    ) -> dict[str, Any]:
        enc = encoded or self.encode(system, user)
        before = history.states.get(schema.service, FrameState())
        user_n, system_n = _norm(user), _norm(system)
        own_acts = [a for a in system_acts if a.service in (None, schema.service)]
        intents = schema.intent_names
        active = schema.intent(before.active_intent) if before.active_intent in intents else None
        f: dict[str, Any] = {
            **enc,
            "service": schema.service,
            "system": system,
            "user": user,
            "intent_rows": [self.table.index(intent_text(schema, i)) for i in intents],
            # index 0 is NONE; the previous active intent is flagged
            "intent_prev": [float(before.active_intent == i) for i in ["NONE", *intents]],
            "slots": [],
            "slot_rows": [],
            "slot_features": [],
            "categorical": [],
            "value_rows": [],
            "value_features": [],
            "values": [],
            "candidates": [],
            "candidate_rows": [],
            "candidate_features": [],
        }
        for slot in schema.slots:
            name = slot.name
            acts_on = {a.act for a in own_acts if a.slot == name}
            cands = history.candidates(schema.service, name, self.max_candidates)
            filled = before.slot_values.get(name)
            f["slots"].append(name)
            f["slot_rows"].append(self.table.index(slot_text(schema, name)))
            f["categorical"].append(slot.categorical)
            f["slot_features"].append(
                [
                    float(bool(filled)),
                    float(slot.categorical),
                    float(A.REQUEST in acts_on),
                    float(A.CONFIRM in acts_on),
                    float(A.OFFER in acts_on),
                    float(A.INFORM in acts_on),
                    float(bool(cands)),
                    float(active is not None and name in active.required_slots),
                    float(active is not None and name in active.optional_slots),
                    float(not before.slot_values and before.active_intent == "NONE"),
                    float(filled is not None and bool(filled) and mentions(user_n, filled[0])),
                ]
            )
            values = list(slot.values) if slot.categorical else []
            f["values"].append(values)
            f["value_rows"].append([self.table.index(value_text(schema, name, v)) for v in values])
            f["value_features"].append(
                [[float(mentions(user_n, v)), float(mentions(system_n, v))] for v in values]
            )
            f["candidates"].append([m.value for m in cands])
            f["candidate_rows"].append([self.table.index(self._source_text(m)) for m in cands])
            f["candidate_features"].append(
                [
                    [
                        float(m.kind == 0),
                        float(m.kind == 1),
                        float(m.kind == 2),
                        min(1.0, (history.turn - m.turn) / 10),
                        float(m.slot == name),
                        float(mentions(user_n, m.value)),
                    ]
                    for m in cands
                ]
            )
        if gold is not None:
            self._label(f, schema, before, gold)
        return f

    def _source_text(self, m: Mention) -> str:
        schema = self.schemas.get(m.service)
        if schema is not None and m.slot in schema.slot_names:
            return slot_text(schema, m.slot)
        return words(m.slot)

    def _label(self, f: dict[str, Any], schema: Schema, before: FrameState, gold: Gold) -> None:
        after = gold.state
        intents = ["NONE", *schema.intent_names]
        f["intent_label"] = intents.index(after.active_intent) if after.active_intent in intents else 0
        f["requested"] = [float(s in after.requested_slots) for s in f["slots"]]
        status, value_label, starts, ends, carry = [], [], [], [], []
        user_informed = {a.slot for a in gold.user_acts if a.act is A.INFORM}
        for i, name in enumerate(f["slots"]):
            new = after.slot_values.get(name)
            old = before.slot_values.get(name)
            st, vl, s0, s1, cl = NONE, IGNORE, IGNORE, IGNORE, IGNORE
            if new and (not old or tuple(new) != tuple(old)):
                if new[0] == DONTCARE:
                    st = DONTCARE_STATUS
                else:
                    folded = [v.casefold() for v in new]
                    in_candidates = next(
                        (k for k, c in enumerate(f["candidates"][i]) if c.casefold() in folded), None
                    )
                    if f["categorical"][i]:
                        values = [v.casefold() for v in f["values"][i]]
                        said_now = name in user_informed or any(
                            f["value_features"][i][k][0] or f["value_features"][i][k][1]
                            for k, v in enumerate(values)
                            if v in folded
                        )
                        if in_candidates is not None and not said_now:
                            st, cl = CARRY, in_candidates
                        else:
                            st = ACTIVE
                            vl = next((k for k, v in enumerate(values) if v in folded), IGNORE)
                    else:
                        span = self._span(f, name, new, gold)
                        if span is not None:
                            st, (s0, s1) = ACTIVE, span
                        elif in_candidates is not None:
                            st, cl = CARRY, in_candidates
                        else:
                            st = ACTIVE  # the value is nowhere to be read: only the status is learned
            status.append(st)
            value_label.append(vl)
            starts.append(s0)
            ends.append(s1)
            carry.append(cl)
        f.update(status=status, value_label=value_label, start=starts, end=ends, carry_label=carry)

    def _span(
        self, f: dict[str, Any], name: str, values: Sequence[str], gold: Gold
    ) -> tuple[int, int] | None:
        """Token span of the value: the annotated span in the user, then system turn, else a search."""
        for which, spans, text in ((1, gold.user_spans, f["user"]), (0, gold.system_spans, f["system"])):
            for sp in spans:
                if sp.slot == name and text[sp.start : sp.end].casefold() in [v.casefold() for v in values]:
                    found = token_span(f["offsets"], f["sequence_ids"], which, sp.start, sp.end)
                    if found:
                        return found
        for which, text in ((1, f["user"]), (0, f["system"])):
            chars = find_span(text, values)
            if chars:
                found = token_span(f["offsets"], f["sequence_ids"], which, *chars)
                if found:
                    return found
        return None


def span_text(f: Mapping[str, Any], start: int, end: int) -> str | None:
    """The characters of tokens start..end (both in the same utterance)."""
    seq = f["sequence_ids"]
    if start > end or seq[start] is None or seq[start] != seq[end]:
        return None
    text = f["user"] if seq[start] == 1 else f["system"]
    return text[f["offsets"][start][0] : f["offsets"][end][1]] or None
