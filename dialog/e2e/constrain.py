"""Schema-constrained decoding for SimpleTOD: finite-state machines over token ids.

Each written part has its own machine. The belief machine allows, after the user act types, blocks of
``service intent (; slot = value)* (; ? slot)* |`` in which the service, intent and slot names are the
schemas' own, a categorical value is one of the slot's values, and a free-form value is a span of the
context (the utterances and the previous belief) or ``dontcare``. The action machine allows items
``act [slot [= intent]]`` with the system act types and the active service's slots; the response
machine lets the reply say each placeholder that is due exactly once and no other.

A machine's state is immutable (a tuple), ``allowed(state)`` gives the token ids that may come next
(None: any), ``advance(state, token)`` the next state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from dialog.e2e.format import (
    ACTIONS,
    BELIEF,
    DB,
    END_BLOCK,
    EQUALS,
    ITEM,
    REQUESTED,
    RESPONSE,
    name,
)
from dialog.generation.decode import Rule
from dialog.schema import Schema
from dialog.types import DONTCARE, SYSTEM_ACTS, USER_ACTS, ActType, FrameState

MAX_SPAN = 20  # tokens of a free-form value copied from the context


@dataclass(eq=False)
class Trie:
    """Token paths; a node where a path ends is ``terminal`` and carries the ``label`` it spells."""

    children: dict[int, Trie] = field(default_factory=dict)
    terminal: bool = False
    label: str | None = None
    below: set[str] = field(default_factory=set)  # labels of the paths through this node

    def add(self, ids: Sequence[int], label: str | None = None) -> None:
        node = self
        for token in ids:
            if label is not None:
                node.below.add(label)
            node = node.children.setdefault(token, Trie())
        node.terminal = True
        node.label = label if label is not None else node.label
        if label is not None:
            node.below.add(label)

    def add_spans(
        self,
        ids: Sequence[int],
        longest: int = MAX_SPAN,
        inner: frozenset[int] = frozenset(),
        trailing: frozenset[int] = frozenset(),
    ) -> None:
        """Every contiguous span of ``ids`` (up to ``longest`` tokens) that neither starts nor ends
        inside a word (``inner``: the ids of word-continuing pieces, ``##...``) nor ends with one of
        ``trailing`` (a comma after a city is not part of it)."""
        ends = {e for e in range(len(ids)) if (e + 1 >= len(ids) or ids[e + 1] not in inner)}
        ends -= {e for e in ends if ids[e] in trailing}
        for start in range(len(ids)):
            if ids[start] in inner or ids[start] in trailing:
                continue
            last = next(
                (e for e in range(min(len(ids), start + longest) - 1, start - 1, -1) if e in ends), None
            )
            node = self
            for end in range(start, last + 1 if last is not None else start):
                # no path goes past the last place a value may end: no state without a way out
                node = node.children.setdefault(ids[end], Trie())
                node.terminal = node.terminal or end in ends

    def copy(self) -> Trie:
        return Trie(
            {t: c.copy() for t, c in self.children.items()}, self.terminal, self.label, set(self.below)
        )

    def walk(self, ids: Iterable[int]) -> Trie | None:
        node: Trie | None = self
        for token in ids:
            node = node.children.get(token) if node is not None else None
        return node


class Vocabulary:
    """Token paths of the names and markers the machines need, built once per set of schemas."""

    def __init__(self, tokenizer: Any, schemas: Sequence[Schema]) -> None:
        self.tokenizer = tokenizer
        self.schemas = {s.service: s for s in schemas}
        self.marker = {m: tokenizer.convert_tokens_to_ids(m) for m in (BELIEF, DB, ACTIONS, RESPONSE)}
        self.item, self.equals, self.end_block, self.requested = (
            self._one(t) for t in (ITEM, EQUALS, END_BLOCK, REQUESTED)
        )
        self.separators = {self.item, self.end_block, *self.marker.values(), tokenizer.sep_token_id}
        self.inner = frozenset(i for t, i in tokenizer.get_vocab().items() if t.startswith("##"))
        self.trailing = frozenset(self._one(p) for p in (",", "!", ":"))  # never ends a value
        self.eos = tokenizer.sep_token_id
        self.user_acts = self.names(a.value for a in USER_ACTS)
        self.system_acts = self.names(a.value for a in SYSTEM_ACTS)
        self.services = self.names(self.schemas)
        self.intents: dict[str, Trie] = {}
        self.intent_values: dict[str, Trie] = {}
        self.slots: dict[str, Trie] = {}
        self.action_slots: dict[str, Trie] = {}
        self.categorical: dict[tuple[str, str], Trie] = {}
        # A slot's default (an optional slot's value when not said, e.g. date: today) may be in the
        # belief without being said; only that slot's.
        self.defaults: dict[tuple[str, str], list[str]] = {}
        for schema in schemas:
            for intent in schema.intents:
                for optional, value in intent.optional_slots.items():
                    known = self.defaults.setdefault((schema.service, optional), [])
                    if value and value not in known:
                        known.append(value)
        for service, schema in self.schemas.items():
            self.intents[service] = self.names([*schema.intent_names, "NONE"])
            self.intent_values[service] = self.names(schema.intent_names)
            self.slots[service] = self.names(schema.slot_names)
            self.action_slots[service] = self.names([*schema.slot_names, "count", "intent"])
            for slot in schema.slots:
                if slot.categorical:
                    self.categorical[service, slot.name] = self.names([*slot.values, DONTCARE])

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _one(self, text: str) -> int:
        found = self.ids(text)
        if len(found) != 1:
            raise ValueError(f"{text!r} is not one token")
        return found[0]

    def names(self, labels: Iterable[str]) -> Trie:
        root = Trie()
        for label in labels:
            ids = self.ids(name(label))
            if ids:
                root.add(ids, label)
        return root

    def context_values(self, segments: Sequence[Sequence[int]]) -> Trie:
        """Free-form values the belief may write: spans of the context segments (not across the
        belief's separators), and ``dontcare``; a slot's default is added by the machine."""
        root = Trie()
        for segment in segments:
            run: list[int] = []
            for token in [*segment, self.item]:
                if token in self.separators or token == self.equals:
                    root.add_spans(run, MAX_SPAN, self.inner, self.trailing)
                    run = []
                else:
                    run.append(token)
        root.add(self.ids(DONTCARE), DONTCARE)
        return root


# --- the machines -------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    phase: str
    node: Trie
    service: str | None = None
    slot: str | None = None
    blocks: int = 0  # belief blocks written
    said: frozenset[str] = frozenset()  # placeholders said (response)
    spoken: tuple[int, ...] = ()  # the reply's words so far, PLACEHOLDER for each placeholder


PLACEHOLDER = -1


class Machine:
    """What every machine offers: the state after a token, and a mask of the logits."""

    def start(self) -> State:
        raise NotImplementedError

    def allowed(self, state: State) -> set[int] | None:
        raise NotImplementedError

    def advance(self, state: State, token: int) -> State:
        raise NotImplementedError

    def banned(self, state: State) -> set[int]:
        """Tokens barred where ``allowed`` is None (any other token may come)."""
        return set()

    def mask(self, state: State, logits: torch.Tensor) -> torch.Tensor:
        allowed = self.allowed(state)
        if allowed is None:
            banned = self.banned(state)
            if banned:
                logits = logits.clone()
                logits[..., list(banned)] = float("-inf")
            return logits
        keep = torch.full_like(logits, float("-inf"))
        index = list(allowed)
        keep[..., index] = logits[..., index]
        return keep

    def run(self, tokens: Iterable[int]) -> State:
        """The state after ``tokens``; ValueError at the first token the machine does not allow."""
        state = self.start()
        for token in tokens:
            allowed = self.allowed(state)
            if (allowed is not None and token not in allowed) or token in self.banned(state):
                raise ValueError(f"token {token} not allowed in phase {state.phase}")
            state = self.advance(state, token)
        return state


class MachineRule(Rule):
    """A machine as a rule of the decoding loop (dialog/generation/decode.py): one state per row,
    advanced with the row's tokens; the tokens some row may write next are the union of the rows'."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.states = [machine.start()]

    def __call__(self, written: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        rows = [self.machine.mask(state, scores[i]) for i, state in enumerate(self.states)]
        return torch.stack(rows)

    def allowed(self) -> AbstractSet[int] | None:
        if len(self.states) == 1:
            return self.machine.allowed(self.states[0])
        out: set[int] = set()
        for state in self.states:
            allowed = self.machine.allowed(state)
            if allowed is None:
                return None
            out |= allowed
        return out

    def advance(self, rows: Sequence[int], tokens: Sequence[int]) -> None:
        self.states = [self.machine.advance(self.states[r], t) for r, t in zip(rows, tokens, strict=True)]


class BeliefMachine(Machine):
    """User act types, then belief blocks, then the DB marker (where the agent takes over).

    ``services``: the services whose blocks must be written, in this order (as the SGD evaluation
    gives them); None lets the model choose among all the schemas' services."""

    def __init__(self, vocab: Vocabulary, values: Trie, services: Sequence[str] | None = None) -> None:
        self.v = vocab
        self.values = values
        self.forced = list(services) if services is not None else None
        self._forced_roots = [vocab.names([s]) for s in self.forced or ()]
        self._none = Trie()  # the service root once every forced block is written
        self._with_defaults: dict[tuple[str, str], Trie] = {}  # the values, and a slot's default

    def start(self) -> State:
        return State("acts", self.v.user_acts)

    def _services(self, blocks: int) -> Trie:
        if self.forced is None:
            return self.v.services
        return self._forced_roots[blocks] if blocks < len(self._forced_roots) else self._none

    def _value_root(self, service: str | None, slot: str | None) -> Trie:
        key = (service or "", slot or "")
        if key in self.v.categorical:
            return self.v.categorical[key]
        defaults = self.v.defaults.get(key)
        if not defaults:
            return self.values
        if key not in self._with_defaults:
            root = self.values.copy()
            for value in defaults:
                root.add(self.v.ids(value), value)
            self._with_defaults[key] = root
        return self._with_defaults[key]

    def allowed(self, state: State) -> set[int] | None:
        """Names already written in this part (a user act, a service, a slot's value, a requested
        slot) cannot be written again, so the machine also ends every loop."""
        v, node, phase, said = self.v, state.node, state.phase, state.said
        prefix = PREFIX.get(phase, "")
        out = _open(node, said, prefix)
        at_root = node is self._root(state)
        done = node.terminal and node.label is not None and prefix + node.label not in said
        if phase == "acts":
            if at_root or done:
                out.add(v.marker[BELIEF])
            if not at_root and done:
                out |= _open(v.user_acts, said | {prefix + (node.label or "")}, prefix)
        elif phase == "service":
            if done and node.label is not None:
                out |= set(v.intents[node.label].children)
            if at_root and (self.forced is None or state.blocks >= len(self.forced)):
                out.add(v.marker[DB])
        elif phase == "intent" or (phase == "value" and not at_root and node.terminal):
            if node.terminal and not at_root:
                out |= {v.end_block} | ({v.item} if self._items(state, said) else set())
        elif phase == "req":
            if done:
                said = said | {prefix + (node.label or "")}
                out |= {v.end_block} | ({v.item} if self._items(state, said) else set())
        elif phase == "item":
            out = self._items(state, said)
        elif phase == "slot":
            if done:
                out.add(v.equals)
        elif phase == "end":
            return set()
        return out

    def _items(self, state: State, said: frozenset[str]) -> set[int]:
        """What may follow ``;`` in a block: a slot not yet given a value, ``?`` while a slot is
        not yet requested (empty when every slot is written, so ``;`` is not offered)."""
        slots = self.v.slots.get(state.service or "", Trie())
        out = _open(slots, said, PREFIX["slot"])
        if _open(slots, said, PREFIX["req"]):
            out.add(self.v.requested)
        return out

    def _root(self, state: State) -> Trie:
        if state.phase == "acts":
            return self.v.user_acts
        if state.phase == "service":
            return self._services(state.blocks)
        if state.phase == "value":
            return self._value_root(state.service, state.slot)
        if state.phase in ("item", "req", "slot"):
            return self.v.slots.get(state.service or "", Trie())
        return self.v.intents.get(state.service or "", Trie())

    def advance(self, state: State, token: int) -> State:
        v, node, phase = self.v, state.node, state.phase
        child = node.children.get(token)
        if child is None and phase in ("acts", "service", "req") and node.label is not None:
            state = replace(state, said=state.said | {PREFIX[phase] + node.label})  # a name is complete
        if phase == "item":
            if token == v.requested:
                return replace(state, phase="req", node=v.slots[state.service or ""])
            return replace(state, phase="slot", node=_need(child))
        if child is not None:
            return replace(state, node=child)
        if phase == "acts":
            if token == v.marker[BELIEF]:
                return State("service", self._services(0))
            return replace(state, node=_need(v.user_acts.children.get(token)))
        if phase == "service":
            if token == v.marker[DB]:
                return replace(state, phase="end")
            service = _need_label(node)
            return replace(
                state, phase="intent", service=service, node=_need(v.intents[service].children.get(token))
            )
        if phase == "slot" and token == v.equals:
            slot = _need_label(node)
            said = state.said | {PREFIX["slot"] + slot}
            return replace(
                state, phase="value", slot=slot, node=self._value_root(state.service, slot), said=said
            )
        if token == v.item:
            return replace(state, phase="item", slot=None, node=v.slots[state.service or ""])
        if token == v.end_block:  # the block's slots are done; the services written stay
            blocks = state.blocks + 1
            kept = frozenset(x for x in state.said if x.startswith(PREFIX["service"]))
            return State("service", self._services(blocks), blocks=blocks, said=kept)
        raise ValueError(f"token {token} not allowed in phase {phase}")


class ActionMachine(Machine):
    """``act [slot [= intent]]`` items separated by ``;`` (at most ``MAX_ACTIONS``), then the response
    marker.

    With the turn's ``frame`` (the belief after the backend), the schema also bounds what an act may
    name: a request asks for a slot of the active intent that has no value yet, a confirmation names
    a slot of a transactional active intent that has one, once every required slot has one; an act
    left with no slot it may name cannot be written."""

    def __init__(self, vocab: Vocabulary, service: str | None, frame: FrameState | None = None) -> None:
        self.v = vocab
        self.service = service if service in vocab.schemas else None
        self.slots = vocab.action_slots.get(self.service or "", vocab.names(["count", "intent"]))
        self.intents = vocab.intent_values.get(self.service or "", Trie())
        self.slots_of: dict[str, Trie] = {}  # act type: the slots it may name (default: self.slots)
        schema = vocab.schemas.get(self.service or "")
        if frame is not None and schema is not None and frame.active_intent in schema.intent_names:
            intent = schema.intent(frame.active_intent)
            filled = {slot for slot, values in frame.slot_values.items() if values}
            own = [*intent.required_slots, *intent.optional_slots]
            self.slots_of[ActType.REQUEST.value] = vocab.names(s for s in own if s not in filled)
            complete = all(s in filled for s in intent.required_slots)
            confirmable = [s for s in own if s in filled] if intent.transactional and complete else []
            self.slots_of[ActType.CONFIRM.value] = vocab.names(confirmable)
        self.acts = vocab.names(
            a.value for a in SYSTEM_ACTS if a.value not in self.slots_of or self.slots_of[a.value].children
        )

    def _slots(self, act: str | None) -> Trie:
        return self.slots_of.get(act or "", self.slots)

    def start(self) -> State:
        return State("act", self.acts)

    def allowed(self, state: State) -> set[int] | None:
        v, node = self.v, state.node
        out = set(node.children)
        if state.phase == "end":
            return set()
        if node.terminal:
            out |= {v.item, v.marker[RESPONSE]} if state.blocks + 1 < MAX_ACTIONS else {v.marker[RESPONSE]}
            if state.phase == "act":
                out |= set(self._slots(node.label).children)
            if state.phase == "slot" and node.label == "intent" and self.intents.children:
                out.add(v.equals)
        return out

    def advance(self, state: State, token: int) -> State:
        v, node = self.v, state.node
        child = node.children.get(token)
        if child is not None:
            return replace(state, node=child)
        if token == v.marker[RESPONSE]:
            return replace(state, phase="end")
        if token == v.item:
            return State("act", self.acts, blocks=state.blocks + 1)
        if token == v.equals:
            return State("value", self.intents, blocks=state.blocks)
        if state.phase == "act":
            slot = _need(self._slots(node.label).children.get(token))
            return State("slot", slot, blocks=state.blocks)
        raise ValueError(f"token {token} not allowed in phase {state.phase}")


class ResponseMachine(Machine):
    """The reply says each due placeholder once and no other, and no stray bracket; it cannot end
    while one is due; and it does not say the same three words twice (a looping reply: "the city of
    the city of the city"). With ``words`` (the pieces replies use, a shortlist), it says no others:
    the output layer then scores those alone."""

    def __init__(self, vocab: Vocabulary, due: Sequence[str], words: Iterable[int] | None = None) -> None:
        self.v = vocab
        self.due = frozenset(due)
        self.paths = Trie()
        for slot in self.due:
            self.paths.add(vocab.ids(f"[{slot}]"), slot)
        self.open = vocab.ids("[")[0]
        self.close = vocab.ids("]")[0]
        self.words: dict[bool, frozenset[int]] | None = None  # by whether a placeholder is due
        if words is not None:
            plain = frozenset(words) - {self.open, self.close, vocab.eos}
            self.words = {True: plain | {self.open}, False: plain | {vocab.eos}}

    def start(self) -> State:
        return State("text", self.paths)

    def allowed(self, state: State) -> set[int] | None:
        if state.phase == "text":
            if self.words is None:
                return None
            words = self.words[bool(self.due - state.said)]
            repeated = self._repeated(state)
            return words - repeated if repeated & words else words  # type: ignore[return-value]
        return {t for t, c in state.node.children.items() if c.below - state.said}

    def banned(self, state: State) -> set[int]:
        if state.phase != "text":
            return set()
        # "]" closes a placeholder only; "[" opens one while one is due.
        out = {self.v.eos, self.close} if self.due - state.said else {self.open, self.close}
        return out | self._repeated(state)

    def _repeated(self, state: State) -> set[int]:
        """The words that would say three words a second time."""
        words = state.spoken
        if len(words) < 2 or PLACEHOLDER in words[-2:]:
            return set()
        last = words[-2:]
        out = {words[i + 2] for i in range(len(words) - 2) if words[i : i + 2] == last}
        out.discard(PLACEHOLDER)
        if self.due - state.said:
            out.discard(self.open)  # a due placeholder can always be said
        return out

    def advance(self, state: State, token: int) -> State:
        if state.phase == "text":
            if token == self.open:
                return replace(state, phase="slot", node=self.paths.children[token])
            return replace(state, spoken=(*state.spoken, token))
        child = state.node.children[token]
        if child.terminal and child.label is not None:
            return State(
                "text", self.paths, said=state.said | {child.label}, spoken=(*state.spoken, PLACEHOLDER)
            )
        return replace(state, node=child)


#: How written names are recorded in ``State.said``, per phase (so that none is written twice).
PREFIX = {"acts": "act:", "service": "service:", "slot": "value:", "req": "requested:"}
MAX_ACTIONS = 8


def _open(node: Trie, said: frozenset[str], prefix: str) -> set[int]:
    """The children of ``node`` that still lead to a name not yet said (all of them for unnamed tries)."""
    return {
        t for t, c in node.children.items() if not c.below or any(prefix + x not in said for x in c.below)
    }


def _need(node: Trie | None) -> Trie:
    if node is None:
        raise ValueError("token not allowed here")
    return node


def _need_label(node: Trie) -> str:
    if node.label is None:
        raise ValueError("a name is not finished")
    return node.label
