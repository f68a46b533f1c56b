"""The one dialogue runner: an agent against a simulated user, turn by turn, with a full transcript.

Used by ``tod eval dialogues``, the RL environment, ``tod bench``, the training-data simulators and
the app's evaluate tab; each dialogue is a ``dialog.session.Session``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from dialog.agent import PipelineAgent
from dialog.backend import Backend
from dialog.session import Session
from dialog.types import ActType, DialogueAct, DialogueState, Goal, Reply
from dialog.user.agenda import AgendaUser, UserState
from dialog.user.errors import ErrorModel
from dialog.user.learned import LearnedUserText
from dialog.user.text import UserText

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


def run_dialogue(
    agent: PipelineAgent,
    user: AgendaUser,
    goal: Goal,
    rng: random.Random,
    level: Level = "acts",
    errors: ErrorModel | None = None,
    text: UserText | LearnedUserText | None = None,
    max_turns: int = MAX_TURNS,
    backends: Sequence[Backend] = (),
) -> Transcript:
    """Play one dialogue in a ``Session`` (its ``backends`` sandboxed: what it books is rolled back);
    stops on a goodbye, when the user is done, or at ``max_turns``."""
    if level == "text" and text is None:
        raise ValueError("a text-level run needs a UserText")
    transcript = Transcript(goal)
    user_state, acts = user.start(goal, rng)
    with Session(agent, backends) as session:
        for _ in range(max_turns):
            heard = errors.corrupt(acts, rng) if errors is not None else acts
            if level == "text":
                assert text is not None
                utterance = text.realise(heard, rng, session.last_reply)
                reply = session.step(utterance)
            else:
                utterance = ""
                reply = session.step(acts=heard)
            ms = session.exchanges[-1].ms
            belief = user.belief(user_state)
            heard_user, user_state, acts = acts, *user.reply(user_state, reply.acts, rng)
            satisfaction = user.satisfaction(user_state)
            transcript.turns.append(TurnRecord(heard_user, heard, utterance, reply, ms, belief, satisfaction))
            if any(a.act is ActType.GOODBYE for a in reply.acts):
                transcript.end_reason = user_state.end_reason or "system goodbye"
                break
            if user_state.done and not acts:
                transcript.end_reason = user_state.end_reason
                break
        else:
            transcript.end_reason = "turn cap"
            user_state.abandoned = user_state.abandoned or user_state.current is not None
    transcript.user = user_state
    return transcript
