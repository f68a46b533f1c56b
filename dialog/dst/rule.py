"""Rule DST: applies the user's acts to the state (the baseline, and the tracker of act-level runs)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from dialog.backend import Backend
from dialog.common.state import canonical_value
from dialog.registry import registry
from dialog.schema import Schema
from dialog.types import ActType, DialogueAct, DialogueState, FrameState, Speaker


def offered_values(state: DialogueState, service: str) -> dict[str, str]:
    """Slot values of the system's latest offer for ``service`` (the user may accept it later)."""
    for turn in reversed(state.history):
        if turn.speaker is not Speaker.SYSTEM:
            continue
        offer = {
            a.slot: a.values[0]
            for a in turn.acts
            if a.act is ActType.OFFER and a.service == service and a.slot and a.values
        }
        if offer:
            return offer
    return {}


def offered_intent(state: DialogueState, service: str) -> str | None:
    for a in state.last_system_acts:
        if a.act is ActType.OFFER_INTENT and a.service == service and a.values:
            return a.values[0]
    return None


@registry.register("dst", "rule")
class RuleDST:
    """Writes INFORMed values (categorical ones checked against the schema), the active intent, the
    slots requested this turn, and carries offered values over when the user accepts an offer."""

    def __init__(self, schemas: Sequence[Schema], backends: Mapping[str, Backend] | None = None) -> None:
        self.schemas = {s.service: s for s in schemas}

    def update(self, state: DialogueState, text: str, acts: tuple[DialogueAct, ...]) -> DialogueState:
        by_service: dict[str, list[DialogueAct]] = {}
        for act in acts:
            service = act.service or state.active_service or next(iter(self.schemas), None)
            if service in self.schemas:
                by_service.setdefault(service, []).append(act)
        for service, service_acts in by_service.items():
            state = state.with_frame(service, self._apply(state, service, service_acts))
        return state

    def _apply(self, state: DialogueState, service: str, acts: list[DialogueAct]) -> FrameState:
        schema = self.schemas[service]
        frame = state.frame(service)
        intent = frame.active_intent
        values = dict(frame.slot_values)
        requested: list[str] = []
        for act in acts:
            if act.act is ActType.INFORM_INTENT and act.values and act.values[0] in schema.intent_names:
                intent = act.values[0]
            elif act.act is ActType.AFFIRM_INTENT:
                intent = offered_intent(state, service) or intent
            elif act.act is ActType.INFORM and act.slot in schema.slot_names and act.values:
                value = canonical_value(schema, act.slot, act.values[0])
                if value is not None:
                    values[act.slot] = (value,)
            elif act.act is ActType.REQUEST and act.slot in schema.slot_names:
                requested.append(act.slot)
        if accepts_offer(schema, acts, frame.active_intent):
            values = take_offer(schema, intent, values, offered_values(state, service))
        return FrameState(intent, tuple(dict.fromkeys(requested)), values)


def accepts_offer(schema: Schema, acts: Sequence[DialogueAct], intent_before: str) -> bool:
    """Whether the user's acts accept the system's offer: a switch to a transactional intent ("book
    it"), an affirmed intent offer, or a SELECT."""
    for act in acts:
        if act.act in (ActType.AFFIRM_INTENT, ActType.SELECT):
            return True
        new = act.values[0] if act.act is ActType.INFORM_INTENT and act.values else None
        if new in schema.intent_names and new != intent_before and schema.intent(new).transactional:
            return True
    return False


def take_offer(
    schema: Schema,
    intent: str,
    values: Mapping[str, tuple[str, ...]],
    offered: Mapping[str, str],
    unsure: Collection[str] = (),
) -> dict[str, tuple[str, ...]]:
    """``values`` with what ``intent`` needs taken from the accepted offer (which restaurant to book).
    Only required slots still empty, or in ``unsure`` (a value a tracker guessed this turn that the
    user's acts do not back): an offer's optional values (rooms available) are not the user's wish."""
    out = dict(values)
    if intent in schema.intent_names:
        wanted = set(schema.intent(intent).required_slots)
        for slot, value in offered.items():
            if slot in wanted and (slot not in out or slot in unsure):
                out[slot] = (value,)
    return out
