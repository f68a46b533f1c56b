from __future__ import annotations

from dialog.dst.rule import RuleDST, canonical_value
from dialog.types import ActType, DialogueAct, DialogueState, Frame, FrameState, Speaker, Turn

A = ActType
R = "RestaurantBooking"


def test_informs_requests_and_intent(showcase) -> None:  # type: ignore[no-untyped-def]
    dst = RuleDST(list(showcase.values()))
    acts = (
        DialogueAct(A.INFORM_INTENT, "intent", ("FindRestaurant",), R),
        DialogueAct(A.INFORM, "cuisine", ("Italian",), R),
        DialogueAct(A.INFORM, "price_range", ("dirt cheap",), R),  # not a value of the slot: dropped
        DialogueAct(A.REQUEST, "phone_number", (), R),
    )
    state = dst.update(DialogueState(), "", acts)
    frame = state.frame(R)
    assert frame.active_intent == "FindRestaurant" and state.active_service == R
    assert dict(frame.slot_values) == {"cuisine": ("italian",)}
    assert frame.requested_slots == ("phone_number",)
    later = dst.update(state, "", (DialogueAct(A.INFORM, "city", ("Porto",), R),))
    assert later.frame(R).requested_slots == ()  # requests last one turn, as in SGD
    assert later.frame(R).slot_values["cuisine"] == ("italian",)


def test_accepting_an_offer_carries_what_the_booking_needs(showcase) -> None:  # type: ignore[no-untyped-def]
    dst = RuleDST(list(showcase.values()))
    offer = (
        DialogueAct(A.OFFER, "restaurant_name", ("Il Forno",), R),
        DialogueAct(A.OFFER, "price_range", ("moderate",), R),
    )
    state = DialogueState().with_frame(R, FrameState("FindRestaurant", (), {"city": ("Porto",)}))
    state = state.with_turn(Turn(Speaker.SYSTEM, "", (Frame(R, offer),)))
    booked = dst.update(state, "", (DialogueAct(A.INFORM_INTENT, "intent", ("BookTable",), R),))
    assert booked.frame(R).active_intent == "BookTable"
    assert dict(booked.frame(R).slot_values) == {"city": ("Porto",), "restaurant_name": ("Il Forno",)}


def test_canonical_values(showcase) -> None:  # type: ignore[no-untyped-def]
    schema = showcase[R]
    assert canonical_value(schema, "cuisine", "ITALIAN") == "italian"
    assert canonical_value(schema, "cuisine", "italien") == "italian"  # close enough
    assert canonical_value(schema, "cuisine", "klingon") is None
    assert canonical_value(schema, "city", "Anywhere") == "Anywhere"  # free-form slot
    assert canonical_value(schema, "cuisine", "DontCare") == "dontcare"
