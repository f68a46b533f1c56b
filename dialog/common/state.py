"""Reading a dialogue state, shared by the trackers, the backend lookup, the policies and SimpleTOD:
values as the schema spells them, the turn being answered, and which result row is under discussion
(the offered-row logic)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rapidfuzz import fuzz, process

from dialog.common.values import normalised
from dialog.schema import Schema
from dialog.types import DONTCARE, ActType, BackendResult, DialogueAct, DialogueState, Frame, Row, Speaker

A = ActType


def canonical_value(schema: Schema, slot: str, value: str) -> str | None:
    """The value as the schema spells it, or None when a categorical slot does not allow it or a typed
    slot (date, time, number) cannot read it."""
    spec = schema.slot(slot)
    if value.casefold() == DONTCARE:
        return DONTCARE
    if spec.type != "text":  # a date, time or number as the backend stores it ("half seven" → 19:30)
        typed = normalised(spec.type, value, [*spec.examples, *spec.values])
        if typed is None:
            return None
        value = typed
    named = spec.value_of(value)  # a value or a synonym the schema lists, spelt as the schema does
    if named is not None:
        return named
    if not spec.categorical:
        return value
    by_fold = {v.casefold(): v for v in spec.values}
    by_fold.update({o.casefold(): v for v, others in spec.synonyms.items() for o in others})
    match = process.extractOne(value.casefold(), list(by_fold), scorer=fuzz.ratio, score_cutoff=85)
    return by_fold[match[0]] if match else None


def typed_values(
    schema: Schema, values: Mapping[str, tuple[str, ...]], before: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[str, ...]]:
    """A frame's values with its typed slots' values in stored form ("December 1st" → 2026-12-01); a
    value that cannot be read leaves the slot as it was before the turn."""
    out = {}
    for slot, value in values.items():
        if slot not in schema.slot_names or schema.slot(slot).type == "text" or not value:
            out[slot] = value
            continue
        read = canonical_value(schema, slot, value[0])
        if read is not None:
            out[slot] = (read,)
        elif slot in before:
            out[slot] = before[slot]
    return out


def last_user_acts(state: DialogueState) -> tuple[DialogueAct, ...]:
    """The acts of the latest user turn in the history (the turn being answered)."""
    if state.history and state.history[-1].speaker is Speaker.USER:
        return state.history[-1].acts
    return ()


def call_turn(state: DialogueState, result: BackendResult) -> int | None:
    """Index in the history of the system turn that made ``result``'s call (None: this turn)."""
    for i in range(len(state.history) - 1, -1, -1):
        turn = state.history[i]
        if turn.speaker is Speaker.SYSTEM and any(f.service_call == result.call for f in turn.frames):
            return i
    return None


def offered_keys(state: DialogueState, service: str, key: str, since: int | None) -> list[str]:
    """Values of the key slot that the system has offered since turn ``since``."""
    if since is None:
        return []
    return [
        a.values[0]
        for turn in state.history[since:]
        if turn.speaker is Speaker.SYSTEM
        for a in turn.acts
        if a.act is A.OFFER and a.service == service and a.slot == key and a.values
    ]


def current_row(
    state: DialogueState, schema: Schema, result: BackendResult | None, move_on: bool = False
) -> Row | None:
    """The result the user is talking about: the last offered search row, or the executed row. With
    ``move_on``, the next one to offer when none was offered yet or the user turned the offer down
    (or asked for another)."""
    if result is None or not result.rows:
        return None
    if result.transactional:
        return result.rows[0]
    key = schema.key_slot(result.call.method)
    offered = offered_keys(state, schema.service, key, call_turn(state, result)) if key else []
    if move_on:
        user = {a.act for a in state.history[-1].acts} if state.history else set()
        if not offered or A.REQUEST_ALTS in user or A.NEGATE in user:
            fresh = [r for r in result.rows if key is None or r.get(key) not in offered]
            return fresh[0] if fresh else None
    if not offered or key is None:
        return None
    return next((r for r in result.rows if r.get(key) == offered[-1]), None)


def turn_frames(
    acts: Sequence[DialogueAct], state: DialogueState, result: BackendResult | None = None
) -> tuple[Frame, ...]:
    """The frames of a history turn: acts grouped by service (in order), with the backend call and
    its rows on the active service."""
    services = list(dict.fromkeys(a.service or state.active_service or "" for a in acts))
    if result is not None and state.active_service not in services:
        services.append(state.active_service or "")
    frames = []
    for service in services:
        own = tuple(a for a in acts if (a.service or state.active_service or "") == service)
        with_call = result is not None and service == state.active_service
        frames.append(
            Frame(
                service=service,
                actions=own,
                state=None,
                service_call=result.call if with_call and result is not None else None,
                service_results=result.rows if with_call and result is not None else None,
            )
        )
    return tuple(frames)
