"""The SimpleTOD sequence: one line of text per user turn, context then everything the model writes.

    ([C] services) [S] system utterance [U] user utterance [P] previous belief [O] the system's latest
    offer [Q] user act types [B] belief [D] backend result [A] system actions [R] delexicalised reply [SEP]

The context (up to ``[Q]``) is read; the rest is written, except the backend result, which the agent
puts in after looking the belief up. The belief has one block per service of the turn::

    restaurants_1 reserverestaurant ; city = san jose ; time = 7 pm ; ? phone_number |

and the actions are act types with their slot (values come from the belief and the backend, filled by
the agent), e.g. ``offer restaurant_name ; offer city ; inform_count count ; offer_intent intent =
reserverestaurant``. Names are written as in the schema (lower-cased by the uncased tokenizer) and read
back through the schema, so a service the model never saw is written with its own names.

A model trained with ``schema_context`` also reads the services it may write (``schema_text``): each
service's name, its intents with their required slots, and its other slots, e.g. ``clinicappointment :
finddoctor ( specialty city ) bookappointment ( doctor_name date time patient_name ) ; clinic_name
address |``. With the names in front of it the model can copy them, which is how it meets a service it
was never trained on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dialog.schema import Schema
from dialog.types import DONTCARE, ActType, Dialogue, DialogueAct, FrameState, Speaker, Turn

#: Markers: single tokens of the MiniLM vocabulary, registered as special tokens so they never split.
SYSTEM, USER, PREVIOUS, USER_ACTS, BELIEF, DB, ACTIONS, RESPONSE, OFFERS, SERVICES = (
    f"[unused{i}]" for i in range(1, 11)
)
MARKERS = (SYSTEM, USER, PREVIOUS, USER_ACTS, BELIEF, DB, ACTIONS, RESPONSE, OFFERS, SERVICES)
END_BLOCK, ITEM, EQUALS, REQUESTED = "|", ";", "=", "?"
NO_CALL = "none"
MAX_DB_COUNT = 10  # "10" means ten or more


@dataclass(frozen=True)
class Segments:
    """One turn as the model sees it (text, before tokenization)."""

    system: str
    user: str
    previous: str
    offers: str = ""  # what the system offered last (an accepted offer goes into the belief)
    user_acts: str = ""
    belief: str = ""
    db: str = ""
    actions: str = ""
    response: str = ""
    services: str = ""  # schema_text of the services the model may write (read when trained so)

    def context(self) -> str:
        return (
            f"{SERVICES} {self.services} {SYSTEM} {self.system} {USER} {self.user} "
            f"{PREVIOUS} {self.previous} {OFFERS} {self.offers} {USER_ACTS}"
        )

    def target(self) -> str:
        return (
            f"{self.user_acts} {BELIEF} {self.belief} {DB} {self.db} {ACTIONS} {self.actions} "
            f"{RESPONSE} {self.response}"
        )


# --- writing -------------------------------------------------------------------------------------


def name(text: str) -> str:
    return text.lower()


def belief_text(frames: Mapping[str, FrameState], context: str = "") -> str:
    """Blocks of the given services' states; of several variants of a value, the one in ``context``."""
    blocks = []
    lowered = context.lower()
    for service, frame in frames.items():
        items = [f"{name(service)} {name(frame.active_intent)}"]
        for slot, values in frame.slot_values.items():
            if values:
                value = next((v for v in values if v.lower() in lowered), values[0])
                items.append(f"{ITEM} {name(slot)} {EQUALS} {value}")
        items += [f"{ITEM} {REQUESTED} {name(slot)}" for slot in frame.requested_slots]
        blocks.append(" ".join(items) + f" {END_BLOCK}")
    return " ".join(blocks)


def schema_text(schemas: Iterable[Schema]) -> str:
    """The services as the model reads them: name, intents with their required slots, other slots."""
    blocks = []
    for schema in schemas:
        required = {slot for intent in schema.intents for slot in intent.required_slots}
        intents = " ".join(
            f"{name(i.name)} ( {' '.join(name(s) for s in i.required_slots)} )" for i in schema.intents
        )
        others = " ".join(name(s) for s in schema.slot_names if s not in required)
        blocks.append(f"{name(schema.service)} : {intents} {ITEM} {others} {END_BLOCK}")
    return " ".join(blocks)


def user_acts_text(acts: Iterable[DialogueAct]) -> str:
    return " ".join(dict.fromkeys(name(a.act.value) for a in acts))


def actions_text(acts: Iterable[DialogueAct]) -> str:
    items = []
    for act in acts:
        item = name(act.act.value)
        if act.slot:
            item += f" {name(act.slot)}"
            if act.slot == "intent" and act.values:
                item += f" {EQUALS} {name(act.values[0])}"
        items.append(item)
    return f" {ITEM} ".join(dict.fromkeys(items))


def offers_text(turns: Sequence[Turn]) -> str:
    """The slot values of the latest system turn among ``turns`` that offered or confirmed something."""
    kinds = (ActType.OFFER, ActType.CONFIRM)
    for turn in reversed(turns):
        if turn.speaker is Speaker.SYSTEM:
            offers = [a for a in turn.acts if a.act in kinds and a.slot and a.values]
            if offers:
                return f" {ITEM} ".join(f"{name(a.slot or '')} {EQUALS} {a.values[0]}" for a in offers)
    return ""


def db_text(count: int | None, transactional: bool = False) -> str:
    """``none`` (no call this turn), ``success`` / ``failure`` (a transaction), or the match count."""
    if count is None:
        return NO_CALL
    if transactional:
        return "success" if count else "failure"
    return str(min(count, MAX_DB_COUNT))


# --- reading -------------------------------------------------------------------------------------


@dataclass
class ParsedBelief:
    frames: dict[str, FrameState] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)  # names or values the schemas do not allow


def lookup(names: Iterable[str], written: str) -> str | None:
    """The name among ``names`` that ``written`` spells, ignoring case and spaces (decoded text is
    spaced: ``2019 - 03 - 01``)."""
    wanted = written.replace(" ", "").lower()
    return next((n for n in names if n.replace(" ", "").lower() == wanted), None)


class ValueSource(Protocol):
    def get(self, written: str, default: str | None = None) -> str | None: ...


class _NoSources:
    def get(self, written: str, default: str | None = None) -> str | None:
        return default


def parse_belief(text: str, schemas: Mapping[str, Schema], values: ValueSource | None = None) -> ParsedBelief:
    """The written belief as frame states with the schemas' own names; ``values`` gives a written
    (lower-cased) value's original text. What the schemas do not allow is dropped and listed in
    ``invalid``."""
    out = ParsedBelief()
    source: ValueSource = values if values is not None else _NoSources()
    for block in text.split(END_BLOCK):
        items = [i.strip() for i in block.split(ITEM)]
        head = items[0].split()
        if not head:
            continue
        service = lookup(schemas, " ".join(head[:-1])) if len(head) > 1 else None
        if service is None:
            out.invalid.append(f"service {' '.join(head[:-1]) or head[0]!r}")
            continue
        schema = schemas[service]
        intent = "NONE" if head[-1] == "none" else lookup(schema.intent_names, head[-1])
        if intent is None:
            out.invalid.append(f"intent {head[-1]!r}")
            intent = "NONE"
        slot_values: dict[str, tuple[str, ...]] = {}
        requested: list[str] = []
        for item in items[1:]:
            if item.startswith(REQUESTED):
                slot = lookup(schema.slot_names, item[1:].strip())
                if slot is None:
                    out.invalid.append(f"slot {item[1:].strip()!r}")
                elif slot not in requested:
                    requested.append(slot)
                continue
            if EQUALS not in item:
                if item:
                    out.invalid.append(f"item {item!r}")
                continue
            written_slot, written_value = (p.strip() for p in item.split(EQUALS, 1))
            slot = lookup(schema.slot_names, written_slot)
            if slot is None:
                out.invalid.append(f"slot {written_slot!r}")
                continue
            value = _value(schema, slot, written_value, source)
            if value is None:
                out.invalid.append(f"value {written_value!r} of {slot}")
                continue
            slot_values[slot] = (value,)
        out.frames[service] = FrameState(intent, tuple(requested), slot_values)
    return out


def _value(schema: Schema, slot: str, written: str, values: ValueSource) -> str | None:
    if not written:
        return None
    if written == DONTCARE:
        return DONTCARE
    spec = schema.slot(slot)
    if spec.categorical:
        return lookup(spec.values, written)
    return values.get(written, written)


def parse_actions(
    text: str, schema: Schema | None
) -> tuple[list[tuple[ActType, str | None, str | None]], list[str]]:
    """(act, slot, intent value) triples, and the items that name no act or slot of the schema."""
    out: list[tuple[ActType, str | None, str | None]] = []
    invalid = []
    slots = [*(schema.slot_names if schema else ()), "count", "intent"]
    for item in (i.strip() for i in text.split(ITEM)):
        if not item:
            continue
        words = item.split(EQUALS)[0].split()
        act = lookup([a.value for a in ActType], words[0]) if words else None
        if act is None:
            invalid.append(f"act {item!r}")
            continue
        slot = lookup(slots, " ".join(words[1:])) if len(words) > 1 else None
        if len(words) > 1 and slot is None:
            invalid.append(f"slot {' '.join(words[1:])!r}")
            continue
        value = None
        if slot == "intent" and EQUALS in item and schema is not None:
            value = lookup(schema.intent_names, item.split(EQUALS, 1)[1].strip())
            if value is None:
                invalid.append(f"intent {item.split(EQUALS, 1)[1].strip()!r}")
                continue
        out.append((ActType(act), slot, value))
    return out, invalid


def split_target(text: str) -> dict[str, str]:
    """The written parts of a decoded sequence, by marker (missing parts are empty)."""
    parts = {"user_acts": "", "belief": "", "db": "", "actions": "", "response": ""}
    keys = {USER_ACTS: "user_acts", BELIEF: "belief", DB: "db", ACTIONS: "actions", RESPONSE: "response"}
    current = "user_acts"
    for token in _marker_split(text):
        if token in keys:
            current = keys[token]
        else:
            parts[current] += token
    return {k: " ".join(v.split()) for k, v in parts.items()}


def _marker_split(text: str) -> Iterator[str]:
    rest = text
    while rest:
        at = [(rest.find(m), m) for m in MARKERS if m in rest]
        if not at:
            yield rest
            return
        pos, marker = min(at)
        yield rest[:pos]
        yield marker
        rest = rest[pos + len(marker) :]


# --- SGD turns into sequences ---------------------------------------------------------------------


def sgd_turns(dialogue: Dialogue) -> Iterator[tuple[Turn | None, Turn, Turn | None, dict[str, FrameState]]]:
    """(system turn before, user turn, system turn after, previous user turn's states) of each user turn."""
    previous: dict[str, FrameState] = {}
    before: Turn | None = None
    turns = dialogue.turns
    for i, turn in enumerate(turns):
        if turn.speaker is Speaker.SYSTEM:
            before = turn
            continue
        after = turns[i + 1] if i + 1 < len(turns) else None
        yield before, turn, after, previous
        previous = {f.service: f.state for f in turn.frames if f.state is not None}


def system_db(after: Turn | None, schemas: Mapping[str, Schema]) -> str:
    for frame in after.frames if after else ():
        if frame.service_call is not None:
            schema = schemas.get(frame.service)
            intent = schema.intent(frame.service_call.method) if schema else None
            transactional = bool(intent and intent.transactional)
            return db_text(len(frame.service_results or ()), transactional)
    return NO_CALL


def sgd_segments(dialogue: Dialogue, schemas: Mapping[str, Schema], delexicalise: Any) -> Iterator[Segments]:
    """The training sequences of one SGD dialogue; ``delexicalise(acts, text)`` gives the reply with
    placeholders (or None, and the turn's reply is left out of the sequence)."""
    services = schema_text(schemas[s] for s in dialogue.services if s in schemas)
    for before, turn, after, previous in sgd_turns(dialogue):
        system = before.utterance if before else ""
        prev_text = belief_text(previous)
        offers = offers_text(dialogue.turns[: dialogue.turns.index(turn)])
        states = {f.service: f.state for f in turn.frames if f.state is not None}
        context = f"{system} {turn.utterance} {prev_text} {offers}"
        acts = after.acts if after else ()
        reply = delexicalise(acts, after.utterance) if after else ""
        yield Segments(
            services=services,
            system=system,
            user=turn.utterance,
            previous=prev_text,
            offers=offers,
            user_acts=user_acts_text(turn.acts),
            belief=belief_text(states, context),
            db=system_db(after, schemas),
            actions=actions_text(acts),
            response=reply or "",
        )
