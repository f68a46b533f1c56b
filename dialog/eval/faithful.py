"""Safety and faithfulness of a system turn, for every evaluation (simulated dialogues, corpus replay).

- ``transactions``: the transactional calls a reply made (what a real backend would have carried
  out), with their service.
- ``ValueCheck.invented``: the values a reply states that nothing the system knew supports: not in
  its acts, the tracked state, the backend's rows, the user's own words or the schema's wording.
  Values are the services' known values (categorical values and the backend's) and any date, time or
  amount, compared by meaning (``dialog.common.values``: "December 1st" is 2026-12-01), so "The appointment
  is on march 1st" for 2026-12-01 is caught and "on December 1st" is not.
- ``first_service``: the first service a system turn acts in (the routing of the conversation).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from dialog.backend import Backend
from dialog.common.values import dates, normal, numbers, times
from dialog.schema import Schema
from dialog.types import DONTCARE, BackendResult, DialogueAct, DialogueState, Reply, ServiceCall, Speaker

MAX_WORDS = 6  # the longest value looked for in a reply, in words
_NOT_VALUES = {DONTCARE, "true", "false", "yes", "no", "none", "any"}
#: Words of any reply. A known value made only of these and of the schemas' own wording (a song
#: called "Sorry", a film called "For You", a place called "the city") is not taken for a value.
COMMON_WORDS = frozenset(
    """a an the and or but if of to in on at for from with by as is are was were be been am do does did
    i you he she it we they me him her us them my your his its our their this that these those there here
    what which who when where why how all any some no not yes ok okay sure sorry please thanks thank
    welcome great good fine nice perfect right well bye goodbye hello hi hey else anything something
    nothing one two more other another would could can will shall should may might must have has had
    like want need help find book day time today tomorrow tonight now then soon again also just only
    very much many little enough first last next new old best""".split()  # noqa: SIM905 (reads as prose)
)


def _words(text: str) -> list[str]:
    return text.replace(",", " ").replace(".", " ").replace("?", " ").replace("!", " ").split()


def transactions(reply: Reply) -> list[tuple[str, ServiceCall]]:
    """(service, call) for each transactional call made during the turn (failed ones too: a real
    backend would have been asked to carry them out)."""
    service = reply.state.active_service or ""
    return [
        (service, stage.output.call)
        for stage in reply.trace
        if stage.stage == "backend" and isinstance(stage.output, BackendResult) and stage.output.transactional
    ]


def first_service(turns: Iterable[Sequence[DialogueAct]]) -> str | None:
    """The service of the first system act that names one."""
    for acts in turns:
        for act in acts:
            if act.service:
                return act.service
    return None


class ValueCheck:
    """Finds the values a reply states without support. Built once per set of services."""

    def __init__(self, schemas: Sequence[Schema], backends: Mapping[str, Backend] | None = None) -> None:
        vocabulary: set[str] = set()
        wording: list[str] = []
        described: list[str] = []
        for schema in schemas:
            described += [schema.description, *(i.description for i in schema.intents)]
            for slot in schema.slots:
                vocabulary.update(normal(v) for v in slot.values)
                described.append(slot.description)
                if slot.prompt:
                    wording.append(slot.prompt)
            for template in schema.templates.values():
                wording += [template] if isinstance(template, str) else list(template)
            backend = (backends or {}).get(schema.service)
            if backend is not None:
                for values in backend.slot_values().values():
                    vocabulary.update(normal(v) for v in values)
        # A value is looked for when it is a name-like string: not a bare number (numbers are read
        # by meaning), not a yes/no, not shorter than three letters.
        self.vocabulary = {
            v
            for v in vocabulary
            if len(v) >= 3 and v not in _NOT_VALUES and not v.replace(".", "").replace(",", "").isdigit()
        }
        self.wording = normal(" ".join(wording))
        self.common = COMMON_WORDS | set(_words(normal(" ".join([*wording, *described]))))

    def invented(self, text: str, acts: Sequence[DialogueAct], state: DialogueState) -> list[str]:
        """The values ``text`` states that neither ``acts`` nor ``state`` (frames, backend rows, the
        user's turns) nor the schemas' prompts and templates hold."""
        said = normal(text)
        if not said:
            return []
        evidence = self.evidence(acts, state)
        known = normal(evidence)
        out = []
        words = _words(said)
        for n in range(1, MAX_WORDS + 1):
            for i in range(len(words) - n + 1):
                gram = " ".join(words[i : i + n])
                if gram not in self.vocabulary or gram in known or gram in self.wording:
                    continue
                if not all(w in self.common for w in words[i : i + n]):
                    out.append(gram)
        out += [f"date {m}/{d}" for m, d in sorted(dates(text) - dates(evidence))]
        out += [f"time {t // 60}:{t % 60:02d}" for t in sorted(times(text) - times(evidence))]
        allowed = numbers(evidence) | numbers(self.wording)
        out += [f"number {x:g}" for x in sorted(numbers(text) - allowed)]
        return out

    @staticmethod
    def evidence(acts: Sequence[DialogueAct], state: DialogueState) -> str:
        """Everything the system knew when it spoke, as one text."""
        parts: list[str] = []
        for act in acts:
            parts += [*act.values, *act.canonical]
        for frame in state.frames.values():
            parts += [v for values in frame.slot_values.values() for v in values]
        for result in state.backend.values():
            parts += [str(v) for row in result.rows for v in row.values()]
            parts += [str(v) for v in result.call.parameters.values()]
        parts += [t.utterance for t in state.history if t.speaker is Speaker.USER]
        return " | ".join(parts)
