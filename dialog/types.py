"""The currency between stages: frozen dataclasses in the SGD vocabulary.

Every stage takes and returns these objects; no stage passes bare dicts between stages. Reading and
writing the official SGD dialogue JSON (``Dialogue.from_sgd`` / ``Dialogue.to_sgd``) is lossless for
every field that the SGD files carry, so a tracker's output can be scored by the official scorer.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

JSON = dict[str, Any]


class Speaker(enum.StrEnum):
    USER = "USER"
    SYSTEM = "SYSTEM"


class ActType(enum.StrEnum):
    """Dialogue act types of SGD (user and system acts share INFORM, REQUEST, GOODBYE)."""

    INFORM_INTENT = "INFORM_INTENT"
    NEGATE_INTENT = "NEGATE_INTENT"
    AFFIRM_INTENT = "AFFIRM_INTENT"
    INFORM = "INFORM"
    REQUEST = "REQUEST"
    AFFIRM = "AFFIRM"
    NEGATE = "NEGATE"
    SELECT = "SELECT"
    REQUEST_ALTS = "REQUEST_ALTS"
    THANK_YOU = "THANK_YOU"
    GOODBYE = "GOODBYE"
    CONFIRM = "CONFIRM"
    OFFER = "OFFER"
    NOTIFY_SUCCESS = "NOTIFY_SUCCESS"
    NOTIFY_FAILURE = "NOTIFY_FAILURE"
    INQUIRE = "INQUIRE"
    INFORM_COUNT = "INFORM_COUNT"
    OFFER_INTENT = "OFFER_INTENT"
    REQ_MORE = "REQ_MORE"


USER_ACTS: frozenset[ActType] = frozenset(
    {
        ActType.INFORM_INTENT,
        ActType.NEGATE_INTENT,
        ActType.AFFIRM_INTENT,
        ActType.INFORM,
        ActType.REQUEST,
        ActType.AFFIRM,
        ActType.NEGATE,
        ActType.SELECT,
        ActType.REQUEST_ALTS,
        ActType.THANK_YOU,
        ActType.GOODBYE,
    }
)
SYSTEM_ACTS: frozenset[ActType] = frozenset(
    {
        ActType.INFORM,
        ActType.REQUEST,
        ActType.CONFIRM,
        ActType.OFFER,
        ActType.NOTIFY_SUCCESS,
        ActType.NOTIFY_FAILURE,
        ActType.INQUIRE,
        ActType.INFORM_COUNT,
        ActType.OFFER_INTENT,
        ActType.REQ_MORE,
        ActType.GOODBYE,
    }
)

#: The value SGD uses for "any value is fine".
DONTCARE = "dontcare"


def _frozen_values(mapping: Mapping[str, Sequence[str]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({k: tuple(v) for k, v in mapping.items()})


@dataclass(frozen=True)
class DialogueAct:
    """One dialogue act, e.g. ``INFORM(city=["San Jose"])``.

    ``slot`` is None for acts without a slot (SGD writes ``""``). ``canonical_values`` is None when it
    equals ``values`` (the usual case), so that hand-built acts stay short. ``confidence`` is how sure
    the understanding was of a user act (an NLU's probability, or the simulated error model's score);
    it is not part of an act's identity (two acts that differ only in it are equal).
    """

    act: ActType
    slot: str | None = None
    values: tuple[str, ...] = ()
    service: str | None = None
    canonical_values: tuple[str, ...] | None = None
    confidence: float = field(default=1.0, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "act", ActType(self.act))
        object.__setattr__(self, "values", tuple(self.values))
        if self.canonical_values is not None:
            canonical = tuple(self.canonical_values)
            object.__setattr__(self, "canonical_values", None if canonical == self.values else canonical)

    @property
    def canonical(self) -> tuple[str, ...]:
        return self.values if self.canonical_values is None else self.canonical_values

    def __str__(self) -> str:
        args = "" if self.slot is None else self.slot
        if self.values:
            args += "=" + "|".join(self.values)
        return f"{self.act.value}({args})"

    @classmethod
    def from_sgd(cls, obj: JSON, service: str | None = None) -> DialogueAct:
        return cls(
            act=ActType(obj["act"]),
            slot=obj["slot"] or None,
            values=tuple(obj["values"]),
            service=service,
            canonical_values=tuple(obj["canonical_values"]),
        )

    def to_sgd(self) -> JSON:
        return {
            "act": self.act.value,
            "canonical_values": list(self.canonical),
            "slot": self.slot or "",
            "values": list(self.values),
        }


@dataclass(frozen=True)
class SlotSpan:
    """A character span ``[start, end)`` of a slot value in an utterance."""

    slot: str
    start: int
    end: int

    @classmethod
    def from_sgd(cls, obj: JSON) -> SlotSpan:
        return cls(obj["slot"], obj["start"], obj["exclusive_end"])

    def to_sgd(self) -> JSON:
        return {"exclusive_end": self.end, "slot": self.slot, "start": self.start}


@dataclass(frozen=True)
class FrameState:
    """The dialogue state of one service: active intent, requested slots and slot values."""

    active_intent: str = "NONE"
    requested_slots: tuple[str, ...] = ()
    slot_values: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "requested_slots", tuple(self.requested_slots))
        object.__setattr__(self, "slot_values", _frozen_values(self.slot_values))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrameState):
            return NotImplemented
        return (
            self.active_intent == other.active_intent
            and self.requested_slots == other.requested_slots
            and dict(self.slot_values) == dict(other.slot_values)
        )

    def __hash__(self) -> int:
        return hash((self.active_intent, self.requested_slots, tuple(sorted(self.slot_values.items()))))

    def with_values(self, **values: Sequence[str]) -> FrameState:
        merged = dict(self.slot_values)
        merged.update({k: tuple(v) for k, v in values.items()})
        return replace(self, slot_values=merged)

    @classmethod
    def from_sgd(cls, obj: JSON) -> FrameState:
        return cls(obj["active_intent"], tuple(obj["requested_slots"]), obj["slot_values"])

    def to_sgd(self) -> JSON:
        return {
            "active_intent": self.active_intent,
            "requested_slots": list(self.requested_slots),
            "slot_values": {k: list(v) for k, v in self.slot_values.items()},
        }


@dataclass(frozen=True)
class ServiceCall:
    """A backend call made by the system: the intent (method) and its parameters."""

    method: str
    parameters: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServiceCall):
            return NotImplemented
        return self.method == other.method and dict(self.parameters) == dict(other.parameters)

    def __hash__(self) -> int:
        return hash((self.method, tuple(sorted(self.parameters.items()))))

    @classmethod
    def from_sgd(cls, obj: JSON) -> ServiceCall:
        return cls(obj["method"], obj["parameters"])

    def to_sgd(self) -> JSON:
        return {"method": self.method, "parameters": dict(self.parameters)}


Row = Mapping[str, str]


@dataclass(frozen=True)
class Frame:
    """What one turn says about one service (the SGD ``frames`` entry)."""

    service: str
    actions: tuple[DialogueAct, ...] = ()
    slots: tuple[SlotSpan, ...] = ()
    state: FrameState | None = None  # user turns only
    service_call: ServiceCall | None = None  # system turns that queried the backend
    service_results: tuple[Row, ...] | None = None

    @classmethod
    def from_sgd(cls, obj: JSON) -> Frame:
        service = obj["service"]
        results = obj.get("service_results")
        return cls(
            service=service,
            actions=tuple(DialogueAct.from_sgd(a, service) for a in obj["actions"]),
            slots=tuple(SlotSpan.from_sgd(s) for s in obj["slots"]),
            state=FrameState.from_sgd(obj["state"]) if "state" in obj else None,
            service_call=ServiceCall.from_sgd(obj["service_call"]) if "service_call" in obj else None,
            service_results=None if results is None else tuple(MappingProxyType(dict(r)) for r in results),
        )

    def to_sgd(self) -> JSON:
        out: JSON = {
            "actions": [a.to_sgd() for a in self.actions],
            "service": self.service,
            "slots": [s.to_sgd() for s in self.slots],
        }
        if self.state is not None:
            out["state"] = self.state.to_sgd()
        if self.service_call is not None:
            out["service_call"] = self.service_call.to_sgd()
        if self.service_results is not None:
            out["service_results"] = [dict(r) for r in self.service_results]
        return out


@dataclass(frozen=True)
class Turn:
    speaker: Speaker
    utterance: str
    frames: tuple[Frame, ...] = ()

    @property
    def acts(self) -> tuple[DialogueAct, ...]:
        return tuple(a for f in self.frames for a in f.actions)

    def frame(self, service: str) -> Frame | None:
        return next((f for f in self.frames if f.service == service), None)

    @classmethod
    def from_sgd(cls, obj: JSON) -> Turn:
        return cls(
            speaker=Speaker(obj["speaker"]),
            utterance=obj["utterance"],
            frames=tuple(Frame.from_sgd(f) for f in obj["frames"]),
        )

    def to_sgd(self) -> JSON:
        return {
            "frames": [f.to_sgd() for f in self.frames],
            "speaker": self.speaker.value,
            "utterance": self.utterance,
        }


@dataclass(frozen=True)
class Dialogue:
    dialogue_id: str
    services: tuple[str, ...]
    turns: tuple[Turn, ...]

    @classmethod
    def from_sgd(cls, obj: JSON) -> Dialogue:
        return cls(
            dialogue_id=obj["dialogue_id"],
            services=tuple(obj["services"]),
            turns=tuple(Turn.from_sgd(t) for t in obj["turns"]),
        )

    def to_sgd(self) -> JSON:
        return {
            "dialogue_id": self.dialogue_id,
            "services": list(self.services),
            "turns": [t.to_sgd() for t in self.turns],
        }


@dataclass(frozen=True)
class BackendResult:
    """What the backend returned for the last call: the call, the matching rows, success for execution."""

    call: ServiceCall
    rows: tuple[Row, ...] = ()
    transactional: bool = False
    error: str | None = None  # the backend failed (the rows are empty)

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def success(self) -> bool:
        return bool(self.rows)


@dataclass(frozen=True)
class DialogueState:
    """Everything a stage may read about one conversation; stages return a new one, never mutate.

    ``frames`` holds the tracked state per service, ``active_service`` the service of the last user
    turn, ``backend`` the latest result per service, ``history`` the turns so far.
    """

    frames: Mapping[str, FrameState] = field(default_factory=lambda: MappingProxyType({}))
    active_service: str | None = None
    backend: Mapping[str, BackendResult] = field(default_factory=lambda: MappingProxyType({}))
    history: tuple[Turn, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "frames", MappingProxyType(dict(self.frames)))
        object.__setattr__(self, "backend", MappingProxyType(dict(self.backend)))

    def frame(self, service: str) -> FrameState:
        return self.frames.get(service, FrameState())

    def with_frame(self, service: str, frame: FrameState) -> DialogueState:
        frames = dict(self.frames)
        frames[service] = frame
        return replace(self, frames=frames, active_service=service)

    def with_backend(self, service: str, result: BackendResult) -> DialogueState:
        backend = dict(self.backend)
        backend[service] = result
        return replace(self, backend=backend)

    def with_turn(self, turn: Turn) -> DialogueState:
        return replace(self, history=(*self.history, turn))

    @property
    def last_system_acts(self) -> tuple[DialogueAct, ...]:
        for turn in reversed(self.history):
            if turn.speaker is Speaker.SYSTEM:
                return turn.acts
        return ()


@dataclass(frozen=True)
class SubGoal:
    """One task of a user goal: an intent of a service, its constraints and what to ask for.

    ``alternatives`` are the values to fall back on when a first choice fails (no match, booking
    refused); ``from_offer`` are slots the user takes from what the system offers (e.g. which
    restaurant to book), so they are not constraints.
    """

    service: str
    intent: str
    constraints: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    requests: tuple[str, ...] = ()
    alternatives: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    from_offer: tuple[str, ...] = ()
    transactional: bool = False
    changes: Mapping[int, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    """Changes of mind: at the user's n-th turn of the dialogue (0-based), these new values."""

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "changes", MappingProxyType({int(k): dict(v) for k, v in self.changes.items()})
        )
        object.__setattr__(self, "constraints", MappingProxyType(dict(self.constraints)))
        object.__setattr__(self, "requests", tuple(self.requests))
        object.__setattr__(self, "alternatives", MappingProxyType(dict(self.alternatives)))
        object.__setattr__(self, "from_offer", tuple(self.from_offer))


@dataclass(frozen=True)
class Goal:
    """What a (simulated) user wants, in order: e.g. find a restaurant, then book it."""

    tasks: tuple[SubGoal, ...]

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.service for t in self.tasks))


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding options for the generators (the template NLG has none and ignores them)."""

    num_beams: int = 1
    do_sample: bool = False
    top_k: int = 0
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.0
    logit_bias: tuple[tuple[str, float], ...] = ()  # (word, bias) added to the word's logits
    seed: int | None = None  # sampling from a generator with this seed (reproducible)


@dataclass(frozen=True)
class StageTrace:
    """One stage's output during a turn, for the UI and the evaluator; ``config`` holds the settings
    it ran with (e.g. the generator's decoding options)."""

    stage: str
    name: str
    output: Any
    ms: float
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Reply:
    text: str
    state: DialogueState
    trace: tuple[StageTrace, ...] = ()
    acts: tuple[DialogueAct, ...] = ()
