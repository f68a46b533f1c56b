"""SimpleTOD as a state tracker: the belief part of a turn, read back into frame states, and the SGD
evaluation of it (``tod eval dst --model simpletod``), counting what the schemas do not allow."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dialog.e2e.constrain import BeliefMachine, Vocabulary
from dialog.e2e.format import (
    DB,
    Segments,
    belief_text,
    lookup,
    offers_text,
    parse_belief,
    schema_text,
    split_target,
)
from dialog.e2e.simpletod import Cursor, SimpleTOD
from dialog.schema import Schema
from dialog.types import DONTCARE, ActType, Dialogue, FrameState, GenerationSettings, Speaker, Turn


@dataclass
class Belief:
    """What the model wrote for a user turn up to the backend marker, read back."""

    frames: dict[str, FrameState]
    user_acts: list[ActType]
    invalid: list[str]
    cursor: Cursor
    text: str
    ms: float = 0.0


class Sources:
    """The texts a free-form value may be copied from, as token ids with character offsets: a written
    value (decoded, lower-cased) is found among their token spans and given back as originally written."""

    def __init__(self, model: SimpleTOD, texts: Sequence[str]) -> None:
        self.model = model
        self.texts: list[tuple[str, list[int], list[tuple[int, int]]]] = []
        for text in texts:
            enc = model.tokenizer(text[:MAX_TEXT], add_special_tokens=False, return_offsets_mapping=True)
            self.texts.append((text, list(enc["input_ids"]), list(enc["offset_mapping"])))

    def get(self, written: str, default: str | None = None) -> str | None:
        """The original text of ``written``, or ``default`` when no source has it."""
        wanted = list(self.model.tokenizer(written, add_special_tokens=False)["input_ids"])
        n = len(wanted)
        for text, ids, offsets in self.texts:
            for i in range(len(ids) - n + 1) if n else ():
                if ids[i : i + n] == wanted:
                    return text[offsets[i][0] : offsets[i + n - 1][1]]
        return default

    def has(self, value: str) -> bool:
        return self.get(value) is not None


MAX_TEXT = 2000  # characters of a source text searched
MAX_VALUE_TOKENS = 24


@dataclass
class Context:
    segments: Segments
    ids: list[int]
    values: Sources
    machine_values: Any = None


def context(
    model: SimpleTOD,
    vocab: Vocabulary,
    system: str,
    user: str,
    previous: Mapping[str, FrameState],
    history: Sequence[Turn] = (),
    services: str = "",
) -> Context:
    """The turn's context; ``history`` holds the turns before it (the system's latest offer is read),
    ``services`` the ``schema_text`` of the services the model may write."""
    seg = Segments(
        system=system,
        user=user,
        previous=belief_text(previous),
        offers=offers_text(history),
        services=services,
    )
    ids, parts = model.context(seg)
    kinds = (ActType.OFFER, ActType.CONFIRM)
    offered = [v for t in history[-6:] for a in t.acts if a.act in kinds for v in a.values]
    kept = [v for f in previous.values() for vs in f.slot_values.values() for v in vs]
    # Values are copied from the utterances and from the values (not the slot names) of the previous
    # belief and of the offers.
    spans = [parts[0], parts[1], *(model.tokens(v, MAX_VALUE_TOKENS) for v in [*kept, *offered])]
    return Context(seg, ids, Sources(model, [system, user, *kept, *offered]), vocab.context_values(spans))


def write_belief(
    model: SimpleTOD,
    vocab: Vocabulary,
    ctx: Context,
    services: Sequence[str] | None = None,
    constrain: bool = True,
    settings: GenerationSettings | None = None,
) -> Belief:
    """The user act types and belief for a turn; ``services`` forces the blocks (SGD evaluation)."""
    start = time.perf_counter()
    machine = BeliefMachine(vocab, ctx.machine_values, services) if constrain else None
    db = vocab.marker[DB]
    written = model.write(
        Cursor(ctx.ids, prefix=len(ctx.ids)), {db, vocab.eos}, machine, settings, max_new=120
    )
    text = model.decode_text(written.tokens)
    parts = split_target(text)
    parsed = parse_belief(parts["belief"], vocab.schemas, ctx.values)
    invalid = list(parsed.invalid)
    for service, frame in list(parsed.frames.items()):
        schema = vocab.schemas[service]
        for slot, values in frame.slot_values.items():
            free = not schema.slot(slot).categorical and values[0] != DONTCARE
            if free and not ctx.values.has(values[0]):
                default = lookup(vocab.defaults.get((service, slot), []), values[0])
                if default is None:
                    invalid.append(f"value {values[0]!r} of {slot} not in the context")
                else:  # the slot's default (allowed by the machine), as the schema writes it
                    fixed = {**parsed.frames[service].slot_values, slot: (default,)}
                    parsed.frames[service] = replace(parsed.frames[service], slot_values=fixed)
    acts = []
    for word in parts["user_acts"].split():
        kind = next((a for a in ActType if a.value.lower() == word.replace(" ", "")), None)
        if kind is None:
            invalid.append(f"user act {word!r}")
        else:
            acts.append(kind)
    ms = (time.perf_counter() - start) * 1000
    return Belief(parsed.frames, acts, invalid, written.cursor, text, ms)


@dataclass
class Tracked:
    dialogues: list[Dialogue]
    invalid: int = 0
    turns: int = 0
    examples: list[str] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)


def track(
    model: SimpleTOD,
    dialogues: Sequence[Dialogue],
    schemas: Sequence[Schema],
    constrain: bool = True,
    progress: bool = False,
    settings: GenerationSettings | None = None,
) -> Tracked:
    """Each dialogue with SimpleTOD's states in its user frames, turn after turn from its own beliefs
    (the services of each user turn are given, as in the SGD evaluation)."""
    from tqdm import tqdm

    vocab = Vocabulary(model.tokenizer, schemas)
    out = Tracked([])
    for dialogue in tqdm(dialogues, desc="tracking", unit="dialogue", disable=not progress, leave=False):
        system = ""
        previous: dict[str, FrameState] = {}
        states: dict[str, FrameState] = {}
        turns = []
        known = schema_text(vocab.schemas[s] for s in dialogue.services if s in vocab.schemas)
        for turn in dialogue.turns:
            if turn.speaker is Speaker.SYSTEM:
                system = turn.utterance
                turns.append(turn)
                continue
            services = [f.service for f in turn.frames if f.service in vocab.schemas]
            ctx = context(model, vocab, system, turn.utterance, previous, turns, known)
            belief = write_belief(model, vocab, ctx, services, constrain, settings)
            out.turns += 1
            out.ms.append(belief.ms)
            if belief.invalid:
                out.invalid += len(belief.invalid)
                if len(out.examples) < 20:
                    out.examples.append(f"{dialogue.dialogue_id}: {'; '.join(belief.invalid)}")
            states.update(belief.frames)
            previous = {s: states.get(s, FrameState()) for s in services}
            frames = tuple(
                replace(f, state=states.get(f.service, FrameState())) if f.state is not None else f
                for f in turn.frames
            )
            turns.append(replace(turn, frames=frames))
        out.dialogues.append(replace(dialogue, turns=tuple(turns)))
    return out
