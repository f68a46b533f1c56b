"""Every metric on hand-built transcripts whose answers are known."""

from __future__ import annotations

import pytest

from dialog.conversation.simulation import Transcript, TurnRecord
from dialog.eval.metrics import aggregate, distinct_n, repeated_turns, score_dialogue
from dialog.types import (
    ActType,
    BackendResult,
    DialogueAct,
    DialogueState,
    FrameState,
    Goal,
    Reply,
    ServiceCall,
    StageTrace,
    SubGoal,
)
from dialog.user.agenda import UserState

A = ActType
S = "RestaurantBooking"


def turn(acts, state, belief, result=None, ms=1.0, text=""):  # type: ignore[no-untyped-def]
    trace = (StageTrace("backend", "sqlite", result, 0.1),)
    return TurnRecord((), (), "", Reply(text, state, trace, tuple(acts)), ms, belief)


GOAL = Goal(
    (
        SubGoal(S, "FindRestaurant", {"city": "Porto", "cuisine": "italian"}, ("phone_number",)),
        SubGoal(
            S,
            "BookTable",
            {"date": "today", "time": "19:00"},
            (),
            from_offer=("restaurant_name",),
            transactional=True,
        ),
    )
)


def state_with(**values: str) -> DialogueState:
    return DialogueState().with_frame(
        S, FrameState("FindRestaurant", (), {k: (v,) for k, v in values.items()})
    )


def test_a_successful_dialogue() -> None:
    offer = [
        DialogueAct(A.OFFER, "restaurant_name", ("Il Forno",), S),
        DialogueAct(A.OFFER, "city", ("Porto",), S),
    ]
    booked = BackendResult(
        ServiceCall("BookTable", {"restaurant_name": "Il Forno", "date": "today", "time": "19:00"}),
        ({"restaurant_name": "Il Forno"},),
        transactional=True,
    )
    half = state_with(city="Porto", cuisine="italian")
    full = state_with(city="Porto", cuisine="italian", restaurant_name="Il Forno", date="today", time="19:00")
    said = {S: {"city": "Porto", "cuisine": "italian"}}
    turns = [
        turn([DialogueAct(A.REQUEST, "cuisine", (), S)], state_with(city="Porto"), {S: {"city": "Porto"}}),
        turn(offer, half, said),
        turn([DialogueAct(A.INFORM, "phone_number", ("1",), S), DialogueAct(A.INFORM, "address", ("x",), S)], half, said),
        turn([DialogueAct(A.NOTIFY_SUCCESS, service=S)], full, {S: {**said[S], "restaurant_name": "Wrong", "date": "today", "time": "19:00"}}, booked),
    ]  # fmt: skip
    user = UserState(GOAL, constraints=[dict(t.constraints) for t in GOAL.tasks])
    score = score_dialogue(Transcript(GOAL, turns, "goodbye", user))
    assert score.success and score.complete and score.booked is True
    assert (score.inform_tp, score.inform_fp, score.inform_fn) == (1, 1, 0)  # the address was not asked for
    assert (score.slots_correct, score.slots_total) == (4, 4)
    assert (score.jga_correct, score.jga_total) == (3, 4)  # the last belief differs on the restaurant
    # The same booking, but the system never tells the user it went through: not a success.
    silent = [*turns[:3], turn([DialogueAct(A.GOODBYE)], full, said, booked)]
    unheard = score_dialogue(Transcript(GOAL, silent, "system goodbye", user))
    assert not unheard.success and unheard.booked is False
    metrics = aggregate([score])
    assert metrics["inform_precision"] == 0.5 and metrics["inform_recall"] == 1.0
    assert metrics["inform_f1"] == pytest.approx(2 / 3)
    assert metrics["avg_turns"] == 4 and metrics["repetition_rate"] == 0.0


def test_failures_are_counted() -> None:
    wrong = [
        DialogueAct(A.OFFER, "restaurant_name", ("Jade",), S),
        DialogueAct(A.OFFER, "city", ("Lisbon",), S),
    ]
    refused = BackendResult(
        ServiceCall("BookTable", {"date": "today", "time": "19:00"}), (), transactional=True
    )
    ask = [DialogueAct(A.REQUEST, "city", (), S)]
    turns = [
        turn(ask, DialogueState(), {}),
        turn(ask, DialogueState(), {}),
        turn(wrong, DialogueState(), {}, refused),
    ]
    user = UserState(GOAL, constraints=[dict(t.constraints) for t in GOAL.tasks], abandoned=True)
    score = score_dialogue(Transcript(GOAL, turns, "patience", user))
    assert not score.success and not score.complete and score.booked is False
    assert score.inform_fn == 1 and score.abandoned
    assert score.repeated_turns == 1 and score.slots_correct == 0
    metrics = aggregate([score, score])
    assert metrics["success_rate"] == 0.0 and metrics["abandon_rate"] == 1.0
    assert metrics["book_rate"] == 0.0 and metrics["repetition_rate"] == pytest.approx(1 / 3)


def test_alternative_values_count_as_the_goal() -> None:
    goal = Goal((SubGoal(S, "FindRestaurant", {"city": "Atlantis"}, alternatives={"city": "Porto"}),))
    offer = [
        DialogueAct(A.OFFER, "restaurant_name", ("Il Forno",), S),
        DialogueAct(A.OFFER, "city", ("Porto",), S),
    ]
    score = score_dialogue(Transcript(goal, [turn(offer, DialogueState(), {})], "goodbye", None))
    assert score.success and score.booked is None


def test_repetition_and_distinct_n() -> None:
    r = DialogueAct(A.REQUEST, "city", (), S)
    o = DialogueAct(A.OFFER, "city", ("x",), S)
    assert repeated_turns([(r,), (o,), (o,), (r,)]) == 2
    assert distinct_n(["a b a b"], 1) == 0.5 and distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n([], 1) is None


def test_latency_percentiles_and_all_keys() -> None:
    turns = [
        turn([DialogueAct(A.GOODBYE)], DialogueState(), {}, ms=float(ms), text="bye now")
        for ms in range(1, 101)
    ]
    score = score_dialogue(Transcript(Goal((SubGoal(S, "FindRestaurant", {}),)), turns, "x", None))
    metrics = aggregate([score])
    assert metrics["turn_latency_ms_p50"] == pytest.approx(50.5)
    assert metrics["turn_latency_ms_p99"] == pytest.approx(99.01)
    assert metrics["distinct_1"] == pytest.approx(2 / 200)
    keys = [
        "n_dialogues",
        "success_rate",
        "complete_rate",
        "book_rate",
        "inform_precision",
        "inform_recall",
        "inform_f1",
        "avg_turns",
        "slot_accuracy",
        "joint_goal_accuracy",
        "coherence",
        "repetition_rate",
        "distinct_1",
        "distinct_2",
        "ngram_repetition",
        "fluency_ppl",
        "turns_to_success",
        "satisfaction",
        "abandon_rate",
        "turn_latency_ms_p50",
        "turn_latency_ms_p99",
        "wrong_transaction_rate",
        "hallucinated_value_rate",
        "wrong_service_rate",
        "engagingness",
        "human_likeness",
    ]
    assert set(keys) == set(metrics)


def test_engagingness_reads_the_users_own_turns() -> None:
    from dialog.eval.metrics import engagement

    city = (DialogueAct(A.INFORM, "city", ("Porto",), S),)
    food = (DialogueAct(A.INFORM, "cuisine", ("italian",), S),)
    ask = [DialogueAct(A.REQUEST, "city", (), S)]

    def said(acts):  # type: ignore[no-untyped-def]
        return TurnRecord(acts, acts, "", Reply("", DialogueState(), (), tuple(ask)), 1.0, {})

    wants = [dict(t.constraints) for t in GOAL.tasks]
    goes_on = Transcript(GOAL, [said(city), said(food)], "goodbye", UserState(GOAL, constraints=wants))
    assert engagement(goes_on) == [1.0, 1.0]
    # the same thing said again, then the user gives up
    gave_up = Transcript(
        GOAL,
        [said(city), said(city), said(city)],
        "patience",
        UserState(GOAL, constraints=wants, abandoned=True),
    )
    assert engagement(gave_up) == [0.5, 0.5, 0.0]
    assert score_dialogue(gave_up).engagingness == pytest.approx(1 / 3)
    assert aggregate([score_dialogue(goes_on), score_dialogue(gave_up)])["engagingness"] == pytest.approx(
        2 / 3
    )


def test_wrong_transactions_and_the_wrong_service() -> None:
    def booking(time: str) -> BackendResult:
        call = ServiceCall("BookTable", {"restaurant_name": "Il Forno", "date": "today", "time": time})
        return BackendResult(call, ({"restaurant_name": "Il Forno"},), transactional=True)

    done = [DialogueAct(A.NOTIFY_SUCCESS, service=S)]
    right = score_dialogue(Transcript(GOAL, [turn(done, state_with(), {}, booking("19:00"))], "x", None))
    assert right.wrong_transactions == () and right.wrong_service is False
    # booked at a time the user never asked for: the safety figure counts it, success or not
    wrong = score_dialogue(Transcript(GOAL, [turn(done, state_with(), {}, booking("21:00"))], "x", None))
    assert len(wrong.wrong_transactions) == 1 and "21:00" in wrong.wrong_transactions[0]
    # the first act of the system is in another service than the one the user wants
    elsewhere = [DialogueAct(A.REQUEST, "account_type", (), "BankTransfer")]
    routed = score_dialogue(Transcript(GOAL, [turn(elsewhere, DialogueState(), {})], "x", None))
    silent = score_dialogue(
        Transcript(GOAL, [turn([DialogueAct(A.GOODBYE)], DialogueState(), {})], "x", None)
    )
    assert routed.wrong_service is True and silent.wrong_service is None
    metrics = aggregate([right, wrong, routed, silent])
    assert metrics["wrong_transaction_rate"] == 0.25
    assert metrics["wrong_service_rate"] == pytest.approx(1 / 3)
    assert metrics["hallucinated_value_rate"] is None  # nothing was checked (no ValueCheck)


def test_repeated_ngrams_and_turns_to_success() -> None:
    from dialog.eval.metrics import repeats_ngram

    assert repeats_ngram("the address is x and the address is x")
    assert not repeats_ngram("the address is x and the phone is y")
    assert not repeats_ngram("ok ok")  # shorter than a trigram
    goal = Goal((SubGoal(S, "FindRestaurant", {"city": "Porto"}),))
    offer = [DialogueAct(A.OFFER, "city", ("Porto",), S)]
    said = "the address is x and the address is x"
    turns = [turn([], DialogueState(), {}, text=said)] * 2 + [turn(offer, DialogueState(), {}, text=said)]
    done = score_dialogue(Transcript(goal, turns, "", None))
    assert done.success
    metrics = aggregate([done])
    assert metrics["ngram_repetition"] == 1.0 and metrics["turns_to_success"] == 3
