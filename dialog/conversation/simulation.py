"""A simulated dialogue: a ``Session`` with a simulated user on the other side, and the one place where
such a dialogue ends (the system's goodbye, the user done, the turn cap) and is written down.

``run_dialogue`` plays one to the end; it serves ``tod eval dialogues``, ``tod bench``, the app's
Evaluate tab and the training-data simulators. The policy's gym environment (``dialog.user.env``)
steps the same ``SimulatedDialogue`` in halves (``hear``, then ``answer`` with the policy's acts), so
a dialogue ends, is capped and is recorded the same way whether it is evaluated or learned from.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from dialog.backend import Backend
from dialog.conversation.session import Session
from dialog.protocols import Agent, Corruptor, UserSimulator, UserWords
from dialog.types import ActType, DialogueAct, DialogueState, Goal, Reply
from dialog.user.agenda import UserState

Level = Literal["acts", "text"]
MAX_TURNS = 20


@dataclass(frozen=True)
class TurnRecord:
    user_acts: tuple[DialogueAct, ...]  # what the user meant
    heard_acts: tuple[DialogueAct, ...]  # what reached the system after the error model
    user_text: str
    reply: Reply
    ms: float
    user_belief: dict[str, dict[str, str]]  # what the user had said so far, per service
    satisfaction: float | None = None  # the user's, after this system turn (AgendaUser.satisfaction)


@dataclass
class Transcript:
    goal: Goal
    turns: list[TurnRecord] = field(default_factory=list)
    end_reason: str = ""
    user: UserState | None = None

    @property
    def state(self) -> DialogueState:
        return self.turns[-1].reply.state if self.turns else DialogueState()


class SimulatedDialogue:
    """One dialogue between ``session``'s agent and ``user`` towards ``goal``, an exchange a ``step``.

    At ``level="acts"`` the user's acts (through ``errors``, if any) go to the agent as they are; at
    ``"text"`` ``words`` says them. ``done`` once it has ended; ``transcript`` holds every exchange."""

    def __init__(
        self,
        session: Session,
        user: UserSimulator[UserState],
        goal: Goal,
        rng: random.Random,
        level: Level = "acts",
        errors: Corruptor | None = None,
        words: UserWords | None = None,
        max_turns: int = MAX_TURNS,
    ) -> None:
        if level == "text" and words is None:
            raise ValueError("a text-level dialogue needs the user's words (UserWords)")
        self.session, self.user, self.rng = session, user, rng
        self.level, self.errors, self.words, self.max_turns = level, errors, words, max_turns
        self.transcript = Transcript(goal)
        self.user_state, self.acts = user.start(goal, rng)
        self.transcript.user = self.user_state
        self.done = False
        self._said: tuple[tuple[DialogueAct, ...], str] | None = None

    def step(self) -> Reply:
        """The user's next turn and the agent's reply to it."""
        heard, utterance = self._say()
        reply = self.session.step(utterance) if self.level == "text" else self.session.step(acts=heard)
        return self._listen(heard, utterance, reply)

    def hear(self) -> DialogueState:
        """The user's next turn into the agent's state, the system's acts left to ``answer``."""
        heard, utterance = self._said = self._say()
        return self.session.hear(heard, utterance)

    def answer(self, system_acts: tuple[DialogueAct, ...]) -> Reply:
        assert self._said is not None, "answer() comes after hear()"
        (heard, utterance), self._said = self._said, None
        return self._listen(heard, utterance, self.session.answer(system_acts))

    # --- inside -----------------------------------------------------------------------------

    def _say(self) -> tuple[tuple[DialogueAct, ...], str]:
        if self.done:
            raise RuntimeError("the dialogue has ended")
        heard = self.errors.corrupt(self.acts, self.rng) if self.errors is not None else self.acts
        if self.level != "text":
            return heard, ""
        assert self.words is not None
        return heard, self.words.realise(heard, self.rng, self.session.last_reply)

    def _listen(self, heard: tuple[DialogueAct, ...], utterance: str, reply: Reply) -> Reply:
        """The user takes the reply in; the exchange is written down; the dialogue ends if it must."""
        ms = self.session.exchanges[-1].ms
        meant, belief = self.acts, self.user.belief(self.user_state)
        self.user_state, self.acts = self.user.reply(self.user_state, reply.acts, self.rng)
        satisfaction = self.user.satisfaction(self.user_state)
        self.transcript.turns.append(TurnRecord(meant, heard, utterance, reply, ms, belief, satisfaction))
        self.transcript.user = self.user_state
        if any(a.act is ActType.GOODBYE for a in reply.acts):
            self._end(self.user_state.end_reason or "system goodbye")
        elif self.user_state.done and not self.acts:
            self._end(self.user_state.end_reason)
        elif len(self.transcript.turns) >= self.max_turns:
            self.user.time_out(self.user_state)
            self._end("turn cap")
        return reply

    def _end(self, reason: str) -> None:
        self.done, self.transcript.end_reason = True, reason

    @property
    def capped(self) -> bool:
        """Ended by the turn cap rather than by either side (gymnasium's truncation)."""
        return self.done and self.transcript.end_reason == "turn cap"


def run_dialogue(
    agent: Agent,
    user: UserSimulator[UserState],
    goal: Goal,
    rng: random.Random,
    level: Level = "acts",
    errors: Corruptor | None = None,
    words: UserWords | None = None,
    max_turns: int = MAX_TURNS,
    backends: Sequence[Backend] = (),
) -> Transcript:
    """Play one dialogue to its end in a ``Session`` (its ``backends`` sandboxed: what it books is
    rolled back)."""
    with Session(agent, backends) as session:
        dialogue = SimulatedDialogue(session, user, goal, rng, level, errors, words, max_turns)
        while not dialogue.done:
            dialogue.step()
    return dialogue.transcript
