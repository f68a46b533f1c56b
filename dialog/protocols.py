"""One Protocol per stage, each with one verb. Stages keep no per-dialogue state: it goes in and out.

The schemas a component serves are given when it is created (``from_config``) or loaded (``load``);
the verbs below take only what changes from turn to turn.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol, TypeVar, runtime_checkable

from dialog.types import (
    BackendResult,
    DialogueAct,
    DialogueState,
    GenerationSettings,
    Goal,
    Reply,
    StageTrace,
)


@runtime_checkable
class NLU(Protocol):
    def parse(self, text: str, state: DialogueState) -> tuple[DialogueAct, ...]:
        """The user's acts in ``text``, read in the context of ``state`` (e.g. the last system acts)."""
        ...


@runtime_checkable
class DST(Protocol):
    def update(self, state: DialogueState, text: str, acts: tuple[DialogueAct, ...]) -> DialogueState:
        """The state after the user's turn (``text`` and its parsed ``acts``)."""
        ...


@runtime_checkable
class Policy(Protocol):
    def act(self, state: DialogueState) -> tuple[DialogueAct, ...]:
        """The system's acts for this state (the backend's latest results are in ``state.backend``)."""
        ...


@runtime_checkable
class NLG(Protocol):
    def generate(
        self, acts: tuple[DialogueAct, ...], state: DialogueState, settings: GenerationSettings | None = None
    ) -> str:
        """The system's reply realising ``acts`` (decoded with ``settings`` where that applies)."""
        ...


@runtime_checkable
class Agent(Protocol):
    def respond(self, text: str, state: DialogueState, settings: GenerationSettings | None = None) -> Reply:
        """One system turn: the reply, the new state and a trace of each stage (the reply decoded
        with ``settings`` where that applies; None: the agent's own decoding)."""
        ...

    def respond_acts(self, acts: tuple[DialogueAct, ...], state: DialogueState, text: str = "") -> Reply:
        """One system turn from the user's acts as they are (no NLU; the reply's acts, no words)."""
        ...


@runtime_checkable
class StagedAgent(Agent, Protocol):
    """An agent whose turn splits where the system's acts are chosen, so that a policy outside it (one
    being trained) can choose them: ``perceive`` the user's turn, then ``conclude`` with the acts."""

    def perceive(
        self, text: str, acts: tuple[DialogueAct, ...], state: DialogueState, trace: list[StageTrace]
    ) -> tuple[DialogueState, BackendResult | None]: ...

    def conclude(
        self,
        state: DialogueState,
        result: BackendResult | None,
        system_acts: tuple[DialogueAct, ...],
        trace: list[StageTrace],
        settings: GenerationSettings | None,
        speak: bool = True,
    ) -> Reply: ...


class UserProgress(Protocol):
    """What a simulated dialogue reads of the user's own state: whether it is done and why."""

    done: bool
    end_reason: str


U = TypeVar("U", bound=UserProgress)


@runtime_checkable
class UserSimulator(Protocol[U]):
    """A simulated user pursuing a goal in acts. Its progress lives in its own state ``U``, which goes
    in and out like the dialogue state; it sees only the system's acts, never the agent's inside."""

    def start(self, goal: Goal, rng: random.Random) -> tuple[U, tuple[DialogueAct, ...]]:
        """A fresh dialogue towards ``goal``: the user's state and its opening acts."""
        ...

    def reply(
        self, user: U, system_acts: tuple[DialogueAct, ...], rng: random.Random
    ) -> tuple[U, tuple[DialogueAct, ...]]:
        """The user's next acts after the system's (none once it is done)."""
        ...

    def belief(self, user: U) -> dict[str, dict[str, str]]:
        """What the user has said so far, per service."""
        ...

    def satisfaction(self, user: U) -> float:
        """How satisfied it is after the system's latest turn, in [0, 1]."""
        ...

    def time_out(self, user: U) -> None:
        """The dialogue was cut off (turn cap): the user's state records whether it was left wanting."""
        ...


@runtime_checkable
class UserWords(Protocol):
    """Turns a simulated user's acts into what it says (templates, mined SGD turns, a learned model)."""

    def realise(self, acts: Sequence[DialogueAct], rng: random.Random, system: str = "") -> str:
        """The utterance for ``acts``, as a reply to the system's last words ``system``."""
        ...


@runtime_checkable
class Corruptor(Protocol):
    """What the system hears of the user's acts (an error model)."""

    def corrupt(self, acts: Sequence[DialogueAct], rng: random.Random) -> tuple[DialogueAct, ...]: ...
