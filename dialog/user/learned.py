"""The learned user's words: a generator trained on SGD user turns, so that simulated users talk like
people and not like the schema ("The account type should be savings ...").

What it reads is what a person would know: the system's last words and what the user means to say
(the user's acts, their values as placeholders, slot and intent names as words, and the intent's
description, so that a service it never saw still reads as language). It never sees the agent's
state or acts. The network is the NLG's (``dialog.nlg.seq2seq``: a MiniLM encoder-decoder), warm
started from the committed NLG and trained on user turns; values are copied in after decoding, and a
reply that does not say each value exactly once falls back to the templates (``UserText``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dialog.common.delex import delexicalise, lexicalise, placeholder, slot_errors
from dialog.common.text import words
from dialog.nlg.seq2seq import Seq2SeqNLG
from dialog.schema import Schema
from dialog.types import DONTCARE, ActType, Dialogue, DialogueAct, GenerationSettings, Speaker
from dialog.user.text import UserText

A = ActType
MODEL = "user-seq2seq"
#: How the learned user decodes in a simulation: sampled (people vary), seeded from the dialogue's RNG.
SAMPLING = GenerationSettings(do_sample=True, top_p=0.9, temperature=0.7)


@dataclass(frozen=True)
class UserPair:
    """One SGD user turn: what the user meant, after what the system said, in the user's words."""

    dialogue_id: str
    service: str
    acts: tuple[DialogueAct, ...]
    system: str
    utterance: str


def user_pairs(dialogues: Iterable[Dialogue]) -> Iterator[UserPair]:
    for dialogue in dialogues:
        system = ""
        for turn in dialogue.turns:
            if turn.speaker is Speaker.SYSTEM:
                system = turn.utterance
                continue
            service = turn.frames[0].service if turn.frames else ""
            yield UserPair(dialogue.dialogue_id, service, turn.acts, system, turn.utterance)


def render(acts: Sequence[DialogueAct], schemas: Mapping[str, Schema]) -> tuple[str, dict[str, str]]:
    """The user's acts as the generator reads them, and placeholder values: e.g. "find a restaurant
    (search for a restaurant ...) ; city [city] ; any price range ; ask phone number"."""
    delexed, values = delexicalise(acts)
    parts = []
    for act in delexed:
        if act.act is A.INFORM_INTENT and act.values:
            schema = schemas.get(act.service or "")
            intent = act.values[0]
            about = schema.intent(intent).description if schema and intent in schema.intent_names else ""
            parts.append(f"{words(intent)} ({about})" if about else words(intent))
        elif act.act is A.INFORM and act.slot and act.values:
            value = act.values[0]
            if value.casefold() == DONTCARE:
                parts.append(f"any {words(act.slot)}")
            else:
                shown = value if value == placeholder(act.slot) else value.lower()
                parts.append(f"{words(act.slot)} {shown}")
        elif act.act is A.REQUEST and act.slot:
            parts.append(f"ask {words(act.slot)}")
        else:
            parts.append(words(act.act.value).replace("_", " "))
    return " ; ".join(dict.fromkeys(parts)), values


def source(system: str, rendered: str) -> str:
    return f"system: {system.strip() or '-'} user: {rendered}"


class LearnedUserText:
    """``UserText``'s verb with the trained generator: ``realise(acts, rng, system)``."""

    def __init__(
        self,
        schemas: Sequence[Schema],
        model: Seq2SeqNLG | None = None,
        settings: GenerationSettings = SAMPLING,
    ) -> None:
        self.schemas = {s.service: s for s in schemas}
        self.model = model if model is not None else Seq2SeqNLG.load(MODEL)
        self.templates = UserText(schemas)
        self.settings = settings
        self.fallbacks = 0  # utterances the templates said because the model could not say a value
        self.said = 0

    def realise(self, acts: Sequence[DialogueAct], rng: random.Random, system: str = "") -> str:
        if not acts:
            return self.templates.realise(acts, rng)
        [text] = self.utterances([(acts, system)], rng)
        return text

    def utterances(self, items: Sequence[tuple[Sequence[DialogueAct], str]], rng: random.Random) -> list[str]:
        """Several at once (for validation): each ``(acts, system)`` in words."""
        prepared = [render(acts, self.schemas) for acts, _ in items]
        sources = [source(system, text) for (_, system), (text, _) in zip(items, prepared, strict=True)]
        settings = self.settings
        if settings.do_sample:
            settings = replace(settings, seed=rng.getrandbits(31))
        decoded = self.model.decode(sources, settings, [list(values) for _, values in prepared])
        out = []
        for (acts, _), (_, values), text in zip(items, prepared, decoded, strict=True):
            self.said += 1
            if any(slot_errors(text, list(values))) or not text.strip():
                self.fallbacks += 1
                out.append(self.templates.realise(acts, rng))
            else:
                out.append(lexicalise(text, values))
        return out


def training_pairs(pairs: Iterable[UserPair], schemas: Mapping[str, Schema]) -> tuple[list[Any], int]:
    """(source, delexicalised target) of each pair whose values are all in its words, and how many
    were dropped (a value the user did not say as written would teach the model to drop values)."""
    from dialog.common.delex import delexicalise_text

    out, skipped = [], 0
    for pair in pairs:
        if not pair.acts or not pair.utterance.strip():
            continue
        rendered, values = render(pair.acts, schemas)
        target = delexicalise_text(pair.utterance, values)
        if target is None:
            skipped += 1
            continue
        out.append((source(pair.system, rendered), target))
    return out, skipped
