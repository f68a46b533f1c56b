"""Training targets for the joint NLU, from SGD user turns, from a schema alone (simulated
dialogues in text), and from SNIPS / ATIS.

A target is the words of the utterance, a context string (the service and the system's previous
acts), and the labels of each head; a head without labels is None and is masked in the loss.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from dialog.common.text import words
from dialog.data.views import NLUExample, tokenize
from dialog.nlu.labels import ACT_LABELS, SPECIAL_VALUES
from dialog.types import ActType, DialogueAct, SlotSpan

A = ActType


@dataclass(frozen=True)
class Target:
    words: tuple[str, ...]
    tags: tuple[str, ...]
    context: str
    intent: str  # "NONE", "Service:Intent", or a benchmark intent
    acts: tuple[str, ...] | None = None
    requested: tuple[str, ...] | None = None
    specials: tuple[str, ...] | None = None
    service: str = ""


def context_text(service: str | None, acts: Sequence[DialogueAct]) -> str:
    """The system's previous acts as words, e.g. "restaurants : request city ; offer restaurant name"."""
    name = words(re.sub(r"_\d+$", "", service or ""))
    parts = [f"{words(a.act.value)} {words(a.slot or '')}".strip() for a in acts]
    return f"{name} : {' ; '.join(dict.fromkeys(parts))}".strip()


def intent_label(service: str, intent: str) -> str:
    return f"{service}:{intent}"


def _find(text: str, value: str, taken: list[SlotSpan]) -> tuple[int, int] | None:
    """Where ``value`` appears in ``text`` as whole words (case-insensitive), not over a taken span."""
    for m in re.finditer(rf"(?<!\w){re.escape(value)}(?!\w)", text, flags=re.IGNORECASE):
        if all(m.end() <= s.start or m.start() >= s.end for s in taken):
            return m.start(), m.end()
    return None


def target_from_acts(
    text: str,
    service: str,
    acts: Sequence[DialogueAct],
    prev: Sequence[DialogueAct],
    spans: Sequence[SlotSpan] = (),
) -> Target:
    """Labels from the user's acts: given spans, plus spans found for INFORM values in the text;
    values that are not in the text become specials (dontcare, True, False) or are left out."""
    spans = list(spans)
    specials = []
    for act in acts:
        if act.act is not A.INFORM or not act.slot or not act.values:
            continue
        if any(s.slot == act.slot for s in spans):
            continue
        value = act.values[0]
        if value in SPECIAL_VALUES:
            specials.append(f"{act.slot}={value}")
            continue
        found = _find(text, value, spans)
        if found is not None:
            spans.append(SlotSpan(act.slot, *found))
    from dialog.data.views import bio_tags

    tokens, tags = bio_tags(text, spans)
    stated = [a for a in acts if a.act is A.INFORM_INTENT and a.values]
    return Target(
        words=tuple(tokens),
        tags=tuple(tags),
        context=context_text(service, prev),
        intent=intent_label(service, stated[0].values[0]) if stated else "NONE",
        acts=tuple(sorted({a.act.value for a in acts if a.act.value in ACT_LABELS})),
        requested=tuple(sorted({a.slot for a in acts if a.act is A.REQUEST and a.slot})),
        specials=tuple(sorted(set(specials))),
        service=service,
    )


def sgd_targets(examples: Iterable[NLUExample]) -> Iterator[Target]:
    for ex in examples:
        if not ex.tokens:
            continue
        spans = []
        # Re-derive character spans from the BIO tags over our tokenisation of the text.
        offsets = tokenize(ex.text)
        start = None
        for i, tag in enumerate([*ex.tags, "O"]):
            if start is not None and not tag.startswith("I-"):
                spans.append(SlotSpan(ex.tags[start][2:], offsets[start][1], offsets[i - 1][2]))
                start = None
            if tag.startswith("B-"):
                start = i
        prev_service = ex.prev_system_acts[0].service if ex.prev_system_acts else ex.service
        target = target_from_acts(ex.text, ex.service, ex.acts, ex.prev_system_acts, spans)
        yield Target(**{**target.__dict__, "context": context_text(prev_service, ex.prev_system_acts)})


def benchmark_targets(examples: Iterable[NLUExample]) -> Iterator[Target]:
    """SNIPS / ATIS: intent and tags only."""
    for ex in examples:
        yield Target(words=ex.tokens, tags=ex.tags, context="", intent=ex.intent)
