"""The simulated user's words: varied templates per user act, so text-level runs exercise NLU."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from dialog.common.text import words
from dialog.schema import Schema
from dialog.types import DONTCARE, ActType, DialogueAct
from dialog.user.corpus import Key, fill, signature

A = ActType

PHRASES: dict[ActType, list[str]] = {
    A.AFFIRM: ["Yes.", "Yes, that's right.", "Sure, go ahead.", "Correct.", "Yes please."],
    A.NEGATE: ["No.", "No, that's not right.", "Not quite."],
    A.AFFIRM_INTENT: ["Yes, please do.", "Sure, let's do that.", "Yes, I'd like that."],
    A.NEGATE_INTENT: ["No, not now.", "No thanks, not right now."],
    A.REQUEST_ALTS: ["Can you suggest something else?", "Any other options?", "Is there another one?"],
    A.SELECT: ["That one sounds good."],
    A.THANK_YOU: ["Thank you!", "Thanks a lot.", "Great, thanks."],
    A.GOODBYE: ["Goodbye.", "That's all, bye!", "Bye."],
}
NOTHING_MORE = ["No, thank you.", "No, thanks, that's it.", "Nothing else, thanks."]
INTENT = [
    "I'd like to {intent}.",
    "Can you help me {intent}?",
    "I want to {intent}, please.",
    "Please {intent}.",
]
INFORM_FIRST = [
    "{value}.",
    "{value}, please.",
    "I'd like {value}.",
    "The {slot} should be {value}.",
    "Make it {value}.",
]
INFORM_MORE = ["and the {slot} is {value}", "with {slot} {value}", "{slot} {value}"]
DONTCARE_TEXT = ["I don't mind about the {slot}.", "Any {slot} is fine.", "The {slot} doesn't matter."]
REQUEST = ["What is the {slot}?", "Can you tell me the {slot}?", "Could you give me the {slot}?"]


class UserText:
    """Realises user acts as an utterance. ``realise`` takes the RNG, so runs are reproducible."""

    def __init__(self, schemas: Sequence[Schema], corpus: Mapping[Key, Sequence[str]] | None = None) -> None:
        """``corpus``: templates mined from real user turns (``dialog.user.corpus``), used first."""
        self.schemas: Mapping[str, Schema] = {s.service: s for s in schemas}
        self.corpus = corpus or {}

    def _intent_phrase(self, service: str | None, intent: str, rng: random.Random) -> str:
        schema = self.schemas.get(service or "")
        if schema is not None and intent in schema.intent_names and rng.random() < 0.5:
            description = schema.intent(intent).description
            return description[:1].lower() + description[1:]
        return words(intent)

    def realise(self, acts: Sequence[DialogueAct], rng: random.Random, system: str = "") -> str:
        """The acts in words; ``system`` (what the system last said) is not read by templates."""
        if self.corpus:
            found = self._from_corpus(acts, rng)
            if found is not None:
                return found
            intent = [a for a in acts if a.act is A.INFORM_INTENT]
            rest = [a for a in acts if a.act is not A.INFORM_INTENT]
            if intent and rest:
                said = self._from_corpus(rest, rng)
                if said is not None:
                    return self._templated(intent, rng) + " " + said
        return self._templated(acts, rng)

    def _from_corpus(self, acts: Sequence[DialogueAct], rng: random.Random) -> str | None:
        templates = self.corpus.get(signature(acts))
        if not templates:
            return None
        values = {a.slot: a.values[0] for a in acts if a.act is A.INFORM and a.slot and a.values}
        return fill(rng.choice(list(templates)), values)

    def _templated(self, acts: Sequence[DialogueAct], rng: random.Random) -> str:
        if {a.act for a in acts} == {A.NEGATE, A.THANK_YOU}:  # the answer to "anything else?"
            return rng.choice(NOTHING_MORE)
        parts: list[str] = []
        informs = [a for a in acts if a.act is A.INFORM and a.slot and a.values]
        for act in acts:
            if act.act in (A.INFORM_INTENT,) and act.values:
                phrase = self._intent_phrase(act.service, act.values[0], rng)
                parts.append(rng.choice(INTENT).format(intent=phrase))
            elif act.act is A.REQUEST and act.slot:
                parts.append(rng.choice(REQUEST).format(slot=words(act.slot)))
            elif act.act in PHRASES:
                parts.append(rng.choice(PHRASES[act.act]))
        given = [a for a in informs if a.values[0] != DONTCARE]
        for act in informs:
            if act.values[0] == DONTCARE:
                parts.append(rng.choice(DONTCARE_TEXT).format(slot=words(act.slot or "")))
        if given:
            first = rng.choice(INFORM_FIRST).format(slot=words(given[0].slot or ""), value=given[0].values[0])
            rest = [
                rng.choice(INFORM_MORE).format(slot=words(a.slot or ""), value=a.values[0]) for a in given[1:]
            ]
            sentence = first if not rest else first.rstrip(".") + ", " + ", ".join(rest) + "."
            parts.append(sentence[0].upper() + sentence[1:])
        return " ".join(parts)
