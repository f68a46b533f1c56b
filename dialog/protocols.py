"""One Protocol per stage, each with one verb. Stages keep no per-dialogue state: it goes in and out.

The schemas a component serves are given when it is created (``from_config``) or loaded (``load``);
the verbs below take only what changes from turn to turn.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from dialog.types import DialogueAct, DialogueState, GenerationSettings, Goal, Reply


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
    def respond(self, text: str, state: DialogueState) -> Reply:
        """One system turn: the reply, the new state and a trace of each stage."""
        ...


@runtime_checkable
class UserSimulator(Protocol):
    def reply(
        self, goal: Goal, system_acts: tuple[DialogueAct, ...], state: DialogueState
    ) -> tuple[tuple[DialogueAct, ...], str]:
        """The simulated user's next acts and utterance, given its goal and what the system did."""
        ...
