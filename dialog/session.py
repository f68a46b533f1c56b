"""One conversation: an agent, the state it carries from turn to turn, the backends it may change,
and a log. ``step`` is one exchange (the user's words or acts in, the agent's reply out).

Every loop that holds a conversation steps one: simulated dialogues (``dialog.eval.runner``, and
through it the evaluator, ``tod bench`` and the training-data simulators), corpus replay, the
conversation scripts and the app. Typed to the ``Agent`` protocol, so any agent plays in any of them.

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
from dialog.protocols import Agent
from dialog.types import DialogueAct, DialogueState, GenerationSettings, Reply, Turn

Log = Callable[[int, Turn], None]  # (index in the history, turn): called for each new turn


@dataclass(frozen=True)
class Exchange:
    """One step: what the user said (words, or acts at act level), the reply, and its time."""

    text: str
    acts: tuple[DialogueAct, ...] | None
    reply: Reply
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
        before = len(self.state.history)
        start = time.perf_counter()
        if acts is not None:
            reply: Reply = self.agent.respond_acts(acts, self.state)  # type: ignore[attr-defined]
        elif settings is not None:
            reply = self.agent.respond(text, self.state, settings)  # type: ignore[call-arg]
        else:
            reply = self.agent.respond(text, self.state)
        ms = (time.perf_counter() - start) * 1000
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
