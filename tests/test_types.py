from __future__ import annotations

from pathlib import Path

import pytest

from dialog.data.sgd import dialogue_files, raw_dialogues
from dialog.types import (
    SYSTEM_ACTS,
    USER_ACTS,
    ActType,
    BackendResult,
    DialogueAct,
    DialogueState,
    FrameState,
    ServiceCall,
    Speaker,
    Turn,
)


def test_every_dev_dialogue_round_trips_losslessly(data_dir: Path) -> None:
    from dialog.types import Dialogue

    checked = 0
    for path in dialogue_files(data_dir, "dev"):
        for obj in raw_dialogues(path):
            assert Dialogue.from_sgd(obj).to_sgd() == obj, obj["dialogue_id"]
            checked += 1
    assert checked == 2098


def test_act_vocabulary_matches_sgd() -> None:
    assert {a.value for a in USER_ACTS} == {
        "INFORM_INTENT", "NEGATE_INTENT", "AFFIRM_INTENT", "INFORM", "REQUEST", "AFFIRM", "NEGATE",
        "SELECT", "REQUEST_ALTS", "THANK_YOU", "GOODBYE",
    }  # fmt: skip
    assert {a.value for a in SYSTEM_ACTS} == {
        "INFORM", "REQUEST", "CONFIRM", "OFFER", "NOTIFY_SUCCESS", "NOTIFY_FAILURE", "INQUIRE",
        "INFORM_COUNT", "OFFER_INTENT", "REQ_MORE", "GOODBYE",
    }  # fmt: skip


def test_act_normalises_and_keeps_canonical_values() -> None:
    act = DialogueAct("INFORM", "time", ["7 pm"], canonical_values=["19:00"])  # type: ignore[arg-type]
    assert act.act is ActType.INFORM and act.values == ("7 pm",) and act.canonical == ("19:00",)
    same = DialogueAct(ActType.INFORM, "city", ("Paris",), canonical_values=("Paris",))
    assert same.canonical_values is None and same.canonical == ("Paris",)
    assert str(act) == "INFORM(time=7 pm)"
    assert hash(same) == hash(DialogueAct(ActType.INFORM, "city", ("Paris",)))
    with pytest.raises(ValueError):
        DialogueAct("SHOUT")  # type: ignore[arg-type]


def test_act_without_slot_writes_empty_slot() -> None:
    obj = {"act": "THANK_YOU", "canonical_values": [], "slot": "", "values": []}
    act = DialogueAct.from_sgd(obj)
    assert act.slot is None and act.to_sgd() == obj


def test_state_is_immutable_and_updates_return_new_objects() -> None:
    state = DialogueState()
    frame = FrameState("FindRestaurants", (), {"city": ["San Jose"]})
    new = state.with_frame("Restaurants_1", frame)
    assert state.frames == {} and new.frame("Restaurants_1") == frame
    assert new.active_service == "Restaurants_1"
    with pytest.raises(TypeError):
        new.frames["x"] = FrameState()  # type: ignore[index]
    with pytest.raises(AttributeError):
        new.active_service = "y"  # type: ignore[misc]
    updated = frame.with_values(cuisine=["Thai"])
    assert dict(updated.slot_values) == {"city": ("San Jose",), "cuisine": ("Thai",)}
    assert dict(frame.slot_values) == {"city": ("San Jose",)}


def test_state_tracks_last_system_acts_and_backend() -> None:
    request = DialogueAct(ActType.REQUEST, "city", service="S")
    state = (
        DialogueState().with_turn(Turn(Speaker.USER, "hi")).with_turn(Turn(Speaker.SYSTEM, "which city?", ()))
    )
    assert state.last_system_acts == ()
    from dialog.types import Frame

    state = state.with_turn(Turn(Speaker.SYSTEM, "which city?", (Frame("S", (request,)),)))
    assert state.last_system_acts == (request,)
    result = BackendResult(ServiceCall("Find", {"city": "Paris"}), ({"name": "A"},))
    state = state.with_backend("S", result)
    assert state.backend["S"].count == 1 and state.backend["S"].success
