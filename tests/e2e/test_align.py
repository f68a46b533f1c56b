"""Aligning a new service's slot names with the trained names (dialog.e2e.align)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from dialog.e2e.align import Alignment, align, load_trained, save_trained
from dialog.schema import Intent, Schema, Slot
from dialog.types import FrameState

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = pytest.mark.skipif(
    not (ROOT / "data" / "models" / "simpletod" / "trained_schemas.json").is_file(),
    reason="no committed SimpleTOD model with its trained services",
)

#: Fake embeddings: a slot's text starts with its name; names on the same axis mean the same thing.
AXES = {"city": 0, "town": 0, "cuisine": 1, "category": 1, "party size": 2, "seats": 2, "vibe": 3}
AXES |= {"find": 4, "look for": 4, "book": 5}  # intents: "LookFor" reads "look for"


def embed(texts: Sequence[str]) -> np.ndarray:
    out = np.zeros((len(texts), 6))
    for row, text in enumerate(texts):
        out[row, AXES[text.split(":")[0]]] = 1.0
    return out


def service(
    name: str, slots: Sequence[str], categorical: Sequence[str] = (), intents: Sequence[str] = ("Find",)
) -> Schema:
    return Schema(
        version=1,
        service=name,
        description=name,
        slots=[Slot(name=s, description=s, categorical=s in categorical) for s in slots],
        intents=[
            Intent(name=i, description=i, required_slots=list(slots[:2]), result_slots=list(slots))
            for i in intents
        ],
    )


TRAINED = service("Restaurants_1", ["city", "cuisine", "party_size"])


def test_new_slots_take_the_trained_name_they_match_and_others_keep_their_own() -> None:
    new = service("Restaurants_2", ["town", "category", "seats", "vibe"])
    alignment = align([new, TRAINED], [TRAINED], embed)
    assert alignment.slots == {
        "Restaurants_2": {"town": "city", "category": "cuisine", "seats": "party_size"}
    }
    assert alignment.partners == {"Restaurants_2": "Restaurants_1"}
    renamed = alignment.schema(new)
    assert renamed.slot_names == ["city", "cuisine", "party_size", "vibe"]
    assert renamed.intents[0].required_slots == ["city", "cuisine"]
    assert alignment.schema(TRAINED) is TRAINED  # a trained service is read as it is


def test_a_kept_name_is_never_given_to_another_slot() -> None:
    # "city" is free-form here and categorical in training: the categorical "town" matches better, and
    # would take its name; the service keeps "city", so "town" keeps its own name too.
    trained = service("Restaurants_1", ["city", "cuisine"], categorical=["city"])
    new = service("Restaurants_2", ["town", "city", "category"], categorical=["town"])
    alignment = align([new], [trained], embed)
    names = alignment.schema(new).slot_names
    assert len(set(names)) == len(names)
    assert "town" not in alignment.slots.get("Restaurants_2", {})


def test_intents_are_matched_with_the_aligned_service_s_intents() -> None:
    from dialog.types import ActType, DialogueAct

    trained = service("Restaurants_1", ["city", "cuisine"], intents=["Find", "Book"])
    new = service("Restaurants_2", ["town", "category"], intents=["LookFor", "Book"])
    alignment = align([new], [trained], embed)
    assert alignment.intents == {"Restaurants_2": {"LookFor": "Find"}}  # "Book" is already the same
    assert alignment.schema(new).intent_names == ["Find", "Book"]
    frame = FrameState("LookFor", (), {"town": ("Napa",)})
    assert alignment.state("Restaurants_2", frame) == FrameState("Find", (), {"city": ("Napa",)})
    assert alignment.state("Restaurants_2", alignment.state("Restaurants_2", frame), back=True) == frame
    offer = DialogueAct(ActType.OFFER_INTENT, "intent", ("LookFor",), "Restaurants_2")
    assert alignment.act(offer).values == ("Find",)
    assert alignment.intent_from_model("Restaurants_2", "Find") == "LookFor"


def test_no_service_close_enough_means_no_alignment() -> None:
    new = service("Mood_1", ["vibe"])
    alignment = align([new], [TRAINED], embed)
    assert not alignment and alignment.schema(new) is new


def test_dialogues_and_states_go_to_the_model_names_and_back(data_dir) -> None:  # type: ignore[no-untyped-def]
    from dialog.data.sgd import load_dialogues

    alignment = Alignment({"Restaurants_2": {"category": "cuisine", "location": "city"}})
    dialogue = next(d for d in load_dialogues(data_dir, "dev") if d.services == ("Restaurants_2",))
    there = alignment.dialogue(dialogue)
    states = [f.state for t in there.turns for f in t.frames if f.state is not None]
    assert any("city" in s.slot_values for s in states)
    assert not any("location" in s.slot_values for s in states)
    back = alignment.dialogue(there, back=True)
    assert _named(back) == _named(dialogue)
    frame = FrameState("FindRestaurants", ("category",), {"location": ("Napa",), "price_range": ("cheap",)})
    model_side = alignment.state("Restaurants_2", frame)
    assert model_side.requested_slots == ("cuisine",) and set(model_side.slot_values) == {
        "city",
        "price_range",
    }
    assert alignment.state("Restaurants_2", model_side, back=True) == frame


def _named(dialogue):  # type: ignore[no-untyped-def]
    """What carries names in a dialogue: states, acts, service calls."""
    return [
        (f.state, [(a.act, a.slot, a.values) for a in f.actions], f.service_call)
        for t in dialogue.turns
        for f in t.frames
    ]


def test_trained_services_are_saved_beside_a_model_and_read_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert load_trained(tmp_path) == []  # a model without the file: nothing to align with
    save_trained([TRAINED], tmp_path)
    assert [s.to_sgd() for s in load_trained(tmp_path)] == [TRAINED.to_sgd()]


@COMMITTED
def test_committed_model_reads_restaurants_2_in_restaurants_1_names(data_dir) -> None:  # type: ignore[no-untyped-def]
    from dialog.data.sgd import read_sgd_schemas

    trained = load_trained(ROOT / "data" / "models" / "simpletod")
    assert {"Restaurants_1", "Banks_1", "Flights_1"} <= {s.service for s in trained}
    dev = read_sgd_schemas(data_dir, "dev")
    alignment = align(dev, trained)
    assert alignment.partners["Restaurants_2"] == "Restaurants_1"
    names = alignment.slots["Restaurants_2"]
    assert names["category"] == "cuisine" and names["location"] == "city"
    assert "Restaurants_1" not in alignment.slots  # seen in training: its own names
    assert "Alarm_1" not in alignment.slots  # no trained service like it


@COMMITTED
def test_committed_agent_tracks_a_new_service_under_its_own_names(data_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dialog.backend import open_backends
    from dialog.conversation.agent import create_agent
    from dialog.infra.dbbuild import build_sgd_databases
    from dialog.registry import load_builtins
    from dialog.schema import load_schemas
    from dialog.types import DialogueState

    load_builtins()
    schemas = load_schemas([ROOT / "schemas" / "sgd" / "Restaurants_2.yaml"])
    build_sgd_databases(schemas, data_dir, ["dev"], tmp_path)  # the backend, as `tod db build` makes it
    agent = create_agent("simpletod", schemas, open_backends(schemas, tmp_path))
    reply = agent.respond("I'd like to find an Italian restaurant in Livermore.", DialogueState())
    frame = reply.state.frame("Restaurants_2")
    assert frame.slot_values.get("location") == ("Livermore",)
    assert frame.slot_values.get("category") == ("Italian",)
    assert set(frame.slot_values) <= set(schemas[0].slot_names)
    assert all(a.slot in (*schemas[0].slot_names, "count", "intent", None) for a in reply.acts)
    assert "_" not in reply.text
