"""The learned policy's pieces: moves and masks, features, the gymnasium environment, training for a
few steps, and the committed policy."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from dialog.backend import open_backends
from dialog.errors import TodError
from dialog.eval.dialogues import EvalConfig, evaluate
from dialog.policy.actions import ActionSpace, Move
from dialog.policy.features import MAX_SLOTS, SIZE, SLOT_FEATURES, observe
from dialog.policy.train import PolicyTrainSpec, form_chooser, make_env, rollout, train_policy
from dialog.types import ActType, DialogueAct, DialogueState

A = ActType
ROOT = Path(__file__).resolve().parents[2]


def test_every_form_decision_is_a_move_and_is_allowed(showcase) -> None:  # type: ignore[no-untyped-def]
    schemas = list(showcase.values())
    backends = open_backends(schemas)
    space = ActionSpace(schemas, backends)
    result = evaluate(schemas, backends, EvalConfig(n=15, seed=4, nlu_error=0.2), keep_transcripts=15)
    labelled = total = 0
    for transcript in result.transcripts:
        for turn in transcript.turns:
            before = replace(turn.reply.state, history=turn.reply.state.history[:-1])
            situation = space.situation(before)
            move = space.label(situation, turn.reply.acts)
            total += 1
            if move is not None:
                labelled += 1
                assert space.mask(situation)[move]
    assert labelled / total > 0.99


def test_moves_write_the_acts_of_the_service(form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, backends = form_agent
    space = ActionSpace(list(agent.policy.schemas.values()), backends)
    opening = (
        DialogueAct(A.INFORM_INTENT, "intent", ("TransferMoney",), "BankTransfer"),
        DialogueAct(A.INFORM, "amount", ("50 euros",), "BankTransfer", confidence=0.2),
    )
    state, _ = agent.perceive("", opening, DialogueState(), [])
    s = space.situation(state)
    mask = space.mask(s)
    assert mask[Move.REQUEST_NEXT] and mask[Move.REQUEST_ALL] and mask[Move.CONFIRM_HEARD]
    assert not mask[Move.OFFER] and not mask[Move.NOTIFY_SUCCESS] and not mask[Move.CONFIRM_BOOKING]
    asked = [a.slot for a in space.acts(s, Move.REQUEST_ALL)]
    assert asked[0] == space.acts(s, Move.REQUEST_NEXT)[0].slot and len(asked) == 2
    assert space.acts(s, Move.CONFIRM_HEARD) == (
        DialogueAct(A.CONFIRM, "amount", ("50 euros",), "BankTransfer"),
    )
    assert mask[Move.CONFIRM_UNSURE] and space.acts(s, Move.CONFIRM_UNSURE) == space.acts(
        s, Move.CONFIRM_HEARD
    )
    first = space.acts(s, Move.REQUEST_NEXT)[0].slot
    suggested = space.acts(s, Move.REQUEST_OPTIONS)
    assert suggested[0].slot == first and 1 <= len(suggested[0].values) <= 3
    vector = observe(s)
    assert vector.shape == (SIZE,) and vector.min() >= 0.0 and vector.max() <= 1.0
    slots = vector[: MAX_SLOTS * SLOT_FEATURES].reshape(MAX_SLOTS, SLOT_FEATURES)
    amount = list(showcase_slots(space, "BankTransfer", "TransferMoney")).index("amount")
    assert slots[amount][2] == 1.0 and slots[amount][3] == pytest.approx(0.2)  # filled, heard at 0.2
    assert slots[amount][6] == 1.0  # heard in the last turn


def showcase_slots(space: ActionSpace, service: str, intent: str) -> list[str]:
    found = space.schemas[service].intent(intent)
    return [*found.required_slots, *found.optional_slots]


def test_environment_passes_check_env_and_replays_the_form(showcase) -> None:  # type: ignore[no-untyped-def]
    from stable_baselines3.common.env_checker import check_env

    schemas = list(showcase.values())
    backends = open_backends(schemas)
    env = make_env(PolicyTrainSpec(error_rates=[0.0, 0.2]), schemas, backends, seed=0)
    check_env(env)
    clean = rollout(env, form_chooser, 30, seed=1, error_rate=0.0)
    assert clean["success"] == 1.0  # the form's moves through the environment succeed as the form does
    noisy = rollout(env, form_chooser, 60, seed=1, error_rate=0.3)
    assert noisy["success"] < 0.95


def test_training_a_few_steps_beats_a_random_policy(tmp_path, showcase) -> None:  # type: ignore[no-untyped-def]
    spec = PolicyTrainSpec(
        schemas=[str(ROOT / "schemas/showcase/bank_transfer.yaml")],
        error_rates=[0.0],
        seeds=[0],
        bc_dialogues=100,
        bc_epochs=10,
        timesteps=512,
        n_steps=256,
        batch_size=64,
        eval_every=256,
        eval_dialogues=20,
        eval_rates=[0.0],
        threads=1,
    )
    meta = train_policy(spec, tmp_path / "policy", log=None)
    trained = meta["seeds"][0]["best"]["success@0"]
    schemas = [showcase["BankTransfer"]]
    env = make_env(spec, schemas, open_backends(schemas), seed=5)
    rng = random.Random(0)

    def random_move(env, _obs):  # type: ignore[no-untyped-def]
        return rng.choice([i for i, ok in enumerate(env.action_masks()) if ok])

    chance = rollout(env, random_move, 40, seed=2)["success"]
    assert trained >= 0.9 and trained > chance + 0.3, (trained, chance)
    assert (tmp_path / "policy" / "model.zip").is_file() and (tmp_path / "policy" / "curves.png").is_file()


def test_a_missing_or_broken_policy_is_a_clear_error(tmp_path, showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.policy.ppo import PPOPolicy

    with pytest.raises(TodError, match="no trained policy"):
        PPOPolicy.load(list(showcase.values()), model=str(tmp_path / "nowhere"))
    (tmp_path / "model.zip").write_bytes(b"not a zip")
    with pytest.raises(TodError, match=r"model\.zip"):
        PPOPolicy.load(list(showcase.values()), model=str(tmp_path))


def test_committed_policy_loads_and_succeeds_on_unseen_schemas(showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.conversation.agent import create_agent

    schemas = list(showcase.values())  # never seen in training (SGD services only)
    backends = open_backends(schemas)
    agent = create_agent("form", schemas, backends, policy="ppo")
    assert agent.names["policy"] == "ppo"
    clean = evaluate(schemas, backends, EvalConfig(n=20, seed=3), agent=agent).metrics
    assert clean["success_rate"] >= 0.95
    noisy = EvalConfig(n=60, seed=3, nlu_error=0.2)
    ppo = evaluate(schemas, backends, noisy, agent=agent).metrics
    form = evaluate(schemas, backends, noisy).metrics
    assert ppo["success_rate"] >= form["success_rate"]  # recorded: clearly higher on 500 per schema
