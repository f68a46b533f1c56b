from __future__ import annotations

import random

import pytest

from dialog.backend import open_backends
from dialog.conversation.simulation import run_dialogue
from dialog.types import ActType, DialogueAct, Goal, SubGoal
from dialog.user.agenda import AgendaUser, UserConfig
from dialog.user.errors import ErrorModel
from dialog.user.goals import GoalSampler
from dialog.user.text import UserText

A = ActType


def transcript_signature(transcript) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(str(t.user_acts), t.reply.text or str(t.reply.acts)) for t in transcript.turns]


@pytest.mark.parametrize("level", ["acts", "text"])
def test_same_seed_same_dialogues(showcase, form_agent, level: str) -> None:  # type: ignore[no-untyped-def]
    agent, backends = form_agent
    schemas = list(showcase.values())
    user, text = AgendaUser(schemas), UserText(schemas)
    errors = ErrorModel(0.2, schemas, backends)
    runs = []
    for _ in range(2):
        rng = random.Random(7)
        out = []
        for schema in schemas:
            sampler = GoalSampler(schema, backends[schema.service])
            for _ in range(5):
                with backends[schema.service].sandbox():
                    t = run_dialogue(agent, user, sampler.sample(rng), rng, level, errors, text)
                out.append(transcript_signature(t))
        runs.append(out)
    assert runs[0] == runs[1]
    assert len({str(r) for r in runs[0]}) > 10  # and they are not all the same dialogue


def test_goals_are_reachable_from_the_backend(showcase) -> None:  # type: ignore[no-untyped-def]
    schema = showcase["RestaurantBooking"]
    backend = open_backends([schema])[schema.service]
    sampler = GoalSampler(schema, backend)
    rng = random.Random(0)
    books = 0
    for _ in range(100):
        goal = sampler.sample(rng)
        search = goal.tasks[0]
        assert search.intent == "FindRestaurant"
        real = {**search.constraints, **search.alternatives}
        wanted = {k: v for k, v in real.items() if v != "dontcare"}
        assert backend.search("FindRestaurant", wanted), goal  # the real choice matches a row
        if search.alternatives:
            assert not backend.search("FindRestaurant", search.constraints)  # the first one does not
        if len(goal.tasks) == 2:
            books += 1
            assert goal.tasks[1].from_offer == ("restaurant_name",)
    assert 50 < books < 90  # p_book = 0.7


def test_error_model_rates_and_kinds(showcase) -> None:  # type: ignore[no-untyped-def]
    schemas = list(showcase.values())
    backends = open_backends(schemas)
    inform = DialogueAct(A.INFORM, "city", ("Porto",), "RestaurantBooking")
    keep = DialogueAct(A.AFFIRM, service="RestaurantBooking")
    rng = random.Random(1)
    assert ErrorModel(0.0, schemas, backends).corrupt((inform, keep), rng) == (inform, keep)
    model = ErrorModel(0.3, schemas, backends)
    changed = dropped = 0
    for _ in range(2000):
        out = model.corrupt((inform, keep), rng)
        assert keep in out  # only INFORM acts are corrupted
        dropped += len(out) == 1
        changed += len(out) == 2 and out[0] != inform
    assert 0.27 < (changed + dropped) / 2000 < 0.33
    assert 0.07 < dropped / 2000 < 0.13
    with pytest.raises(ValueError, match="error rate"):
        ErrorModel(1.5, schemas, backends)


def test_patience_runs_out_when_the_system_repeats_itself(showcase) -> None:  # type: ignore[no-untyped-def]
    user = AgendaUser(list(showcase.values()), config=UserConfig(patience=2))
    goal = Goal((SubGoal("RestaurantBooking", "FindRestaurant", {"city": "Porto", "cuisine": "thai"}),))
    rng = random.Random(0)
    state, _ = user.start(goal, rng)
    ask = (DialogueAct(A.REQUEST, "city", (), "RestaurantBooking"),)
    state, acts = user.reply(state, ask, rng)
    assert acts[0] == DialogueAct(A.INFORM, "city", ("Porto",), "RestaurantBooking")
    assert user.satisfaction(state) == 0.5  # patience intact, nothing found yet
    state, acts = user.reply(state, ask, rng)  # the same question again: repeated and misunderstood
    assert acts == (DialogueAct(A.GOODBYE),) and state.abandoned and state.end_reason == "patience"
    assert user.satisfaction(state) == 0.0


def test_satisfaction_rises_with_progress_and_falls_with_trouble(showcase) -> None:  # type: ignore[no-untyped-def]
    user = AgendaUser(list(showcase.values()), config=UserConfig(patience=4))
    goal = Goal((SubGoal("RestaurantBooking", "FindRestaurant", {"city": "Porto"}),))
    rng = random.Random(0)
    state, _ = user.start(goal, rng)
    wrong = (DialogueAct(A.OFFER, "city", ("Lisbon",), "RestaurantBooking"),)
    state.told.setdefault("RestaurantBooking", {})["city"] = "Porto"
    state, _ = user.reply(state, wrong, rng)  # an offer that gets what it said wrong
    assert user.satisfaction(state) == 0.5 * (1 - 1 / 4)
    right = (DialogueAct(A.OFFER, "city", ("Porto",), "RestaurantBooking"),)
    state, _ = user.reply(state, right, rng)
    assert user.satisfaction(state) == 0.5 * (1 - 1 / 4) + 0.5  # its one task is done


def test_user_text_is_varied_and_keeps_values(showcase) -> None:  # type: ignore[no-untyped-def]
    text = UserText(list(showcase.values()))
    acts = (
        DialogueAct(A.INFORM_INTENT, "intent", ("FindRestaurant",), "RestaurantBooking"),
        DialogueAct(A.INFORM, "city", ("Porto",), "RestaurantBooking"),
        DialogueAct(A.INFORM, "price_range", ("dontcare",), "RestaurantBooking"),
    )
    rng = random.Random(3)
    said = {text.realise(acts, rng) for _ in range(30)}
    assert len(said) > 5
    assert all("Porto" in s for s in said)


def test_error_model_confidence_is_lower_for_corrupted_acts(showcase) -> None:  # type: ignore[no-untyped-def]
    schemas = list(showcase.values())
    backends = open_backends(schemas)
    inform = DialogueAct(A.INFORM, "city", ("Porto",), "RestaurantBooking")
    model = ErrorModel(0.5, schemas, backends, seed=3)
    rng = random.Random(2)
    right, wrong = [], []
    for _ in range(2000):
        for heard in model.corrupt((inform,), rng):
            assert 0.0 <= heard.confidence <= 1.0
            (right if heard == inform else wrong).append(heard.confidence)
    assert sum(right) / len(right) > 0.7 > 0.4 > sum(wrong) / len(wrong)
    assert max(wrong) > 0.5 and min(right) < 0.5  # informative, not a giveaway
    # The confidences have their own random stream: the errors drawn are those without them.
    rng_a, rng_b = random.Random(7), random.Random(7)
    plain = [
        ErrorModel(0.5, schemas, backends, seed=s).corrupt((inform,), rng)
        for s, rng in ((0, rng_a), (1, rng_b))
    ]
    assert plain[0] == plain[1]  # same acts (confidence is not part of an act's identity)
