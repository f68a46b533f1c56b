"""Scripted simulated users: a YAML file of fixed user goals that `tod eval dialogues --goals FILE`
replays instead of sampling goals, so a regression suite of goals can be measured for every agent::

    version: 1
    goals:
      - name: a cheap italian place in Lisbon, then a table there
        seed: 3                      # the user's wording and choices (same seed, same dialogue)
        tasks:
          - service: RestaurantBooking
            intent: FindRestaurant
            constraints: {city: Lisbon, cuisine: italian}
            requests: [phone_number]
            changes: {2: {price_range: cheap}}     # at its third turn the user adds "cheap"
          - service: RestaurantBooking
            intent: BookTable
            constraints: {date: tomorrow, time: 8 pm}
            from_offer: [restaurant_name]           # the restaurant is the one offered
            alternatives: {time: 9 pm}              # if 8 pm fails

Loading is strict: unknown services, intents and slots are located errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dialog.common.yamlpos import Located, Problem, YamlProblems, read_located
from dialog.schema import Schema
from dialog.types import Goal, SubGoal


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str
    intent: str
    constraints: dict[str, str] = Field(default_factory=dict)
    requests: list[str] = Field(default_factory=list)
    alternatives: dict[str, str] = Field(default_factory=dict)
    from_offer: list[str] = Field(default_factory=list)
    changes: dict[int, dict[str, str]] = Field(default_factory=dict)


class GoalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    seed: int = 0
    tasks: list[TaskSpec] = Field(min_length=1)


class GoalsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    goals: list[GoalSpec] = Field(min_length=1)


@dataclass(frozen=True)
class ScriptedGoal:
    name: str
    seed: int
    goal: Goal


def load_goals(path: Path, schemas: Mapping[str, Schema]) -> list[ScriptedGoal]:
    """The goals of a file, checked against the schemas; every problem located, all at once."""
    located = read_located(path)
    file = str(path)
    try:
        parsed = GoalsFile.model_validate(located.data)
    except ValidationError as exc:
        raise YamlProblems(
            [
                _at(located, file, tuple(e["loc"]), f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}")
                for e in exc.errors()
            ]
        ) from None
    problems: list[Problem] = []
    out = []
    for g, spec in enumerate(parsed.goals):
        tasks = []
        for t, task in enumerate(spec.tasks):
            where: tuple[Any, ...] = ("goals", g, "tasks", t)
            schema = schemas.get(task.service)
            if schema is None:
                problems.append(_at(located, file, (*where, "service"), f"unknown service {task.service!r}"))
                continue
            if task.intent not in schema.intent_names:
                message = f"{task.service} has no intent {task.intent!r} ({', '.join(schema.intent_names)})"
                problems.append(_at(located, file, (*where, "intent"), message))
                continue
            named = [
                *((("constraints", s), s) for s in task.constraints),
                *((("alternatives", s), s) for s in task.alternatives),
                *((("requests", i), s) for i, s in enumerate(task.requests)),
                *((("from_offer", i), s) for i, s in enumerate(task.from_offer)),
                *((("changes", str(k), s), s) for k, v in task.changes.items() for s in v),
            ]
            for loc, slot in named:
                if slot not in schema.slot_names:
                    message = f"{task.service} has no slot {slot!r}"
                    problems.append(_at(located, file, (*where, *loc), message, key=isinstance(loc[-1], str)))
            intent = schema.intent(task.intent)
            tasks.append(
                SubGoal(
                    task.service,
                    task.intent,
                    task.constraints,
                    tuple(task.requests),
                    task.alternatives,
                    tuple(task.from_offer),
                    intent.transactional,
                    task.changes,
                )
            )
        out.append(ScriptedGoal(spec.name, spec.seed, Goal(tuple(tasks))))
    if problems:
        raise YamlProblems(problems)
    return out


def _at(located: Located, file: str, loc: tuple[Any, ...], message: str, key: bool = False) -> Problem:
    pos = located.position(loc, prefer_key=key)
    return Problem(file, pos.line, pos.col, message)
