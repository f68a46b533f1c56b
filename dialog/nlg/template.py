"""Template NLG: the schema's templates per act (or act and slot), with generic fallbacks.

Values are substituted once with ``str.format`` on plain names (the schema validator allows only
slot names and a few fields as placeholders), so a value that contains ``{...}`` stays text.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping, Sequence

from dialog.backend import Backend
from dialog.common.delex import spoken_acts
from dialog.common.text import join, words
from dialog.common.values import spoken
from dialog.registry import registry
from dialog.schema import Schema
from dialog.types import ActType, DialogueAct, DialogueState, GenerationSettings

A = ActType
_FIELDS = string.Formatter()


GENERIC: dict[ActType, str] = {
    A.NOTIFY_SUCCESS: "Done, it is all set.",
    A.NOTIFY_FAILURE: "Sorry, I could not find or do that.",
    A.REQ_MORE: "Is there anything else I can help you with?",
    A.GOODBYE: "Goodbye, have a nice day!",
}


def fill(template: str, values: Mapping[str, str]) -> str | None:
    """The template with values, or None when it needs a value that is missing."""
    names = [f for _, f, _, _ in _FIELDS.parse(template) if f]
    if any(n not in values for n in names):
        return None
    return template.format_map({n: values[n] for n in names})


def is_clarification(acts: Sequence[DialogueAct]) -> bool:
    """Offers of intents of two services or more, and nothing else: the question that asks which
    service the user means (``PipelineAgent`` asks it when routing is unsure)."""
    return (
        len(acts) > 1
        and all(a.act is A.OFFER_INTENT and a.values for a in acts)
        and len({a.service for a in acts}) > 1
    )


@registry.register("nlg", "template")
class TemplateNLG:
    """One sentence per act group, from the schema's templates or generic ones."""

    def __init__(
        self, schemas: Sequence[Schema], backends: Mapping[str, Backend] | None = None, seed: int = 0
    ) -> None:
        self.schemas = {s.service: s for s in schemas}
        self.seed = seed

    def generate(
        self, acts: tuple[DialogueAct, ...], state: DialogueState, settings: GenerationSettings | None = None
    ) -> str:
        if not acts:
            return GENERIC[A.REQ_MORE]
        acts = spoken_acts(acts)
        if is_clarification(acts):
            return self.clarify(acts)
        # Varied picks among a template list, reproducible for the same dialogue and turn.
        rng = random.Random(f"{self.seed}:{len(state.history)}:{acts}")
        groups: dict[tuple[ActType, str | None], list[DialogueAct]] = {}
        for act in acts:
            groups.setdefault((act.act, act.service), []).append(act)
        sentences = [
            self._group(kind, service, group, state, rng) for (kind, service), group in groups.items()
        ]
        return " ".join(s for s in sentences if s)

    def clarify(self, acts: Sequence[DialogueAct]) -> str:
        """One question offering the intents of several services (the agent is unsure which one the
        user means): "Do you want to find a doctor by specialty and city, or reserve a table?"."""
        options = []
        for act in acts:
            schema = self.schemas.get(act.service or "")
            name = act.values[0]
            found = schema.intent(name) if schema is not None and name in schema.intent_names else None
            text = found.description if found is not None and found.description else words(name)
            options.append(text[:1].lower() + text[1:].rstrip("."))
        return f"Do you want to {join(options, 'or')}?"

    def _templates(self, schema: Schema | None, key: str) -> list[str]:
        if schema is None or key not in schema.templates:
            return []
        found = schema.templates[key]
        return [found] if isinstance(found, str) else list(found)

    def _group(
        self,
        kind: ActType,
        service: str | None,
        acts: list[DialogueAct],
        state: DialogueState,
        rng: random.Random,
    ) -> str:
        schema = self.schemas.get(service or "")
        values = {a.slot: a.values[0] for a in acts if a.slot and a.values}
        if kind is A.OFFER_INTENT and acts[0].values:
            values["intent"] = words(acts[0].values[0])
        if service and schema is not None:
            tracked = {s: spoken(v[0]) for s, v in state.frame(service).slot_values.items() if v}
            values = {**tracked, **values}
        slot = acts[0].slot if len(acts) == 1 else None
        keys = [f"{kind.value}:{slot}"] if slot else []
        keys.append(kind.value)
        candidates = [t for k in keys for t in self._templates(schema, k)]
        if kind is A.REQUEST and slot and schema is not None and slot in schema.slot_names:
            prompt = schema.slot(slot).prompt
            if prompt and not acts[0].values:
                candidates.insert(0, prompt)
        rng.shuffle(candidates)
        for template in candidates:
            text = fill(template, values)
            if text is not None:
                return text
        return self._generic(kind, acts, schema)

    def _generic(self, kind: ActType, acts: list[DialogueAct], schema: Schema | None) -> str:
        pairs = [(words(a.slot), join(a.values, "or")) for a in acts if a.slot and a.values]
        if kind is A.REQUEST:
            if not acts[0].slot:
                return "Sorry, I did not catch that. Could you say it another way?"
            asked = [a for a in acts if a.slot]
            text = f"What {join([words(a.slot or '') for a in asked])} would you like?"
            options = [v for a in asked for v in a.values]
            return text[:-1] + f", for example {join(options, 'or')}?" if options else text
        if kind is A.INFORM:
            return " ".join(f"The {s} is {v}." for s, v in pairs)
        if kind is A.CONFIRM:
            return f"Please confirm: {join([f'{s} {v}' for s, v in pairs])}. Is that right?"
        if kind is A.OFFER:
            head, *rest = pairs or [("option", "one")]
            extra = f" ({join([f'{s} {v}' for s, v in rest])})" if rest else ""
            return f"How about {head[1]}{extra}?"
        if kind is A.INFORM_COUNT:
            count = acts[0].values[0] if acts[0].values else "some"
            return f"I found {count} {'result' if count == '1' else 'results'}."
        if kind is A.OFFER_INTENT:
            intent = acts[0].values[0] if acts[0].values else "continue"
            return f"Would you like to {words(intent)}?"
        if kind is A.INQUIRE:
            return f"Could you tell me the {join([words(a.slot or '') for a in acts])}?"
        return GENERIC.get(kind, "")
