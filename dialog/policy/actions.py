"""The schema-agnostic action space of learned policies: a dozen system moves that mean the same on
every service ("request the next missing required slot", "offer the next result", ...), each turned
into the acts of the service at hand, with a mask of the moves that make no sense in a state.

A policy picks a move; ``ActionSpace.acts`` writes it out. The acts are built by the same pieces as
the form policy's (offers, relaxation, confirmation), so a learned policy and the form differ only in
which move they choose, and the form's choices can be labelled with moves for behaviour cloning.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dialog.backend import Backend
from dialog.common.state import call_turn, canonical_value, last_user_acts, offered_keys
from dialog.infra.lookup import constraints, ready
from dialog.policy.form import MAX_OPTIONS, FormPolicy
from dialog.schema import Intent, Schema
from dialog.types import (
    ActType,
    BackendResult,
    DialogueAct,
    DialogueState,
    FrameState,
    ServiceCall,
    Speaker,
)

A = ActType
MAX_REQUESTS = 3  # slots asked in one turn by REQUEST_ALL


class Move(enum.IntEnum):
    REQUEST_NEXT = 0  # ask for the first missing required slot (or again, with options, for an invalid value)
    REQUEST_ALL = 1  # ask for every missing required slot at once (up to three)
    CONFIRM_HEARD = 2  # read back the values heard in the user's last turn
    OFFER = 3  # offer the next search result not offered yet (with the count the first time)
    NOTIFY_FAILURE = 4  # no result, or the transaction failed: say so and suggest a change
    CONFIRM_BOOKING = 5  # read back every parameter of the transaction before executing it
    NOTIFY_SUCCESS = 6  # the transaction went through
    OFFER_INTENT = 7  # offer the follow-up transaction (book the restaurant found)
    INFORM = 8  # answer what the user asked, nothing else
    REQ_MORE = 9  # anything else?
    GOODBYE = 10
    CLARIFY = 11  # nothing understood: ask the last question again, or ask to rephrase
    CONFIRM_UNSURE = 12  # read back the value the system is least sure of (not confirmed yet)
    REQUEST_OPTIONS = 13  # ask for the next missing required slot, suggesting values that would match


@dataclass
class Track:
    """What the history says about the slots of one service: how each value was heard, asked for,
    changed and confirmed, and signs of trouble."""

    confidence: dict[str, float] = field(default_factory=dict)  # latest confidence per slot, as heard
    asked: dict[str, int] = field(default_factory=dict)  # system REQUESTs per slot
    changes: dict[str, int] = field(default_factory=dict)  # times a heard value replaced another
    affirmed: dict[str, str] = field(default_factory=dict)  # values the user affirmed at a CONFIRM
    negations: int = 0
    repeats: int = 0  # system turns identical to the one before

    @classmethod
    def of(cls, state: DialogueState, service: str | None) -> Track:
        t = cls()
        history = state.history
        seen: dict[str, str] = {}
        previous: tuple[DialogueAct, ...] | None = None
        for i, turn in enumerate(history):
            own = [a for a in turn.acts if a.service in (None, service)]
            if turn.speaker is Speaker.SYSTEM:
                if previous is not None and turn.acts and turn.acts == previous:
                    t.repeats += 1
                previous = turn.acts
                for a in own:
                    if a.act is A.REQUEST and a.slot:
                        t.asked[a.slot] = t.asked.get(a.slot, 0) + 1
                kinds = {a.act for a in history[i + 1].acts} if i + 1 < len(history) else set()
                if A.AFFIRM in kinds and A.NEGATE not in kinds:
                    for a in own:
                        if a.act is A.CONFIRM and a.slot and a.values:
                            t.affirmed[a.slot] = a.values[0]
                continue
            for a in own:
                t.negations += a.act is A.NEGATE
                if a.act is A.INFORM and a.slot and a.values:
                    t.confidence[a.slot] = a.confidence
                    if a.slot in seen and seen[a.slot] != a.values[0]:
                        t.changes[a.slot] = t.changes.get(a.slot, 0) + 1
                    seen[a.slot] = a.values[0]
        return t


@dataclass
class Situation:
    """What the moves and the features need to know about a state, computed once per turn."""

    state: DialogueState
    user: tuple[DialogueAct, ...]
    schema: Schema | None = None
    frame: FrameState = field(default_factory=FrameState)
    intent: Intent | None = None
    result: BackendResult | None = None
    missing: list[str] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)
    fresh: list[Mapping[str, str]] = field(default_factory=list)
    answers: list[DialogueAct] = field(default_factory=list)
    heard: list[DialogueAct] = field(default_factory=list)  # INFORMs of the last user turn, tracked
    invalid: list[DialogueAct] = field(default_factory=list)  # categorical values the schema refuses
    tx_now: bool = False  # a transaction for the current parameters was executed this turn
    tx_done: bool = False  # ... and earlier, successfully
    track: Track = field(default_factory=Track)
    unsure: list[tuple[float, str]] = field(default_factory=list)  # unconfirmed values, least sure first
    options: list[str] = field(default_factory=list)  # values to suggest for the next missing slot

    @property
    def service(self) -> str | None:
        return self.schema.service if self.schema is not None else None


class ActionSpace:
    """Moves → acts for any schema, and which moves are possible in a state."""

    n = len(Move)

    def __init__(self, schemas: Sequence[Schema], backends: Mapping[str, Backend] | None = None) -> None:
        self.form = FormPolicy(schemas, backends)
        self.schemas = self.form.schemas

    def situation(self, state: DialogueState) -> Situation:
        user = last_user_acts(state)
        s = Situation(state, user)
        service = state.active_service
        if service not in self.schemas:
            return s
        s.schema = schema = self.schemas[service]
        s.frame = frame = state.frame(service)
        if frame.active_intent not in schema.intent_names:
            return s
        s.intent = intent = schema.intent(frame.active_intent)
        result = state.backend.get(service)
        s.result = result if result is not None and result.call.method == intent.name else None
        s.missing = [x for x in intent.required_slots if not frame.slot_values.get(x)]
        s.answers = self.form._answer_requests(state, schema, frame, s.result)
        s.invalid = self.form._reask_invalid(schema, frame, user)
        s.heard = [
            DialogueAct(A.CONFIRM, a.slot, frame.slot_values[a.slot][:1], service)
            for a in user
            if a.act is A.INFORM
            and a.slot
            and a.service in (None, service)
            and frame.slot_values.get(a.slot)
            and a.slot in schema.slot_names
            and canonical_value(schema, a.slot, a.values[0] if a.values else "") is not None
        ]
        s.heard = list(dict.fromkeys(s.heard))
        if s.result is not None and not intent.transactional:
            key = schema.key_slot(intent.name)
            s.offered = offered_keys(state, service, key, call_turn(state, s.result)) if key else []
            s.fresh = [r for r in s.result.rows if key is None or r.get(key) not in s.offered]
        if s.result is not None and intent.transactional:
            current = s.result.call == ServiceCall(intent.name, constraints(intent, frame))
            s.tx_now = current and call_turn(state, s.result) is None
            s.tx_done = current and s.result.success and not s.tx_now
        s.track = Track.of(state, service)
        given = constraints(intent, frame)
        s.unsure = sorted(
            (s.track.confidence.get(slot, 1.0), slot)
            for slot, value in given.items()
            if s.track.affirmed.get(slot) != value and slot in s.track.confidence
        )
        if s.missing:
            s.options = self._options(schema, intent, s.missing[0], given)
        return s

    def _options(self, schema: Schema, intent: Intent, slot: str, given: Mapping[str, str]) -> list[str]:
        """Up to three values of ``slot`` to suggest: the schema's, or the backend's that match the rest."""
        spec = schema.slot(slot)
        if spec.categorical:
            return list(spec.values[:MAX_OPTIONS])
        backend = self.form.backends.get(schema.service)
        if backend is None or intent.table is None or slot not in backend.columns(intent.table):
            return []
        return list(backend.distinct(intent.table, slot, dict(given))[:MAX_OPTIONS])

    # --- masks ------------------------------------------------------------------------------

    def mask(self, s: Situation) -> list[bool]:
        ok = [False] * self.n
        ok[Move.GOODBYE] = True
        ok[Move.REQ_MORE] = True
        ok[Move.CLARIFY] = True
        intent = s.intent
        if intent is None:
            return ok
        ok[Move.REQUEST_NEXT] = bool(s.missing or s.invalid)
        ok[Move.REQUEST_ALL] = len(s.missing) >= 2
        ok[Move.CONFIRM_HEARD] = bool(s.heard)
        ok[Move.CONFIRM_UNSURE] = bool(s.unsure)
        ok[Move.REQUEST_OPTIONS] = bool(s.missing and s.options)
        ok[Move.INFORM] = bool(s.answers)
        if intent.transactional:
            executed = s.tx_now or s.tx_done
            ok[Move.CONFIRM_BOOKING] = ready(intent, s.frame) and intent.needs_confirmation and not executed
            ok[Move.NOTIFY_SUCCESS] = s.tx_now and s.result is not None and s.result.success
            ok[Move.NOTIFY_FAILURE] = s.tx_now and s.result is not None and not s.result.success
        elif s.result is not None:
            ok[Move.OFFER] = bool(s.fresh)
            ok[Move.NOTIFY_FAILURE] = not s.fresh
            followups = s.schema.followups(intent.name) if s.schema is not None else []
            ok[Move.OFFER_INTENT] = bool(s.offered) and bool(followups)
        return ok

    # --- acts -------------------------------------------------------------------------------

    def acts(self, s: Situation, move: Move | int) -> tuple[DialogueAct, ...]:
        """The acts of ``move`` in the situation (answers to the user's requests come first)."""
        move = Move(move)
        if move is Move.GOODBYE:
            return (DialogueAct(A.GOODBYE),)
        if move is Move.CLARIFY:
            return self.form._clarify(s.state.last_system_acts)
        service, schema, intent = s.service, s.schema, s.intent
        if schema is None or intent is None or service is None:
            return (DialogueAct(A.REQ_MORE, service=service),)
        out = list(s.answers)
        if move is Move.REQUEST_NEXT:
            out += s.invalid or [DialogueAct(A.REQUEST, x, service=service) for x in s.missing[:1]]
        elif move is Move.REQUEST_ALL:
            out += [DialogueAct(A.REQUEST, x, service=service) for x in s.missing[:MAX_REQUESTS]]
        elif move is Move.CONFIRM_HEARD:
            out += s.heard
        elif move is Move.CONFIRM_UNSURE and s.unsure:
            slot = s.unsure[0][1]
            out.append(DialogueAct(A.CONFIRM, slot, s.frame.slot_values[slot][:1], service))
        elif move is Move.REQUEST_OPTIONS and s.missing:
            out.append(DialogueAct(A.REQUEST, s.missing[0], tuple(s.options), service))
        elif move is Move.OFFER and s.fresh:
            key = schema.key_slot(intent.name)
            out += self.form._offer(schema, intent, s.fresh[0], key)
            if not s.offered and s.result is not None:
                out.append(DialogueAct(A.INFORM_COUNT, "count", (str(s.result.count),), service))
        elif move is Move.NOTIFY_FAILURE:
            out.append(DialogueAct(A.NOTIFY_FAILURE, service=service))
            if s.result is not None and s.result.rows and not intent.transactional:
                out.append(DialogueAct(A.REQ_MORE, service=service))  # every result was turned down
            else:
                out += self.form._relax(s.state, schema, intent, s.frame)
        elif move is Move.CONFIRM_BOOKING:
            params = {**intent.optional_slots, **constraints(intent, s.frame)}
            out += [DialogueAct(A.CONFIRM, x, (v,), service) for x, v in params.items()]
        elif move is Move.NOTIFY_SUCCESS:
            out.append(DialogueAct(A.NOTIFY_SUCCESS, service=service))
        elif move is Move.OFFER_INTENT:
            followups = schema.followups(intent.name)
            if followups:
                out.append(DialogueAct(A.OFFER_INTENT, "intent", (followups[0].name,), service))
        elif move is Move.REQ_MORE or not out:
            out.append(DialogueAct(A.REQ_MORE, service=service))
        return tuple(out)

    def label(self, s: Situation, acts: Sequence[DialogueAct]) -> int | None:
        """The possible move that writes exactly ``acts`` (the form's choice), if one does."""
        wanted = sorted((a.act.value, a.slot or "", a.values) for a in acts)
        for move, ok in zip(Move, self.mask(s), strict=True):
            if ok and sorted((a.act.value, a.slot or "", a.values) for a in self.acts(s, move)) == wanted:
                return int(move)
        return None


MOVE_NAMES = [m.name.lower() for m in Move]
