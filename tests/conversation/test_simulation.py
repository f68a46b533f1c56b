"""The simulated dialogue: one loop for evaluation and for the policy's gym environment, typed to the
protocols that the user, its words and the error model implement."""

from __future__ import annotations

import random

import pytest

from dialog.backend import open_backends
from dialog.conversation.agent import create_agent
from dialog.conversation.session import Session
from dialog.conversation.simulation import SimulatedDialogue, run_dialogue
from dialog.policy.train import PolicyTrainSpec, form_chooser, make_env
from dialog.protocols import Corruptor, StagedAgent, UserSimulator, UserWords
from dialog.types import Goal, SubGoal
from dialog.user.agenda import AgendaUser
from dialog.user.errors import ErrorModel
from dialog.user.goals import GoalSampler
from dialog.user.text import UserText

GOAL = Goal((SubGoal("RestaurantBooking", "FindRestaurant", {"city": "Porto", "cuisine": "italian"}),))


def signature(transcript):  # type: ignore[no-untyped-def]
    return [
        (t.user_acts, t.heard_acts, t.reply.acts, t.user_belief, t.satisfaction) for t in transcript.turns
    ]


def test_the_user_side_implements_the_protocols(showcase) -> None:  # type: ignore[no-untyped-def]
    schemas = list(showcase.values())
    backends = open_backends(schemas)
    assert isinstance(AgendaUser(schemas), UserSimulator)
    assert isinstance(UserText(schemas), UserWords)
    assert isinstance(ErrorModel(0.1, schemas, backends), Corruptor)
    assert isinstance(create_agent("form", schemas, backends), StagedAgent)


def test_stepping_in_halves_plays_the_same_dialogue(showcase, form_agent) -> None:  # type: ignore[no-untyped-def]
    """``hear`` then ``answer`` with the agent's own policy's acts is the same as ``step``: what the
    gym environment learns from is what the evaluator measures."""
    agent, backends = form_agent
    schemas = list(showcase.values())
    user, errors = AgendaUser(schemas), ErrorModel(0.2, schemas, backends)
    sampler = GoalSampler(showcase["BankTransfer"], backends["BankTransfer"])
    for k in range(5):
        goal = sampler.sample(random.Random(k))
        whole = run_dialogue(agent, user, goal, random.Random(k), errors=errors, backends=backends.values())
        with Session(agent, backends.values()) as session:
            halves = SimulatedDialogue(session, user, goal, random.Random(k), errors=errors)
            while not halves.done:
                state = halves.hear()
                halves.answer(agent.policy.act(state))
        assert signature(halves.transcript) == signature(whole)
        assert halves.transcript.end_reason == whole.end_reason and whole.end_reason


def test_the_turn_cap_is_a_truncation_and_the_user_is_left_wanting(showcase, form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, backends = form_agent
    with Session(agent, backends.values()) as session:
        dialogue = SimulatedDialogue(
            session, AgendaUser(list(showcase.values())), GOAL, random.Random(0), max_turns=2
        )
        dialogue.step()
        assert not dialogue.done
        dialogue.step()
        assert dialogue.done and dialogue.capped and dialogue.transcript.end_reason == "turn cap"
        assert dialogue.transcript.user is not None and dialogue.transcript.user.abandoned
        with pytest.raises(RuntimeError, match="ended"):
            dialogue.step()


def test_a_text_level_dialogue_needs_words(showcase, form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, backends = form_agent
    with Session(agent, backends.values()) as session, pytest.raises(ValueError, match="UserWords"):
        SimulatedDialogue(session, AgendaUser(list(showcase.values())), GOAL, random.Random(0), "text")


def test_halves_need_an_agent_that_splits_and_come_in_order(showcase, form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, backends = form_agent

    class Whole:  # an Agent with no perceive / conclude (as SimpleTOD's)
        def respond(self, text, state, settings=None):  # type: ignore[no-untyped-def]
            return agent.respond(text, state, settings)

        def respond_acts(self, acts, state, text=""):  # type: ignore[no-untyped-def]
            return agent.respond_acts(acts, state, text)

    with Session(Whole()) as session, pytest.raises(TypeError, match="perceive"):
        session.hear(())
    with Session(agent, backends.values()) as session, pytest.raises(RuntimeError, match="after hear"):
        session.answer(())


def test_the_gym_environment_ends_as_the_evaluation_does(showcase) -> None:  # type: ignore[no-untyped-def]
    """Episodes of the environment played with the form policy's moves end, and are scored, as
    simulated dialogues: terminated or truncated with the transcript's reason, the booking rolled back."""
    schemas = list(showcase.values())
    backends = open_backends(schemas)
    before = {s: b.fingerprint() for s, b in backends.items()}
    env = make_env(PolicyTrainSpec(error_rates=[0.0], max_turns=6), schemas, backends, seed=3)
    ends = []
    for episode in range(12):
        obs, _ = env.reset(seed=episode)
        terminated = truncated = False
        steps = 0
        while not (terminated or truncated):
            obs, _reward, terminated, truncated, info = env.step(form_chooser(env, obs))
            steps += 1
        assert env.transcript is not None and len(env.transcript.turns) == steps <= 6
        assert truncated == (env.transcript.end_reason == "turn cap")
        ends.append((env.transcript.end_reason, info["success"]))
    assert any(success for _, success in ends)
    assert {s: b.fingerprint() for s, b in backends.items()} == before
