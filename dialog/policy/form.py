"""The form policy: runs any service's forms straight from its schema, without training.

Each turn it reads the tracked state, the backend's latest result and the history, and decides:
answer requests, re-ask invalid values, ask for the first missing required slot, offer a search
result (the next one on REQUEST_ALTS), offer the follow-up transactional intent, confirm before
executing, report success or failure, offer more help, say goodbye.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dialog.backend import Backend
from dialog.common.state import call_turn, canonical_value, current_row, last_user_acts, offered_keys
from dialog.infra.lookup import constraints, ready
from dialog.registry import registry
from dialog.schema import Intent, Schema
from dialog.types import (
    DONTCARE,
    ActType,
    BackendResult,
    DialogueAct,
    DialogueState,
    FrameState,
    Row,
    ServiceCall,
    Speaker,
)

A = ActType
MAX_OPTIONS = 3


@registry.register("policy", "form")
class FormPolicy:
    """Schema-driven slot filling with confirmation, search offers and mixed initiative."""

    def __init__(self, schemas: Sequence[Schema], backends: Mapping[str, Backend] | None = None) -> None:
        self.schemas = {s.service: s for s in schemas}
        self.backends = backends or {}

    def act(self, state: DialogueState) -> tuple[DialogueAct, ...]:
        user = last_user_acts(state)
        kinds = {a.act for a in user}
        last = state.last_system_acts
        last_kinds = {a.act for a in last}
        if A.GOODBYE in kinds:
            return (DialogueAct(A.GOODBYE),)
        if A.REQ_MORE in last_kinds and kinds & {A.NEGATE, A.THANK_YOU} and A.INFORM_INTENT not in kinds:
            return (DialogueAct(A.GOODBYE),)
        service = state.active_service
        if not user:
            return self._clarify(last)
        if service not in self.schemas:
            return (DialogueAct(A.REQ_MORE),)
        schema = self.schemas[service]
        frame = state.frame(service)
        if frame.active_intent not in schema.intent_names:
            return (DialogueAct(A.REQ_MORE, service=service),)
        intent = schema.intent(frame.active_intent)
        result = state.backend.get(service)
        if result is not None and result.call.method != intent.name:
            result = None
        out = self._answer_requests(state, schema, frame, result)
        out += self._reask_invalid(schema, frame, user)
        if out and any(a.act is A.REQUEST for a in out):
            return tuple(out)
        missing = [s for s in intent.required_slots if not frame.slot_values.get(s)]
        if missing:
            out.append(DialogueAct(A.REQUEST, missing[0], service=service))
        elif intent.transactional:
            out += self._transact(state, schema, intent, frame, result, kinds)
        else:
            out += self._search(state, schema, intent, frame, result, kinds, bool(out))
        return tuple(out) or (DialogueAct(A.REQ_MORE, service=service),)

    # --- pieces ------------------------------------------------------------------------------

    def _clarify(self, last: tuple[DialogueAct, ...]) -> tuple[DialogueAct, ...]:
        """Nothing understood: ask the last question again, or ask the user to rephrase."""
        asked = [a for a in last if a.act is A.REQUEST and a.slot]
        if asked:
            return (asked[0],)
        return (DialogueAct(A.REQUEST),)

    def _answer_requests(
        self, state: DialogueState, schema: Schema, frame: FrameState, result: BackendResult | None
    ) -> list[DialogueAct]:
        row = current_row(state, schema, result)
        out = []
        for slot in frame.requested_slots:
            if row is not None and slot in row:
                out.append(DialogueAct(A.INFORM, slot, (row[slot],), schema.service))
            elif frame.slot_values.get(slot):
                out.append(DialogueAct(A.INFORM, slot, frame.slot_values[slot][:1], schema.service))
        return out

    def _reask_invalid(
        self, schema: Schema, frame: FrameState, user: tuple[DialogueAct, ...]
    ) -> list[DialogueAct]:
        """A categorical value that the schema does not allow: ask again, listing some options."""
        out = []
        for act in user:
            if act.act is not A.INFORM or act.slot not in schema.slot_names or not act.values:
                continue
            if canonical_value(schema, act.slot, act.values[0]) is None:
                options = tuple(schema.slot(act.slot).values[:MAX_OPTIONS])
                out.append(DialogueAct(A.REQUEST, act.slot, options, schema.service))
        return out

    def _search(
        self,
        state: DialogueState,
        schema: Schema,
        intent: Intent,
        frame: FrameState,
        result: BackendResult | None,
        kinds: set[ActType],
        answered: bool,
    ) -> list[DialogueAct]:
        service = schema.service
        if result is None:
            return []
        if not result.rows:
            return [
                DialogueAct(A.NOTIFY_FAILURE, service=service),
                *self._relax(state, schema, intent, frame),
            ]
        key = schema.key_slot(intent.name)
        since = call_turn(state, result)
        offered = offered_keys(state, service, key, since) if key else []
        wants_other = A.REQUEST_ALTS in kinds or (
            A.NEGATE in kinds and any(a.act is A.OFFER for a in state.last_system_acts)
        )
        if not offered or wants_other:
            fresh = [r for r in result.rows if key is None or r.get(key) not in offered]
            if not fresh:
                return [
                    DialogueAct(A.NOTIFY_FAILURE, service=service),
                    DialogueAct(A.REQ_MORE, service=service),
                ]
            out = self._offer(schema, intent, fresh[0], key)
            if not offered:
                out.append(DialogueAct(A.INFORM_COUNT, "count", (str(result.count),), service))
            return out
        if answered:
            return []
        followups = schema.followups(intent.name)
        already = any(
            a.act is A.OFFER_INTENT and a.service == service
            for turn in state.history[since or 0 :]
            for a in turn.acts
        )
        if followups and not already and not kinds & {A.NEGATE_INTENT, A.THANK_YOU}:
            return [DialogueAct(A.OFFER_INTENT, "intent", (followups[0].name,), service)]
        return [DialogueAct(A.REQ_MORE, service=service)]

    def _offer(self, schema: Schema, intent: Intent, row: Row, key: str | None) -> list[DialogueAct]:
        # The result's name, what the user searched by, and what booking it would need.
        needed = [s for f in schema.followups(intent.name) for s in f.required_slots]
        shown = [key] if key else []
        shown += [s for s in [*intent.required_slots, *intent.optional_slots, *needed] if s in row]
        shown = list(dict.fromkeys(shown))
        return [DialogueAct(A.OFFER, s, (row[s],), schema.service) for s in shown if s in row]

    def _relax(
        self, state: DialogueState, schema: Schema, intent: Intent, frame: FrameState
    ) -> list[DialogueAct]:
        """Suggest changing a constraint, the most recently given first, with values that would
        match the others (e.g. the free times of that doctor on that day)."""
        given = constraints(intent, frame)
        key = schema.key_slot(intent.name) if not intent.transactional else None
        recent = [
            a.slot
            for turn in reversed(state.history)
            if turn.speaker is Speaker.USER
            for a in reversed(turn.acts)
            if a.act is A.INFORM and a.slot in given and given[a.slot] != DONTCARE
        ]
        candidates = [s for s in dict.fromkeys([*recent, *given]) if s != key]
        backend = self.backends.get(schema.service)
        if backend is not None and intent.table is not None:
            columns = backend.columns(intent.table)
            for slot in candidates:
                if slot in columns:
                    others = {s: v for s, v in given.items() if s != slot}
                    options = tuple(backend.distinct(intent.table, slot, others)[:MAX_OPTIONS])
                    if options:
                        return [DialogueAct(A.REQUEST, slot, options, schema.service)]
        return [DialogueAct(A.REQUEST, candidates[0], (), schema.service)] if candidates else []

    def _transact(
        self,
        state: DialogueState,
        schema: Schema,
        intent: Intent,
        frame: FrameState,
        result: BackendResult | None,
        kinds: set[ActType],
    ) -> list[DialogueAct]:
        service = schema.service
        params = {**intent.optional_slots, **constraints(intent, frame)}
        current = (
            result is not None
            and result.transactional
            and result.call == ServiceCall(intent.name, constraints(intent, frame))
        )
        if result is not None and current and call_turn(state, result) is None:
            if result.success:
                return [DialogueAct(A.NOTIFY_SUCCESS, service=service)]
            return [
                DialogueAct(A.NOTIFY_FAILURE, service=service),
                *self._relax(state, schema, intent, frame),
            ]
        if result is not None and current and result.success:
            return [DialogueAct(A.REQ_MORE, service=service)]
        if not ready(intent, frame):
            return []
        confirming = any(a.act is A.CONFIRM for a in state.last_system_acts)
        if confirming and A.NEGATE in kinds and A.INFORM not in kinds:
            return [DialogueAct(A.REQUEST, service=service)]  # "what would you like to change?"
        if intent.needs_confirmation:
            return [DialogueAct(A.CONFIRM, s, (v,), service) for s, v in params.items()]
        return [DialogueAct(A.REQ_MORE, service=service)]
