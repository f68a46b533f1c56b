from __future__ import annotations

from dialog.common.state import canonical_value
from dialog.dst.rule import RuleDST
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


def test_what_accepts_an_offer_and_what_it_fills(showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.dst.rule import accepts_offer, take_offer

    r = showcase["RestaurantBooking"]
    book = DialogueAct(A.INFORM_INTENT, "intent", ("BookTable",), "RestaurantBooking")
    assert accepts_offer(r, [book], "FindRestaurant")  # a switch to a transactional intent
    assert not accepts_offer(r, [book], "BookTable")  # already booking: no switch
    assert accepts_offer(r, [DialogueAct(A.SELECT, service="RestaurantBooking")], "FindRestaurant")
    find = DialogueAct(A.INFORM_INTENT, "intent", ("FindRestaurant",), "RestaurantBooking")
    assert not accepts_offer(r, [find], "NONE")
    offered = {"restaurant_name": "Il Forno", "city": "Porto", "date": "today"}
    taken = take_offer(r, "BookTable", {"date": ("tomorrow",)}, offered)
    assert taken == {"date": ("tomorrow",), "restaurant_name": ("Il Forno",)}  # required, still empty
    # a guess of the tracker's (``unsure``) gives way to the accepted offer; a value the user gave does not
    guessed = {"date": ("tomorrow",), "restaurant_name": ("Porto",)}
    taken = take_offer(r, "BookTable", guessed, offered, unsure={"restaurant_name"})
    assert taken == {"date": ("tomorrow",), "restaurant_name": ("Il Forno",)}
