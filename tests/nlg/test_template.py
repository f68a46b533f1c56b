from __future__ import annotations

from dialog.common.text import words
from dialog.nlg.template import TemplateNLG
from dialog.types import ActType, DialogueAct, DialogueState, FrameState

A = ActType
R = "RestaurantBooking"


def test_schema_templates_prompts_and_generic_fallbacks(showcase) -> None:  # type: ignore[no-untyped-def]
    nlg = TemplateNLG(list(showcase.values()))
    state = DialogueState()
    assert (
        nlg.generate((DialogueAct(A.REQUEST, "city", (), R),), state)
        == "Which city would you like to eat in?"
    )
    offer = (
        DialogueAct(A.OFFER, "restaurant_name", ("Il Forno",), R),
        DialogueAct(A.OFFER, "price_range", ("moderate",), R),
        DialogueAct(A.OFFER, "cuisine", ("italian",), R),
        DialogueAct(A.OFFER, "city", ("Porto",), R),
    )
    assert nlg.generate(offer, state) == "How about Il Forno? It is a moderate italian place in Porto."
    # The OFFER template needs values the acts lack: the generic sentence is used instead.
    assert nlg.generate(offer[:1], state) == "How about Il Forno?"
    options = (DialogueAct(A.REQUEST, "cuisine", ("italian", "thai"), R),)
    assert nlg.generate(options, state) == "What cuisine would you like, for example italian or thai?"
    assert nlg.generate((DialogueAct(A.REQUEST),), state).startswith("Sorry, I did not catch that")


def test_values_are_not_formatted_twice(showcase) -> None:  # type: ignore[no-untyped-def]
    nlg = TemplateNLG(list(showcase.values()))
    state = DialogueState().with_frame(R, FrameState("BookTable", (), {"party_size": ("2",)}))
    acts = tuple(
        DialogueAct(A.CONFIRM, s, (v,), R)
        for s, v in {"restaurant_name": "{__class__}", "date": "{date}", "time": "7 pm"}.items()
    )
    text = nlg.generate(acts, state)
    assert text == "Let me check: a table for 2 at {__class__} on {date} at 7 pm. Shall I book it?"


def test_words() -> None:
    assert words("FindRestaurants") == "find restaurants"
    assert words("phone_number") == "phone number"
