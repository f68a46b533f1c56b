"""The tracker's features and labels on hand-written turns: which status each slot gets, where its span
is, which earlier value a carry-over points at."""

from __future__ import annotations

import pytest

from dialog.dst.features import (
    ACTIVE,
    CARRY,
    DONTCARE_STATUS,
    NONE,
    Featurizer,
    Gold,
    History,
    find_span,
    span_text,
)
from dialog.infra.elements import TextTable
from dialog.infra.encoder import load_tokenizer
from dialog.schema import Schema
from dialog.types import ActType, DialogueAct, FrameState

A = ActType


def schema(service: str, slots: list[dict], intent: str, required: list[str]) -> Schema:
    return Schema.model_validate(
        {
            "version": 1,
            "service": service,
            "description": f"The {service} service",
            "slots": slots,
            "intents": [{"name": intent, "description": intent, "required_slots": required}],
        }
    )


FOOD = schema(
    "Food_1",
    [
        {"name": "city", "description": "City"},
        {"name": "restaurant", "description": "Name of the restaurant"},
        {
            "name": "outdoor",
            "description": "Outdoor seating",
            "categorical": True,
            "values": ["True", "False"],
        },
        {"name": "price", "description": "Price range", "categorical": True, "values": ["cheap", "pricey"]},
    ],
    "Book",
    ["city", "restaurant"],
)
CAB = schema("Cab_1", [{"name": "destination", "description": "Where to go"}], "Ride", ["destination"])


@pytest.fixture(scope="module")
def featurizer() -> Featurizer:
    return Featurizer(load_tokenizer(), TextTable(), {"Food_1": FOOD, "Cab_1": CAB})


def labels(f: dict) -> dict[str, int]:
    return dict(zip(f["slots"], f["status"], strict=True))


def test_an_answer_to_a_request_is_an_active_span(featurizer: Featurizer) -> None:
    acts = [DialogueAct(A.REQUEST, "city", service="Food_1")]
    history = History(states={"Food_1": FrameState("Book", (), {})})
    history.add_system_acts(acts)
    gold = Gold(FrameState("Book", (), {"city": ("San Jose",)}))
    f = featurizer.feature(FOOD, "Which city?", "In san jose please", acts, history, gold=gold)
    assert labels(f) == {"city": ACTIVE, "restaurant": NONE, "outdoor": NONE, "price": NONE}
    i = f["slots"].index("city")
    assert f["slot_features"][i][2] == 1.0  # the system asked for it
    assert span_text(f, f["start"][i], f["end"][i]) == "san jose"
    assert f["intent_label"] == 1 and f["intent_prev"] == [0.0, 1.0]


def test_a_value_offered_two_turns_back_is_carried_over(featurizer: Featurizer) -> None:
    history = History(states={"Food_1": FrameState("Book", (), {"city": ("Paris",)})})
    history.add_system_acts([DialogueAct(A.OFFER, "restaurant", ("Le Cinq",), "Food_1")])
    history.add_system_acts([DialogueAct(A.INFORM, "price", ("pricey",), "Food_1")])
    gold = Gold(FrameState("Book", (), {"city": ("Paris",), "restaurant": ("Le Cinq",)}))
    f = featurizer.feature(FOOD, "It is pricey.", "ok book it", [], history, gold=gold)
    st = labels(f)
    assert st["restaurant"] == CARRY and st["city"] == NONE
    i = f["slots"].index("restaurant")
    assert f["candidates"][i][f["carry_label"][i]] == "Le Cinq"


def test_a_value_from_another_service_is_carried_over(featurizer: Featurizer) -> None:
    history = History(states={"Food_1": FrameState("Book", (), {"restaurant": ("Le Cinq",)})})
    gold = Gold(FrameState("Ride", (), {"destination": ("Le Cinq",)}))
    f = featurizer.feature(CAB, "Anything else?", "get me a cab there", [], history, gold=gold)
    assert labels(f) == {"destination": CARRY}
    assert f["candidates"][0] == ["Le Cinq"]
    assert f["candidate_features"][0][0][1] == 1.0  # from another service's state
    assert f["slot_features"][0][9] == 1.0  # a new frame


def test_dontcare_and_categorical_values(featurizer: Featurizer) -> None:
    history = History(states={"Food_1": FrameState("Book", (), {"city": ("Paris",)})})
    gold = Gold(FrameState("Book", (), {"city": ("Paris",), "price": ("dontcare",), "outdoor": ("True",)}))
    f = featurizer.feature(FOOD, "", "any price is fine, with outdoor seating", [], history, gold=gold)
    st = labels(f)
    assert st["price"] == DONTCARE_STATUS and st["outdoor"] == ACTIVE
    i = f["slots"].index("outdoor")
    assert f["values"][i][f["value_label"][i]] == "True"


def test_find_span_is_case_blind_and_keeps_to_whole_words() -> None:
    assert find_span("I like San Jose a lot", ["san jose"]) == (7, 15)
    assert find_span("sandwich", ["and"]) is None
    assert find_span("", ["x"]) is None


def test_odd_utterances_still_make_features(featurizer: Featurizer) -> None:
    for text in ["", " ", "😀" * 50, "word " * 3000, "{city} ' OR 1=1 --", "東京で予約"]:
        f = featurizer.feature(FOOD, "Which city?", text, [], History())
        assert len(f["input_ids"]) <= featurizer.max_length
        assert len(f["slots"]) == 4
