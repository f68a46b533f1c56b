"""User goals sampled from a schema and its backend, so that every goal can be reached.

A goal is a search (constraints taken from a real row, some result slots to ask for) and, often,
the transactional intent that follows it (book what was found). With probability ``p_fail`` a first
choice is made that cannot succeed, with the real value kept as the alternative to fall back on.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from dialog.backend import Backend
from dialog.errors import TodError
from dialog.schema import Intent, Schema
from dialog.types import Goal, Row, SubGoal


@dataclass(frozen=True)
class GoalConfig:
    p_book: float = 0.7  # a search is followed by its transactional intent
    p_optional: float = 0.3  # each optional slot becomes a constraint
    p_fail: float = 0.15  # a first choice that fails, with an alternative
    max_requests: int = 2


class GoalSampler:
    """Samples goals for one service. Create once per service; ``sample`` takes the RNG."""

    def __init__(self, schema: Schema, backend: Backend, config: GoalConfig | None = None) -> None:
        self.schema = schema
        self.backend = backend
        self.config = config or GoalConfig()
        self.rows = {name: backend.rows(name) for name in schema.backend.tables}
        self.vocabulary = backend.slot_values()
        searches = [i for i in schema.intents if not i.transactional and i.table and self.rows[i.table]]
        followups = {f.name for i in searches for f in schema.followups(i.name)}
        standalone = [i for i in schema.intents if i.transactional and i.name not in followups]
        # A goal starts with a search (maybe followed by its transaction) or a standalone transaction.
        self.starts = searches + standalone
        if not self.starts:
            raise TodError(
                f"{schema.service}: no goal possible (no searchable table and no transactional intent)"
            )

    def values_of(self, slot: str) -> list[str]:
        spec = self.schema.slot(slot)
        if spec.categorical:
            return list(spec.values)
        return self.vocabulary.get(slot) or list(spec.examples) or list(spec.values) or [f"my {slot}"]

    def sample(self, rng: random.Random) -> Goal:
        cfg = self.config
        start = rng.choice(self.starts)
        search = None if start.transactional else start
        book: Intent | None = start if start.transactional else None
        if search is not None:
            followups = self.schema.followups(search.name)
            if followups and rng.random() < cfg.p_book:
                book = rng.choice(followups)
        book_row: Row = {}
        if book is not None and book.table and self.rows[book.table]:
            book_row = rng.choice(self.rows[book.table])
        tasks = []
        found: Row = {}
        searched: set[str] = set()
        if search is not None:
            task, found = self._search_task(search, book_row, rng)
            tasks.append(task)
            searched = set(task.constraints)
        if book is not None:
            tasks.append(self._book_task(book, search, found, searched, book_row, rng))
        return Goal(tuple(tasks))

    def _search_task(self, intent: Intent, book_row: Row, rng: random.Random) -> tuple[SubGoal, Row]:
        assert intent.table is not None
        rows = self.rows[intent.table]
        shared = {k: v for k, v in book_row.items() if k in self.backend.columns(intent.table)}
        fitting = [r for r in rows if all(r.get(k) == v for k, v in shared.items())] or list(rows)
        row = rng.choice(fitting)
        constraints = {
            s: row[s] if s in row else rng.choice(self.values_of(s)) for s in intent.required_slots
        }
        for slot in intent.optional_slots:
            if slot in row and rng.random() < self.config.p_optional:
                constraints[slot] = row[slot]
        key = self.schema.key_slot(intent.name)
        askable = [s for s in intent.result_slots if s in row and s not in constraints and s != key]
        requests = tuple(rng.sample(askable, rng.randint(0, min(self.config.max_requests, len(askable)))))
        alternatives = {}
        if rng.random() < self.config.p_fail:
            alternatives = self._failing_choice(intent, constraints, rng)
        return SubGoal(self.schema.service, intent.name, constraints, requests, alternatives), row

    def _failing_choice(
        self, intent: Intent, constraints: dict[str, str], rng: random.Random
    ) -> dict[str, str]:
        """Replace one constraint by a value that matches no row; return the real one as alternative."""
        assert intent.table is not None
        columns = self.backend.columns(intent.table)
        slots = [s for s in constraints if s in columns]
        rng.shuffle(slots)
        return self._spoil(intent.table, constraints, constraints, slots, rng)

    def _spoil(
        self, table: str, constraints: dict[str, str], context: Row, slots: list[str], rng: random.Random
    ) -> dict[str, str]:
        """Set the first of ``slots`` that allows it to a value that no row of ``table`` has along with
        the rest of ``context``; return ``{slot: the real value}`` (empty when none allows it)."""
        for slot in slots:
            others = {s: v for s, v in context.items() if s != slot}
            present = {v.casefold() for v in self.backend.distinct(table, slot, others)}
            wrong = [v for v in self.values_of(slot) if v.casefold() not in present]
            if wrong:
                real = constraints[slot]
                constraints[slot] = rng.choice(wrong)
                return {slot: real}
        return {}

    def _book_task(
        self,
        intent: Intent,
        search: Intent | None,
        found: Row,
        searched: set[str],
        book_row: Row,
        rng: random.Random,
    ) -> SubGoal:
        offered: set[str] = set()
        if search is not None:
            # What the user takes from the offer: slots booking needs that the search found and the
            # user did not search by.
            offered = (set(search.result_slots) & set(intent.required_slots) & set(found)) - searched
        constraints: dict[str, str] = {}
        for slot in intent.required_slots:
            if slot in offered:
                continue
            if slot in book_row:
                constraints[slot] = book_row[slot]
            elif slot in found:
                constraints[slot] = found[slot]
            else:
                constraints[slot] = rng.choice(self.values_of(slot))
        for slot, default in intent.optional_slots.items():
            if slot not in offered and rng.random() < self.config.p_optional:
                values = [v for v in self.values_of(slot) if v != default] or [default]
                constraints[slot] = book_row.get(slot) or found.get(slot) or rng.choice(values)
        alternatives = {}
        if intent.table and book_row and rng.random() < self.config.p_fail:
            alternatives = self._unavailable(intent, constraints, book_row, rng)
        return SubGoal(
            self.schema.service,
            intent.name,
            constraints,
            (),
            alternatives,
            from_offer=tuple(sorted(offered)),
            transactional=True,
        )

    def _unavailable(
        self, intent: Intent, constraints: dict[str, str], book_row: Row, rng: random.Random
    ) -> dict[str, str]:
        """A first choice that the table does not hold (e.g. a time that is taken)."""
        assert intent.table is not None
        slots = [s for s in rng.sample(sorted(book_row), len(book_row)) if s in constraints]
        return self._spoil(intent.table, constraints, book_row, slots, rng)


def goal_samplers(schemas: list[Schema], backends: Mapping[str, Backend]) -> dict[str, GoalSampler]:
    return {s.service: GoalSampler(s, backends[s.service]) for s in schemas}


def episodes(
    schemas: Sequence[Schema], backends: Mapping[str, Backend], n: int, seed: int | str
) -> Iterator[tuple[int, Schema, Goal, random.Random]]:
    """``n`` goals per schema, each with the RNG of its own dialogue (the simulated user's choices and
    wording): (index within the schema, schema, goal, rng). The goals come from one RNG per schema and
    each dialogue's RNG from its index, so every agent run with the same seed meets the same goals,
    and how one dialogue went does not change the next; adding a schema does not change the others."""
    samplers = goal_samplers(list(schemas), backends)
    for schema in schemas:
        goals_rng = random.Random(f"{seed}:{schema.service}")
        for i in range(n):
            goal = samplers[schema.service].sample(goals_rng)
            yield i, schema, goal, random.Random(f"{seed}:{schema.service}:{i}")
