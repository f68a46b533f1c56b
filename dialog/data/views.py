"""Per-task views of dialogues: typed examples and ``datasets.Dataset`` tables to train on.

- NLU: a user utterance, the system's previous acts, service, intent, act types and BIO slot tags.
- DST: the system and user utterances of a turn, the service, and its state before and after.
- Policy: the tracked state, what the backend returned, and the system's acts.
- NLG: the system's acts with values, and the system utterance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dialog.errors import DataError
from dialog.types import Dialogue, DialogueAct, FrameState, SlotSpan, Speaker

if TYPE_CHECKING:
    from datasets import Dataset

_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Words and punctuation with their character offsets ``(token, start, end)``."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def bio_tags(text: str, spans: Sequence[SlotSpan]) -> tuple[list[str], list[str]]:
    """Tokens of ``text`` and their BIO tags from character spans (a token inside a span is tagged)."""
    tokens = tokenize(text)
    tags = ["O"] * len(tokens)
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        inside = [i for i, (_, start, end) in enumerate(tokens) if start < span.end and end > span.start]
        if not inside:
            raise DataError(f"slot span {span} covers no token of {text!r}")
        for k, i in enumerate(inside):
            if tags[i] == "O":
                tags[i] = ("B-" if k == 0 else "I-") + span.slot
    return [t for t, _, _ in tokens], tags


def _acts_record(acts: Iterable[DialogueAct]) -> list[dict[str, Any]]:
    return [{"act": a.act.value, "slot": a.slot or "", "values": list(a.values)} for a in acts]


def _state_record(state: FrameState) -> dict[str, Any]:
    return {
        "active_intent": state.active_intent,
        "requested_slots": list(state.requested_slots),
        "slot_values": [{"slot": k, "values": list(v)} for k, v in state.slot_values.items()],
    }


@dataclass(frozen=True)
class NLUExample:
    text: str
    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    intent: str
    service: str = ""
    acts: tuple[DialogueAct, ...] = ()
    prev_system_acts: tuple[DialogueAct, ...] = ()
    dialogue_id: str = ""
    turn_index: int = -1

    def to_record(self) -> dict[str, Any]:
        return {
            "dialogue_id": self.dialogue_id,
            "turn_index": self.turn_index,
            "service": self.service,
            "text": self.text,
            "tokens": list(self.tokens),
            "tags": list(self.tags),
            "intent": self.intent,
            "act_types": sorted({a.act.value for a in self.acts}),
            "acts": _acts_record(self.acts),
            "prev_system_acts": _acts_record(self.prev_system_acts),
        }


@dataclass(frozen=True)
class DSTTurn:
    dialogue_id: str
    turn_index: int
    service: str
    system_utterance: str
    user_utterance: str
    system_acts: tuple[DialogueAct, ...]
    state_before: FrameState
    state_after: FrameState

    def to_record(self) -> dict[str, Any]:
        return {
            "dialogue_id": self.dialogue_id,
            "turn_index": self.turn_index,
            "service": self.service,
            "system_utterance": self.system_utterance,
            "user_utterance": self.user_utterance,
            "system_acts": _acts_record(self.system_acts),
            "state_before": _state_record(self.state_before),
            "state_after": _state_record(self.state_after),
        }


@dataclass(frozen=True)
class PolicyTurn:
    dialogue_id: str
    turn_index: int
    service: str
    state: FrameState
    user_acts: tuple[DialogueAct, ...]
    db_method: str
    db_count: int
    system_acts: tuple[DialogueAct, ...]

    def to_record(self) -> dict[str, Any]:
        return {
            "dialogue_id": self.dialogue_id,
            "turn_index": self.turn_index,
            "service": self.service,
            "state": _state_record(self.state),
            "user_acts": _acts_record(self.user_acts),
            "db_method": self.db_method,
            "db_count": self.db_count,
            "system_acts": _acts_record(self.system_acts),
        }


@dataclass(frozen=True)
class NLGPair:
    dialogue_id: str
    turn_index: int
    service: str
    acts: tuple[DialogueAct, ...]
    utterance: str

    def to_record(self) -> dict[str, Any]:
        return {
            "dialogue_id": self.dialogue_id,
            "turn_index": self.turn_index,
            "service": self.service,
            "acts": _acts_record(self.acts),
            "utterance": self.utterance,
        }


def nlu_examples(dialogues: Iterable[Dialogue]) -> Iterator[NLUExample]:
    """One example per frame of every user turn."""
    for dialogue in dialogues:
        prev: tuple[DialogueAct, ...] = ()
        for t, turn in enumerate(dialogue.turns):
            if turn.speaker is Speaker.SYSTEM:
                prev = turn.acts
                continue
            for frame in turn.frames:
                try:
                    tokens, tags = bio_tags(turn.utterance, frame.slots)
                except DataError as exc:
                    raise DataError(f"dialogue {dialogue.dialogue_id} turn {t}: {exc}") from None
                yield NLUExample(
                    text=turn.utterance,
                    tokens=tuple(tokens),
                    tags=tuple(tags),
                    intent=frame.state.active_intent if frame.state else "NONE",
                    service=frame.service,
                    acts=frame.actions,
                    prev_system_acts=tuple(a for a in prev if a.service == frame.service),
                    dialogue_id=dialogue.dialogue_id,
                    turn_index=t,
                )


def dst_turns(dialogues: Iterable[Dialogue]) -> Iterator[DSTTurn]:
    """One example per frame of every user turn, with that service's state before and after."""
    for dialogue in dialogues:
        states: dict[str, FrameState] = {}
        system_utterance, system_acts = "", tuple[DialogueAct, ...]()
        for t, turn in enumerate(dialogue.turns):
            if turn.speaker is Speaker.SYSTEM:
                system_utterance, system_acts = turn.utterance, turn.acts
                continue
            for frame in turn.frames:
                after = frame.state or FrameState()
                yield DSTTurn(
                    dialogue_id=dialogue.dialogue_id,
                    turn_index=t,
                    service=frame.service,
                    system_utterance=system_utterance,
                    user_utterance=turn.utterance,
                    system_acts=tuple(a for a in system_acts if a.service == frame.service),
                    state_before=states.get(frame.service, FrameState()),
                    state_after=after,
                )
                states[frame.service] = after


def policy_turns(dialogues: Iterable[Dialogue]) -> Iterator[PolicyTurn]:
    """One example per frame of every system turn: the state the policy saw and what it did."""
    for dialogue in dialogues:
        states: dict[str, FrameState] = {}
        user_acts: dict[str, tuple[DialogueAct, ...]] = {}
        for t, turn in enumerate(dialogue.turns):
            if turn.speaker is Speaker.USER:
                for frame in turn.frames:
                    states[frame.service] = frame.state or FrameState()
                    user_acts[frame.service] = frame.actions
                continue
            for frame in turn.frames:
                call = frame.service_call
                yield PolicyTurn(
                    dialogue_id=dialogue.dialogue_id,
                    turn_index=t,
                    service=frame.service,
                    state=states.get(frame.service, FrameState()),
                    user_acts=user_acts.get(frame.service, ()),
                    db_method=call.method if call else "",
                    db_count=len(frame.service_results or ()),
                    system_acts=frame.actions,
                )


def nlg_pairs(dialogues: Iterable[Dialogue]) -> Iterator[NLGPair]:
    """One pair per system turn: all its acts (across frames) and its utterance."""
    for dialogue in dialogues:
        for t, turn in enumerate(dialogue.turns):
            if turn.speaker is Speaker.SYSTEM:
                yield NLGPair(
                    dialogue_id=dialogue.dialogue_id,
                    turn_index=t,
                    service=turn.frames[0].service if turn.frames else "",
                    acts=turn.acts,
                    utterance=turn.utterance,
                )


def to_dataset(examples: Iterable[Any]) -> Dataset:
    """A ``datasets.Dataset`` of the examples' records."""
    from datasets import Dataset

    records = [e.to_record() for e in examples]
    if not records:
        raise DataError("no examples to build a dataset from")
    return Dataset.from_list(records)
