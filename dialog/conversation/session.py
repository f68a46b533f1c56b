"""One conversation: an agent, the state it carries from turn to turn, the backends it may change,
and a log. ``step`` is one exchange (the user's words or acts in, the agent's reply out).

Every loop that holds a conversation steps one: simulated dialogues (``dialog.conversation.simulation``, and
through it the evaluator, the policy's gym environment, ``tod bench`` and the training-data
simulators), corpus replay, the conversation scripts and the app. Typed to the ``Agent`` protocol, so
any agent plays in any of them. A policy being trained chooses the system's acts itself: ``hear`` then
``answer`` are the two halves of a step, split where the agent's own policy would act.

A session opened with backends runs them in a sandbox: what it booked is rolled back when it closes,
so one simulated dialogue never changes the next. The app's sessions have none (bookings are real).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType

from dialog.backend import Backend
from dialog.protocols import Agent, StagedAgent
from dialog.types import (
    BackendResult,
    DialogueAct,
    DialogueState,
    GenerationSettings,
    Reply,
    StageTrace,
    Turn,
)

Log = Callable[[int, Turn], None]  # (index in the history, turn): called for each new turn


@dataclass(frozen=True)
class Exchange:
    """One step: what the user said (words, or acts at act level), the reply, and its time."""

    text: str
    acts: tuple[DialogueAct, ...] | None
    reply: Reply
    ms: float


@dataclass(frozen=True)
class _Heard:
    """A step between ``hear`` and ``answer``."""

    text: str
    acts: tuple[DialogueAct, ...]
    state: DialogueState
    result: BackendResult | None
    trace: list[StageTrace]
    ms: float


class Session:
    """``with Session(agent, backends) as session: session.step("hi")``."""

    def __init__(
        self,
        agent: Agent,
        backends: Iterable[Backend] = (),
        state: DialogueState | None = None,
        log: Log | None = None,
    ) -> None:
        self.agent = agent
        self.state = state if state is not None else DialogueState()
        self.exchanges: list[Exchange] = []
        self.log = log
        self._backends = list(backends)
        self._sandbox = contextlib.ExitStack()
        self._heard: _Heard | None = None
        self._staged: StagedAgent | None = None

    def __enter__(self) -> Session:
        for backend in self._backends:
            self._sandbox.enter_context(backend.sandbox())
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._sandbox.close()

    def step(
        self,
        text: str = "",
        acts: tuple[DialogueAct, ...] | None = None,
        settings: GenerationSettings | None = None,
    ) -> Reply:
        """The agent's reply to ``text`` (every stage runs) or, at act level, to ``acts`` (as they are;
        the agent's ``respond_acts``). The session takes the new state; the log gets the new turns."""
        start = time.perf_counter()
        if acts is not None:
            reply = self.agent.respond_acts(acts, self.state)
        elif settings is not None:
            reply = self.agent.respond(text, self.state, settings)
        else:  # an agent of its own may take only (text, state)
            reply = self.agent.respond(text, self.state)
        return self._take(text, acts, reply, (time.perf_counter() - start) * 1000)

    def hear(self, acts: tuple[DialogueAct, ...], text: str = "") -> DialogueState:
        """The first half of a step whose system acts are chosen outside the agent: the user's acts
        tracked and looked up (the agent must be a ``StagedAgent``). ``answer`` ends the step."""
        if self._staged is None:  # checked once: a protocol check costs more than the rule DST's turn
            if not isinstance(self.agent, StagedAgent):
                raise TypeError(
                    f"{type(self.agent).__name__} cannot take its acts from outside (no perceive)"
                )
            self._staged = self.agent
        start = time.perf_counter()
        trace: list[StageTrace] = []
        state, result = self._staged.perceive(text, acts, self.state, trace)
        self._heard = _Heard(text, acts, state, result, trace, (time.perf_counter() - start) * 1000)
        return state

    def answer(self, system_acts: tuple[DialogueAct, ...]) -> Reply:
        """The second half: the system's ``system_acts`` into the history (as acts, no words)."""
        heard, self._heard = self._heard, None
        if heard is None:
            raise RuntimeError("answer() comes after hear()")
        assert self._staged is not None
        start = time.perf_counter()
        reply = self._staged.conclude(heard.state, heard.result, system_acts, heard.trace, None, speak=False)
        return self._take(heard.text, heard.acts, reply, heard.ms + (time.perf_counter() - start) * 1000)

    def _take(self, text: str, acts: tuple[DialogueAct, ...] | None, reply: Reply, ms: float) -> Reply:
        before = len(self.state.history)
        self.state = reply.state
        self.exchanges.append(Exchange(text, acts, reply, ms))
        if self.log is not None:
            for index in range(before, len(reply.state.history)):
                self.log(index, reply.state.history[index])
        return reply

    @property
    def last_reply(self) -> str:
        """What the system said last ("" before the first step)."""
        return self.exchanges[-1].reply.text if self.exchanges else ""
