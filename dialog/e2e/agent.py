"""SimpleTODAgent (registry name ``simpletod``): one language model for the whole turn.

The model writes the user's act types and the belief; the agent looks the belief up in the backend
(the same lookup as the pipeline: search when the required slots are filled, execute a transaction
after the user affirms a confirmation) and gives the model the result; the model writes the system
actions, which the agent fills with values from the backend and the belief; the model writes the
delexicalised reply, which the agent fills in (the template NLG answers when a value would be missing
or invented). Each step runs under the schema's finite-state machine unless ``constrain`` is off.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

from dialog.backend import Backend
from dialog.common.delex import delexicalise, lexicalise, slot_errors
from dialog.common.state import current_row, turn_frames
from dialog.common.text import MAX_INPUT_CHARS, tidy
from dialog.e2e.align import Alignment, align
from dialog.e2e.constrain import ActionMachine, ResponseMachine, Vocabulary
from dialog.e2e.format import ACTIONS, DB, RESPONSE, db_text, parse_actions, schema_text, split_target
from dialog.e2e.simpletod import Cursor, SimpleTOD
from dialog.e2e.track import context, write_belief
from dialog.errors import TodError
from dialog.generation import shortlist
from dialog.infra.lookup import BackendLookup
from dialog.nlg.template import TemplateNLG
from dialog.registry import registry
from dialog.schema import Schema
from dialog.types import (
    DONTCARE,
    ActType,
    BackendResult,
    DialogueAct,
    DialogueState,
    FrameState,
    GenerationSettings,
    Reply,
    Row,
    Speaker,
    StageTrace,
    Turn,
)

A = ActType
VALUED = {A.OFFER, A.INFORM, A.CONFIRM, A.INFORM_COUNT, A.OFFER_INTENT}
SLOTTED = {*VALUED, A.REQUEST, A.INQUIRE}  # the system acts that name a slot


class SimpleTODAgent:
    """A sibling of ``PipelineAgent``: ``respond(text, state)`` with the same Reply and trace."""

    def __init__(
        self,
        model: SimpleTOD,
        schemas: Sequence[Schema],
        backends: Mapping[str, Backend],
        constrain: bool = True,
        aligned: bool = True,
    ) -> None:
        self.model = model
        self.schemas = {s.service: s for s in schemas}
        # The model reads and writes a new service's slots under the trained names they match; the
        # belief and actions are read back under the schema's own names (dialog.e2e.align).
        self.alignment = align(schemas, model.trained) if aligned else Alignment()
        seen = [self.alignment.schema(s) for s in schemas]
        self.seen = {s.service: s for s in seen}
        self.vocab = Vocabulary(model.tokenizer, seen)
        self.lookup = BackendLookup(schemas, backends)
        self.template = TemplateNLG(schemas)
        self.constrain = constrain
        self.services = schema_text(seen)
        # Slot names with an underscore, in either naming: never words of a reply.
        names = {n.lower() for schema in (*schemas, *seen) for n in schema.slot_names}
        self._slot_names = {n for n in names if "_" in n}
        # The reply's words: those of the training replies, and of these schemas (their names,
        # descriptions, values and templates; a schema's own words may be said), when listed.
        self.words: frozenset[int] | None = None
        if model.shortlist is not None:
            # (a value's synonyms are read, never said: they stay out)
            said = " ".join(
                s.model_dump_json(exclude={"slots": {"__all__": {"synonyms"}}}) for s in schemas
            ).split()
            self.words = model.shortlist | frozenset(shortlist.target_ids(model.tokenizer, said))
        self.names = {"agent": "simpletod", "model": str(model.meta.get("name", "simpletod"))}

    def respond_acts(self, acts: tuple[DialogueAct, ...], state: DialogueState, text: str = "") -> Reply:
        raise TodError("the simpletod agent reads text: evaluate it with --level text")

    def respond(self, text: str, state: DialogueState, settings: GenerationSettings | None = None) -> Reply:
        text = text[:MAX_INPUT_CHARS]
        trace: list[StageTrace] = []
        system = next((t.utterance for t in reversed(state.history) if t.speaker is Speaker.SYSTEM), "")
        last_user = next((t for t in reversed(state.history) if t.speaker is Speaker.USER), None)
        al = self.alignment
        services = [f.service for f in (last_user.frames if last_user else ())]
        previous = {s: al.state(s, state.frame(s)) for s in services}
        history = al.turns(state.history)  # as it is when nothing is aligned
        ctx = context(self.model, self.vocab, system, text, previous, history, self.services)
        belief = write_belief(self.model, self.vocab, ctx, None, self.constrain)
        frames = {svc: al.state(svc, frame, back=True) for svc, frame in belief.frames.items()}
        trace.append(StageTrace("belief", "simpletod", frames, belief.ms))

        for svc, frame in frames.items():
            state = state.with_frame(svc, _merge(state.frame(svc), frame))
        service = state.active_service
        user_acts = tuple(DialogueAct(kind, service=service) for kind in belief.user_acts)
        state = state.with_turn(Turn(Speaker.USER, text, turn_frames(user_acts, state)))
        start = time.perf_counter()
        state, result = self.lookup.query(state)
        trace.append(StageTrace("backend", "sqlite", result, (time.perf_counter() - start) * 1000))

        start = time.perf_counter()
        db = db_text(result.count if result else None, bool(result and result.transactional))
        tokens = belief.cursor.tokens
        if tokens[-1] != self.vocab.marker[DB]:  # unconstrained: it stopped elsewhere
            tokens = [*tokens[:-1], self.vocab.marker[DB]]
        tokens = [*tokens, *self.vocab.ids(db), self.vocab.marker[ACTIONS]]
        cursor = replace(belief.cursor, tokens=tokens)
        now = al.state(service, state.frame(service)) if service else None
        machine = ActionMachine(self.vocab, service, now) if self.constrain else None
        written = self.model.write(cursor, {self.vocab.marker[RESPONSE], self.vocab.eos}, machine, max_new=60)
        raw = split_target(self.model.decode_text(written.tokens))["user_acts"]
        schema = self.schemas.get(service or "")
        items, invalid = parse_actions(raw, self.seen.get(service or ""))
        svc = service or ""
        own = [
            (act, al.from_model(svc, slot) if slot else slot, al.intent_from_model(svc, i) if i else i)
            for act, slot, i in items
        ]
        acts, dropped = self._fill(own, schema, state)
        ms = (time.perf_counter() - start) * 1000
        trace[0] = replace(trace[0], config={"invalid": belief.invalid})
        config = {"invalid": invalid, "written": raw, "dropped": dropped}
        trace.append(StageTrace("actions", "simpletod", acts, ms, config))

        start = time.perf_counter()
        if dropped:  # the model's reply would follow the actions it wrote, not those kept
            reply, fallback = self.template.generate(acts, state), True
        else:
            reply, fallback = self._reply(acts, state, written.cursor, settings)
        config = {"fallback": fallback, "constrained": self.constrain}
        trace.append(StageTrace("response", "simpletod", reply, (time.perf_counter() - start) * 1000, config))
        state = state.with_turn(Turn(Speaker.SYSTEM, reply, turn_frames(acts, state, result)))
        return Reply(reply, state, tuple(trace), acts)

    def _reply(
        self,
        acts: tuple[DialogueAct, ...],
        state: DialogueState,
        cursor: Cursor,
        settings: GenerationSettings | None,
    ) -> tuple[str, bool]:
        """The model's reply, filled in; the template's when a placeholder would be missing or invented."""
        _, values = delexicalise([self.alignment.act(a) for a in acts])
        due = list(values)
        tokens = cursor.tokens
        if tokens[-1] != self.vocab.marker[RESPONSE]:
            tokens = [*tokens[:-1], self.vocab.marker[RESPONSE]]
        cursor = replace(cursor, tokens=tokens)
        words = self.words | frozenset(tokens) if self.words is not None else None  # and the turn's
        machine = ResponseMachine(self.vocab, due, words) if self.constrain else None
        written = self.model.write(cursor, {self.vocab.eos}, machine, settings, max_new=60)
        text = tidy(self.model.decode_text(written.tokens))
        missing, redundant = slot_errors(text, due)
        literal = [v for a in acts if len(a.values) > 1 for v in a.values]
        # A slot's name said as a word ("at the restaurant_name"): the model lost its way.
        words_said = set(re.findall(r"\w+", re.sub(r"\[[^\]]*\]", " ", text.lower())))
        spelled = self._slot_names & words_said
        if (
            missing
            or redundant
            or spelled
            or not text.strip()
            or any(v.lower() not in text.lower() for v in literal)
        ):
            return self.template.generate(acts, state), True
        return lexicalise(text, values), False

    def _fill(
        self,
        items: Sequence[tuple[ActType, str | None, str | None]],
        schema: Schema | None,
        state: DialogueState,
    ) -> tuple[tuple[DialogueAct, ...], bool]:
        """The written actions with their values: offers and answers from the result being talked
        about, confirmations from the belief, the count from the search; acts without a value dropped
        (and whether any was)."""
        service = schema.service if schema else None
        result = state.backend.get(service or "")
        frame = state.frame(service or "")
        row = current_row(state, schema, result, move_on=True) if schema else None
        out = []
        dropped = False
        for act, slot, intent in items:
            values: tuple[str, ...] = ()
            if act in VALUED and slot is not None:
                values = _value(act, slot, intent, frame, row, result)
                if not values:
                    dropped = True
                    continue
            elif act in SLOTTED and (slot is None or act in VALUED):
                dropped = True
                continue  # an act that needs a slot (and a value) it did not get
            out.append(DialogueAct(act, slot if act in SLOTTED else None, values, service))
        if not out:
            out = [DialogueAct(A.REQ_MORE, service=service)]
        return tuple(dict.fromkeys(out)), dropped


def _merge(old: FrameState, new: FrameState) -> FrameState:
    """The written state, keeping the intent when the model wrote none."""
    intent = new.active_intent if new.active_intent != "NONE" else old.active_intent
    return FrameState(intent, new.requested_slots, new.slot_values)


def _value(
    act: ActType,
    slot: str,
    intent: str | None,
    frame: FrameState,
    row: Row | None,
    result: BackendResult | None,
) -> tuple[str, ...]:
    if act is A.OFFER_INTENT:
        return (intent,) if intent else ()
    if act is A.INFORM_COUNT:
        return (str(result.count),) if result is not None and not result.transactional else ()
    if act in (A.OFFER, A.INFORM) and row is not None and row.get(slot):
        return (str(row[slot]),)
    told = frame.slot_values.get(slot, ())
    if act in (A.CONFIRM, A.INFORM) and told and told[0] != DONTCARE:
        return (told[0],)
    return ()


@registry.register("agent", "simpletod")
def create_simpletod(
    schemas: Sequence[Schema],
    backends: Mapping[str, Backend],
    model: str = "simpletod",
    **_stages: str | None,
) -> SimpleTODAgent:
    """The registry's ``simpletod`` agent: the committed model, for these schemas."""
    return SimpleTODAgent(SimpleTOD.load(model), schemas, backends)
