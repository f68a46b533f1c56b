"""Rule NLU, the baseline and fallback: schema values and a few patterns, read in context.

- intents: at the start of a conversation, the schemas' descriptions by meaning when the router is
  sure (``dialog.infra.routing``); otherwise the words of intent and service names (and, with less
  weight, their descriptions);
- values: the longest phrases that are a slot's value, example or backend value, resolved between
  slots by what the system just asked, the slot's own words in the utterance, and the form's gaps;
- free text: the answer to the slot the system just asked for, when no known value is in it;
- acts: yes / no (AFFIRM_INTENT / NEGATE_INTENT after an offered intent), requests for a slot,
  alternatives, "that one", thanks, goodbye, "I don't mind" (dontcare).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from dialog.backend import Backend
from dialog.common.text import words
from dialog.data.views import tokenize
from dialog.infra.routing import ServiceRouter
from dialog.registry import registry
from dialog.schema import Schema
from dialog.types import DONTCARE, ActType, DialogueAct, DialogueState

A = ActType
MAX_NGRAM = 8
MAX_CHARS = 2000  # longer input is cut: nobody states a form in more

STOP = frozenset(
    "a an the to for of in on at and or i me my we you your it is be do can could would like want "  # noqa: SIM905
    "please some with from by this that there what which need".split()
)
YES = re.compile(r"\b(yes|yeah|yep|sure|correct|right|ok|okay|absolutely|definitely|please do|go ahead|"
                 r"sounds good|that works|perfect)\b")  # fmt: skip
NO = re.compile(r"\b(no|nope|not really|don't|do not|wrong|incorrect|nah)\b")
THANKS = re.compile(r"\b(thanks|thank you|cheers|appreciate)\b")
BYE = re.compile(r"\b(bye|goodbye|see you|that's all|that is all|nothing else)\b")
ALTS = re.compile(r"\b(something else|anything else|another|other options?|alternatives?|different one)\b")
SELECT = re.compile(r"\b(that one|i'll take it|i will take it|that sounds good|sounds great|i like that)\b")
DONTCARE_RE = re.compile(r"\b(don't care|do not care|doesn't matter|does not matter|don't mind|do not mind|"
                         r"no preference|any(?: \w+)? is fine|anything is fine|whatever)\b")  # fmt: skip
QUESTION = re.compile(r"\?|\b(what|what's|which|where|when|how|tell me|give me|do you know|could you tell)\b")
FILLER = re.compile(
    r"^(?:(?:i'd like|i would like|i want|i need|let's say|lets say|make it|it's|it is|it should be|"
    r"how about|maybe|please|ok|okay|um|uh|well|yes|yeah|sure|the|a|an|for|at|on|to|my|is)\b[\s,]*)+",
    re.IGNORECASE,
)


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _fold(text: str) -> str:
    return " ".join(_norm_tokens(text))


def _norm_tokens(text: str) -> list[str]:
    return [t.casefold() for t, _, _ in tokenize(text)]


class _ServiceIndex:
    """Phrases → slots and keywords → intents for one service."""

    def __init__(self, schema: Schema, backend: Backend | None) -> None:
        self.schema = schema
        self.phrases: dict[tuple[str, ...], list[str]] = {}
        vocab: dict[str, list[str]] = {s.name: [*s.values, *s.examples] for s in schema.slots}
        if backend is not None:
            for slot, values in backend.slot_values().items():
                vocab.setdefault(slot, []).extend(values)
        for slot, values in vocab.items():
            for value in values:
                key = tuple(_norm_tokens(value))
                if key and len(key) <= MAX_NGRAM and not (len(key) == 1 and key[0] in STOP):
                    slots = self.phrases.setdefault(key, [])
                    if slot not in slots:
                        slots.append(slot)
        self.surface: dict[tuple[tuple[str, ...], str], str] = {}
        for slot, values in vocab.items():
            for value in values:
                self.surface.setdefault((tuple(_norm_tokens(value)), slot), value)
        for spec in schema.slots:  # a synonym is read as the value it names
            for value, others in spec.synonyms.items():
                for other in others:
                    key = tuple(_norm_tokens(other))
                    if key and len(key) <= MAX_NGRAM:
                        slots = self.phrases.setdefault(key, [])
                        if spec.name not in slots:
                            slots.append(spec.name)
                        self.surface.setdefault((key, spec.name), value)
        self.intent_words: dict[str, dict[str, float]] = {}
        service_words = {_stem(w) for w in words(re.sub(r"_\d+$", "", schema.service)).split()} - STOP
        for intent in schema.intents:
            weights = {_stem(w): 0.5 for w in _norm_tokens(intent.description) if w not in STOP}
            weights.update({w: 0.75 for w in service_words})
            weights.update({_stem(w): 1.5 for w in words(intent.name).split() if w not in STOP})
            self.intent_words[intent.name] = weights
        self.slot_phrase = {s.name: tuple(_stem(w) for w in words(s.name).split()) for s in schema.slots}
        self.slot_words = {
            s.name: {_stem(w) for w in words(s.name).split()} - STOP - {"name", "number", "type"}
            for s in schema.slots
        }

    def intent_scores(self, stems: set[str]) -> dict[str, float]:
        return {
            name: sum(w for k, w in weights.items() if k in stems)
            for name, weights in self.intent_words.items()
        }

    def values(self, tokens: list[str]) -> list[tuple[int, int, list[str]]]:
        """Longest known phrases, left to right, as (start, end, slots)."""
        out, i = [], 0
        while i < len(tokens):
            for n in range(min(MAX_NGRAM, len(tokens) - i), 0, -1):
                slots = self.phrases.get(tuple(tokens[i : i + n]))
                if slots:
                    out.append((i, i + n, slots))
                    i += n
                    break
            else:
                i += 1
        return out


@registry.register("nlu", "rule")
class RuleNLU:
    def __init__(
        self, schemas: Sequence[Schema], backends: Mapping[str, Backend] | None = None, route: bool = True
    ) -> None:
        backends = backends or {}
        self.index = {s.service: _ServiceIndex(s, backends.get(s.service)) for s in schemas}
        self.schemas = list(schemas)
        self.route = route  # route a first request the keywords miss (``_routed``)
        self._router: ServiceRouter | None = None  # made on first need: it embeds every intent

    def parse(self, text: str, state: DialogueState) -> tuple[DialogueAct, ...]:
        text = " ".join(text[:MAX_CHARS].split())
        lowered = text.casefold()
        tokens = _norm_tokens(text)
        if not tokens:
            return ()
        stems = {_stem(t) for t in tokens} - STOP
        last = state.last_system_acts
        last_kinds = {a.act for a in last}
        acts: list[DialogueAct] = []

        service, intent = self._routed(text) if state.active_service is None else (None, None)
        if service is None:
            service, intent = self._intent(stems, state)
        if service is None:
            service = state.active_service
        offered_intent = next((a for a in last if a.act is A.OFFER_INTENT), None)
        yes, no = bool(YES.search(lowered)), bool(NO.search(lowered)) and not DONTCARE_RE.search(lowered)
        if offered_intent is not None and (yes or no) and intent is None:
            kind = A.AFFIRM_INTENT if yes and not no else A.NEGATE_INTENT
            acts.append(DialogueAct(kind, "intent", offered_intent.values, offered_intent.service))
        elif yes and not no and last_kinds & {A.CONFIRM, A.OFFER}:
            acts.append(DialogueAct(A.AFFIRM, service=service))
        elif no and last_kinds & {A.CONFIRM, A.OFFER, A.REQ_MORE, A.INFORM}:
            acts.append(DialogueAct(A.NEGATE, service=service))
        if intent is not None and service is not None:
            acts.append(DialogueAct(A.INFORM_INTENT, "intent", (intent,), service))
        if service is not None and service in self.index:
            acts += self._slots(self.index[service], text, tokens, stems, state, lowered)
        if ALTS.search(lowered) and A.OFFER in last_kinds:
            acts.append(DialogueAct(A.REQUEST_ALTS, service=service))
        if SELECT.search(lowered) and A.OFFER in last_kinds:
            acts.append(DialogueAct(A.SELECT, service=service))
        if THANKS.search(lowered):
            acts.append(DialogueAct(A.THANK_YOU, service=service))
        if BYE.search(lowered):
            acts.append(DialogueAct(A.GOODBYE, service=service))
        return tuple(dict.fromkeys(acts))

    def _routed(self, text: str) -> tuple[str | None, str | None]:
        """The service and intent a first request means by the schemas' descriptions, when the router
        is sure and the words are a request at all (on SGD dev's first turns, first: service 0.686
        right when it only filled in for the keywords)."""
        if not self.route or not self.schemas:
            return None, None
        if self._router is None:
            self._router = ServiceRouter(self.schemas)
        route = self._router.choose(text)
        return (route.service, route.intent) if route is not None else (None, None)

    def _intent(self, stems: set[str], state: DialogueState) -> tuple[str | None, str | None]:
        best: tuple[float, str, str] | None = None
        for service, index in self.index.items():
            for intent, score in index.intent_scores(stems).items():
                if service == state.active_service:
                    score += 0.25  # stay with the current service on a tie
                if best is None or score > best[0]:
                    best = (score, service, intent)
        if best is None or best[0] < 1.5:
            return None, None
        frame = state.frame(best[1])
        if frame.active_intent == best[2]:
            return best[1], None  # nothing new: the user is still on this intent
        return best[1], best[2]

    def _slots(
        self,
        index: _ServiceIndex,
        text: str,
        tokens: list[str],
        stems: set[str],
        state: DialogueState,
        lowered: str,
    ) -> list[DialogueAct]:
        schema = index.schema
        service = schema.service
        asked = [
            a.slot for a in state.last_system_acts if a.act is A.REQUEST and a.slot and a.service == service
        ]
        frame = state.frame(service)
        gaps: list[str] = []
        if frame.active_intent in schema.intent_names:
            intent = schema.intent(frame.active_intent)
            gaps = [s for s in intent.required_slots if not frame.slot_values.get(s)]
        question = bool(QUESTION.search(lowered))
        confirmed = {
            a.slot: a.values[0]
            for a in state.last_system_acts
            if a.act is A.CONFIRM and a.service == service and a.slot and a.values
        }
        out: list[DialogueAct] = []
        taken: set[str] = set()
        # Assign values to slots, the values with the clearest cue first: the words just before a
        # value ("recipient account type savings") say whose value it is.
        scored = []
        for start, end, slots in index.values(tokens):
            near = {_stem(t) for t in tokens[max(0, start - 6) : start]}
            scores = {}
            for rank, slot in enumerate(slots):
                own = index.slot_words[slot]
                hits = len(own & near)
                cue = 2.5 * hits - (len(own) - hits) if hits else 0.0
                # After a confirmation, a value given is a correction: it changes a confirmed slot.
                if slot in confirmed:
                    cue += 1.5 if _fold(confirmed[slot]) != _fold(" ".join(tokens[start:end])) else -1.5
                scores[slot] = 3 * (slot in asked) + cue + (slot in gaps) - 0.01 * rank
            scored.append((max(scores.values()), start, end, scores))
        for _, start, end, scores in sorted(scored, key=lambda x: (-x[0], x[1])):
            free_slots = [s for s in scores if s not in taken]
            if not free_slots:
                continue
            slot = max(free_slots, key=scores.__getitem__)
            taken.add(slot)
            value = index.surface.get((tuple(tokens[start:end]), slot), " ".join(tokens[start:end]))
            out.append(DialogueAct(A.INFORM, slot, (value,), service))
        if question:
            # "What is the phone number?": the slot's words in a row, not introducing a value.
            stemmed = [_stem(t) for t in tokens]
            cues = {i for _, start, _, _ in scored for i in range(max(0, start - 6), start)}
            for slot in schema.slot_names:
                phrase = index.slot_phrase[slot]
                at = [
                    i
                    for i in range(len(stemmed) - len(phrase) + 1)
                    if tuple(stemmed[i : i + len(phrase)]) == phrase and i not in cues
                ]
                if slot not in taken and at:
                    out.append(DialogueAct(A.REQUEST, slot, (), service))
        if DONTCARE_RE.search(lowered) and asked and asked[0] not in taken:
            out.append(DialogueAct(A.INFORM, asked[0], (DONTCARE,), service))
        elif asked and not out and not question and asked[0] not in taken:
            free = FILLER.sub("", text.strip().rstrip(".!")).strip()
            if free and not YES.fullmatch(free.casefold()) and not NO.fullmatch(free.casefold()):
                value = free if not schema.slot(asked[0]).categorical else free.casefold()
                out.append(DialogueAct(A.INFORM, asked[0], (value,), service))
        return out
