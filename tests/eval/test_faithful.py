"""Faithfulness: a reply's values are checked against what the system knew when it spoke."""

from __future__ import annotations

from dialog.backend import open_backends
from dialog.eval.faithful import ValueCheck, first_service, transactions
from dialog.types import (
    ActType,
    BackendResult,
    DialogueAct,
    DialogueState,
    FrameState,
    Reply,
    ServiceCall,
    Speaker,
    StageTrace,
    Turn,
)

A = ActType
CLINIC = "ClinicAppointment"


def state(**values: str) -> DialogueState:
    frame = FrameState("BookAppointment", (), {k: [v] for k, v in values.items()})
    return DialogueState().with_frame(CLINIC, frame)


def check(showcase) -> ValueCheck:  # type: ignore[no-untyped-def]
    schemas = list(showcase.values())
    return ValueCheck(schemas, open_backends(schemas))


def test_a_date_said_otherwise_than_the_state_is_invented(showcase) -> None:  # type: ignore[no-untyped-def]
    values = check(showcase)
    s = state(date="2026-12-01")
    acts = (DialogueAct(A.NOTIFY_SUCCESS, service=CLINIC),)
    assert values.invented("The appointment is on march 1st.", acts, s) == ["date 3/1"]
    assert values.invented("The appointment is on December 1st.", acts, s) == []
    assert values.invented("Booked for 7:30 pm.", acts, state(time="19:30")) == []
    assert values.invented("Booked for 8 pm.", acts, state(time="19:30")) == ["time 20:00"]


def test_a_known_value_nothing_supports_is_invented(showcase) -> None:  # type: ignore[no-untyped-def]
    values = check(showcase)
    # Porto is a city of the restaurants' table; nothing in this turn says it
    acts = (DialogueAct(A.REQUEST, "cuisine", service="RestaurantBooking"),)
    assert "porto" in values.invented("What food would you like in Porto?", acts, DialogueState())
    told = DialogueState().with_turn(Turn(Speaker.USER, "a table in Porto please"))
    assert values.invented("What food would you like in Porto?", acts, told) == []  # the user said it
    offer = (DialogueAct(A.OFFER, "city", ("Porto",), "RestaurantBooking"),)
    assert values.invented("How about one in Porto?", offer, DialogueState()) == []  # the acts say it
    assert (
        values.invented(
            "There are 2 of them.", (DialogueAct(A.INFORM_COUNT, "count", ("2",)),), s := DialogueState()
        )
        == []
    )
    assert values.invented("There are 3 of them.", (DialogueAct(A.INFORM_COUNT, "count", ("2",)),), s) == [
        "number 3"
    ]


def test_transactions_and_the_first_service() -> None:
    call = ServiceCall("TransferMoney", {"amount": "50"})
    s = DialogueState().with_frame("BankTransfer", FrameState("TransferMoney"))
    trace = (StageTrace("backend", "sqlite", BackendResult(call, (), transactional=True), 0.1),)
    assert transactions(Reply("", s, trace)) == [("BankTransfer", call)]
    search = (StageTrace("backend", "sqlite", BackendResult(ServiceCall("CheckBalance"), ()), 0.1),)
    assert transactions(Reply("", s, search)) == []
    turns = [(DialogueAct(A.GOODBYE),), (DialogueAct(A.REQUEST, "city", service="RideSharing_1"),)]
    assert first_service(turns) == "RideSharing_1" and first_service([()]) is None


def test_a_title_made_of_common_words_is_not_taken_for_a_value(showcase) -> None:  # type: ignore[no-untyped-def]
    values = check(showcase)
    values.vocabulary |= {"sorry", "for you", "the city"}  # titles and places of other services
    assert values.invented("Sorry, I could not find that for you in the city.", (), DialogueState()) == []
