"""The backend step between tracking and policy: search and execute from the tracked state.

A search intent is queried as soon as its required slots are filled (again only when the
constraints change). A transactional intent is executed once its required slots are filled and,
when the schema asks for confirmation, the user has just affirmed the system's CONFIRM. The result
goes into ``state.backend``, where every policy reads it. A backend that raises gives an empty result
marked with the error: the policy then tells the user it could not do it, and the dialogue goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from dialog.backend import Backend
from dialog.common.state import last_user_acts
from dialog.schema import Intent, Schema
from dialog.types import ActType, BackendResult, DialogueState, FrameState, ServiceCall

log = logging.getLogger(__name__)


def constraints(intent: Intent, frame: FrameState) -> dict[str, str]:
    """The call parameters: the tracked values of the intent's required and optional slots."""
    slots = [*intent.required_slots, *intent.optional_slots]
    return {s: frame.slot_values[s][0] for s in slots if frame.slot_values.get(s)}


def ready(intent: Intent, frame: FrameState) -> bool:
    return all(frame.slot_values.get(s) for s in intent.required_slots)


def affirmed_confirmation(state: DialogueState, service: str) -> bool:
    confirmed = any(a.act is ActType.CONFIRM and a.service == service for a in state.last_system_acts)
    kinds = {a.act for a in last_user_acts(state)}
    return (
        confirmed and ActType.AFFIRM in kinds and ActType.NEGATE not in kinds and ActType.INFORM not in kinds
    )


class BackendLookup:
    """Runs the backend call that the tracked state calls for, if any."""

    def __init__(self, schemas: Sequence[Schema], backends: Mapping[str, Backend]) -> None:
        self.schemas = {s.service: s for s in schemas}
        self.backends = backends

    def query(self, state: DialogueState) -> tuple[DialogueState, BackendResult | None]:
        """The state with the new result, and the result when a call was made this turn."""
        service = state.active_service
        if service not in self.schemas or service not in self.backends:
            return state, None
        schema = self.schemas[service]
        frame = state.frame(service)
        if frame.active_intent not in schema.intent_names:
            return state, None
        intent = schema.intent(frame.active_intent)
        if not ready(intent, frame):
            return state, None
        call = ServiceCall(intent.name, constraints(intent, frame))
        previous = state.backend.get(service)
        same = previous is not None and previous.call == call
        if intent.transactional and intent.needs_confirmation:
            if not affirmed_confirmation(state, service):
                return state, None
            if same and previous is not None and previous.success:
                return state, None  # never book the same thing twice
        elif same:
            return state, None
        try:
            result = self.backends[service].call(call)
        except Exception as exc:  # a backend that fails: no result, so the policy says it could not
            log.warning("backend of %s failed on %s: %s", service, call.method, exc)
            result = BackendResult(call, (), intent.transactional, error=f"{type(exc).__name__}: {exc}")
        return state.with_backend(service, result), result
