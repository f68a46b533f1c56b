"""AgendaUser: a simulated user that pursues a goal through a dialogue, in SGD user acts.

The component is stateless; each dialogue's progress lives in a ``UserState`` that goes in and out
of ``reply``. The user opens with its intent and some of its constraints (mixed initiative), answers
what the system asks, checks offers and confirmations against its goal, asks for what it wants to
know, falls back on alternative values when a first choice fails, moves on to the next task, and
gives up when the system misunderstands or repeats itself too often (patience).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dialog.backend import Backend
from dialog.common.values import same_value
from dialog.registry import registry
from dialog.schema import Schema
from dialog.types import DONTCARE, ActType, DialogueAct, Goal, SubGoal

A = ActType


def same(a: str, b: str) -> bool:
    """The same value as text, or by meaning ("tomorrow" and tomorrow's date, "8 pm" and "20:00")."""
    return same_value(a, b)


@dataclass
class UserState:
    """One simulated dialogue, from the user's side."""

    goal: Goal
    task: int = 0
    constraints: list[dict[str, str]] = field(default_factory=list)  # per task, alternatives applied
    alternatives: list[dict[str, str]] = field(default_factory=list)  # per task, not yet used
    pending: set[str] = field(default_factory=set)  # requests of the current task not yet answered
    accepted: dict[str, str] = field(default_factory=dict)  # the offer taken for the current task
    told: dict[str, dict[str, str]] = field(default_factory=dict)  # service -> slot -> value said
    found: list[bool] = field(default_factory=list)  # per task: offer accepted / booked
    last_acts: tuple[DialogueAct, ...] = ()
    last_system: tuple[DialogueAct, ...] = ()
    misunderstandings: int = 0
    repeats: int = 0
    turns: int = 1  # user turns so far (the opening is the first)
    done: bool = False
    abandoned: bool = False
    end_reason: str = ""

    @property
    def current(self) -> SubGoal | None:
        return self.goal.tasks[self.task] if self.task < len(self.goal.tasks) else None


@dataclass(frozen=True)
class UserConfig:
    p_volunteer: float = 0.5  # each constraint is given up front, before being asked
    patience: int = 3  # misunderstandings or repeated system turns before giving up


@registry.register("user", "agenda")
class AgendaUser:
    def __init__(
        self,
        schemas: Sequence[Schema],
        backends: Mapping[str, Backend] | None = None,
        config: UserConfig | None = None,
    ) -> None:
        self.schemas = {s.service: s for s in schemas}
        self.config = config or UserConfig()

    # --- starting ----------------------------------------------------------------------------

    def start(self, goal: Goal, rng: random.Random) -> tuple[UserState, tuple[DialogueAct, ...]]:
        user = UserState(
            goal=goal,
            constraints=[dict(t.constraints) for t in goal.tasks],
            alternatives=[dict(t.alternatives) for t in goal.tasks],
            found=[False] * len(goal.tasks),
        )
        acts = self._open_task(user, rng)
        return user, self._say(user, acts)

    def _open_task(self, user: UserState, rng: random.Random) -> list[DialogueAct]:
        task = user.current
        assert task is not None
        user.pending = set(task.requests)
        user.accepted = {}
        acts = [DialogueAct(A.INFORM_INTENT, "intent", (task.intent,), task.service)]
        told = user.told.get(task.service, {})
        for slot, value in user.constraints[user.task].items():
            if slot not in told and rng.random() < self.config.p_volunteer:
                acts.append(DialogueAct(A.INFORM, slot, (value,), task.service))
        return acts

    def _say(self, user: UserState, acts: Sequence[DialogueAct]) -> tuple[DialogueAct, ...]:
        out = tuple(dict.fromkeys(acts))
        for act in out:
            if act.act is A.INFORM and act.slot and act.values and act.service:
                user.told.setdefault(act.service, {})[act.slot] = act.values[0]
        user.last_acts = out
        return out

    def _end(self, user: UserState, reason: str, abandoned: bool = False) -> tuple[DialogueAct, ...]:
        user.done, user.abandoned, user.end_reason = True, abandoned, reason
        return self._say(user, [DialogueAct(A.GOODBYE)])

    # --- replying ----------------------------------------------------------------------------

    def reply(
        self, user: UserState, system: tuple[DialogueAct, ...], rng: random.Random
    ) -> tuple[UserState, tuple[DialogueAct, ...]]:
        if user.done:
            return user, ()
        if system and system == user.last_system:
            user.repeats += 1
        user.last_system = system
        kinds = {a.act for a in system}
        task = user.current
        if A.GOODBYE in kinds:
            user.done, user.end_reason = True, "system goodbye"
            user.abandoned = task is not None
            return user, ()
        if task is None:  # every task done: wind down
            if A.REQ_MORE in kinds:
                return user, self._say(user, [DialogueAct(A.NEGATE), DialogueAct(A.THANK_YOU)])
            return user, self._end(user, "goal done")
        changed = self._change_mind(user)
        user.turns += 1
        if changed:  # a change of mind comes first: whatever the system said is about the old wish
            return user, self._say(user, changed)
        acts = self._react(user, task, system, kinds, rng)
        if user.done:
            return user, acts
        if not acts:
            acts = self._next_step(user, task, kinds, rng)
        if user.repeats + user.misunderstandings >= self.config.patience:
            return user, self._end(user, "patience", abandoned=True)
        return user, self._say(user, acts)

    def _react(
        self,
        user: UserState,
        task: SubGoal,
        system: tuple[DialogueAct, ...],
        kinds: set[ActType],
        rng: random.Random,
    ) -> list[DialogueAct]:
        mine = user.constraints[user.task]
        service = task.service
        acts: list[DialogueAct] = []
        for act in system:
            if act.act is A.INFORM and act.slot:
                user.pending.discard(act.slot)
        if A.NOTIFY_FAILURE in kinds:
            return self._fall_back(user, task, rng)
        if A.NOTIFY_SUCCESS in kinds and task.transactional:
            user.found[user.task] = True
            return self._advance(user, rng)
        offers = {a.slot: a.values[0] for a in system if a.act is A.OFFER and a.slot and a.values}
        if offers and not task.transactional:
            wrong = {
                s: v for s, v in offers.items() if s in mine and mine[s] != DONTCARE and not same(v, mine[s])
            }
            if wrong:
                user.misunderstandings += self._was_told(user, task, wrong)
                return [DialogueAct(A.INFORM, s, (mine[s],), service) for s in wrong]
            user.accepted = offers
            user.found[user.task] = True
        confirms = {a.slot: a.values[0] for a in system if a.act is A.CONFIRM and a.slot and a.values}
        if confirms:
            expected = {**mine, **{s: v for s, v in user.accepted.items() if s in task.from_offer}}
            wrong = {s: v for s, v in confirms.items() if s in expected and not same(v, expected[s])}
            if wrong:
                user.misunderstandings += self._was_told(user, task, wrong)
                acts.append(DialogueAct(A.NEGATE, service=service))
                acts += [DialogueAct(A.INFORM, s, (expected[s],), service) for s in wrong]
                return acts
            return [DialogueAct(A.AFFIRM, service=service)]
        for act in system:
            if act.act is A.REQUEST and act.slot:
                acts += self._answer(user, task, act)
            elif act.act is A.REQUEST:  # "could you say that another way?"
                user.misunderstandings += 1
                acts += [a for a in user.last_acts if a.act is not A.GOODBYE]
        intent_offer = next((a for a in system if a.act is A.OFFER_INTENT and a.values), None)
        if intent_offer is not None:
            following = user.goal.tasks[user.task + 1] if user.task + 1 < len(user.goal.tasks) else None
            if following is not None and following.intent == intent_offer.values[0] and not user.pending:
                return [*acts, *self._advance(user, rng, affirm=True)]
            acts.append(DialogueAct(A.NEGATE_INTENT, "intent", intent_offer.values, service))
        return acts

    def _change_mind(self, user: UserState) -> list[DialogueAct]:
        """A scripted change of mind due at this turn: new constraint values, said at once."""
        task = user.current
        if task is None or user.turns not in task.changes:
            return []
        new = task.changes[user.turns]
        user.constraints[user.task].update(new)
        user.found[user.task] = False
        return [DialogueAct(A.INFORM, slot, (value,), task.service) for slot, value in new.items()]

    def _was_told(self, user: UserState, task: SubGoal, wrong: Mapping[str, str]) -> int:
        """1 when the system got wrong something the user had said (not what it never mentioned)."""
        told = user.told.get(task.service, {})
        mine = user.constraints[user.task]
        return int(any(s in told and s in mine and same(told[s], mine[s]) for s in wrong))

    def _answer(self, user: UserState, task: SubGoal, request: DialogueAct) -> list[DialogueAct]:
        slot = request.slot or ""
        mine = user.constraints[user.task]
        told = user.told.get(task.service, {})
        if slot in mine:
            if request.values and slot in user.alternatives[user.task]:  # asked to choose again
                mine[slot] = user.alternatives[user.task].pop(slot)
            elif slot in told and same(told[slot], mine[slot]) and not request.values:
                user.misunderstandings += 1  # asked again for what was said
            return [DialogueAct(A.INFORM, slot, (mine[slot],), task.service)]
        if slot in task.from_offer and slot in user.accepted:
            return [DialogueAct(A.INFORM, slot, (user.accepted[slot],), task.service)]
        return [DialogueAct(A.INFORM, slot, (DONTCARE,), task.service)]

    def _fall_back(self, user: UserState, task: SubGoal, rng: random.Random) -> list[DialogueAct]:
        """The first choice failed: give an alternative value, or give up."""
        alternatives = user.alternatives[user.task]
        if not alternatives:
            user.found[user.task] = False
            return list(self._end(user, "no alternative left", abandoned=True))
        slot = rng.choice(sorted(alternatives))
        value = alternatives.pop(slot)
        user.constraints[user.task][slot] = value
        return [DialogueAct(A.INFORM, slot, (value,), task.service)]

    def _advance(self, user: UserState, rng: random.Random, affirm: bool = False) -> list[DialogueAct]:
        """The current task is done: open the next one, or thank the system."""
        previous = user.current
        offered = user.accepted
        user.task += 1
        if user.current is None:
            return [DialogueAct(A.THANK_YOU)]
        following = user.current
        acts = self._open_task(user, rng)
        if previous is not None and following.service == previous.service:
            # What the user accepted is now part of what it has told (e.g. the restaurant to book).
            told = user.told.setdefault(following.service, {})
            user.accepted = {s: v for s, v in offered.items() if s in following.from_offer}
            told.update(user.accepted)
        if affirm:
            acts[0] = DialogueAct(A.AFFIRM_INTENT, "intent", (following.intent,), following.service)
        return acts

    def _next_step(
        self, user: UserState, task: SubGoal, kinds: set[ActType], rng: random.Random
    ) -> list[DialogueAct]:
        """Nothing to answer: ask for what is still wanted, or move on."""
        if user.pending and user.found[user.task]:
            return [DialogueAct(A.REQUEST, slot, (), task.service) for slot in sorted(user.pending)]
        if user.found[user.task] and not task.transactional:
            return self._advance(user, rng)
        mine = user.constraints[user.task]
        told = user.told.get(task.service, {})
        untold = [s for s in mine if s not in told]
        if untold:
            return [DialogueAct(A.INFORM, untold[0], (mine[untold[0]],), task.service)]
        user.misunderstandings += 1  # the system is not moving the task forward
        return [DialogueAct(A.INFORM_INTENT, "intent", (task.intent,), task.service)]

    # --- the user's view, for evaluation ----------------------------------------------------

    def satisfaction(self, user: UserState) -> float:
        """How satisfied the user is after the system's latest turn, in [0, 1]: half the patience it
        has left (misunderstandings and repeated system turns use it up), half the share of its
        tasks done; 0 once it has given up."""
        if user.abandoned:
            return 0.0
        left = max(0.0, 1.0 - (user.misunderstandings + user.repeats) / self.config.patience)
        done = sum(user.found) / len(user.found) if user.found else 0.0
        return round(0.5 * left + 0.5 * done, 4)

    def time_out(self, user: UserState) -> None:
        """The dialogue was cut off at the turn cap: abandoned if a task was still open."""
        user.abandoned = user.abandoned or user.current is not None

    def belief(self, user: UserState) -> dict[str, dict[str, str]]:
        """What the user has said so far (and accepted from offers), per service."""
        return {service: dict(values) for service, values in user.told.items()}
