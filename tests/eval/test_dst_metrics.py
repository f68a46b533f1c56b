"""The SGD state-tracking metrics on hand-built frames whose answers are worked out by hand, and the
predictions files' round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialog.eval.dst import f1, flat_report, frame_metrics, fuzzy, read_predictions, score, write_predictions
from dialog.schema import Schema

SCHEMA = Schema.model_validate(
    {
        "version": 1,
        "service": "Cafe_1",
        "description": "Order coffee",
        "slots": [
            {"name": "drink", "description": "The drink"},
            {"name": "size", "description": "Cup size", "categorical": True, "values": ["small", "large"]},
            {"name": "place", "description": "Where to pick it up"},
        ],
        "intents": [{"name": "Order", "description": "Order a drink", "required_slots": ["drink"]}],
    }
)


def state(intent: str = "Order", requested: list[str] | None = None, **values: list[str]) -> dict:
    return {"active_intent": intent, "requested_slots": requested or [], "slot_values": values}


def test_exact_match_scores_one() -> None:
    ref = state(drink=["latte"], size=["large"])
    m = frame_metrics(ref, ref, SCHEMA)
    assert m["joint_goal_accuracy"] == 1.0
    assert m["average_goal_accuracy"] == 1.0
    assert m["active_intent_accuracy"] == 1.0
    assert m["requested_slots_f1"] == 1.0  # both empty


def test_a_wrong_categorical_value_fails_the_joint_goal() -> None:
    m = frame_metrics(state(drink=["latte"], size=["large"]), state(drink=["latte"], size=["small"]), SCHEMA)
    assert m["joint_goal_accuracy"] == 0.0
    assert m["average_goal_accuracy"] == 0.5  # two active slots, one right
    assert m["joint_cat_accuracy"] == 0.0
    assert m["joint_noncat_accuracy"] == 1.0


def test_an_extra_slot_fails_the_joint_goal_but_not_the_average() -> None:
    m = frame_metrics(state(drink=["latte"]), state(drink=["latte"], place=["downtown"]), SCHEMA)
    assert m["joint_goal_accuracy"] == 0.0
    assert m["average_goal_accuracy"] == 1.0  # only reference-active slots count


def test_free_form_values_are_matched_fuzzily_against_every_reference_variant() -> None:
    ref = state(drink=["flat white", "a flat white coffee"])
    assert frame_metrics(ref, state(drink=["Flat White"]), SCHEMA)["joint_goal_accuracy"] == 1.0
    assert fuzzy("white flat", "flat white") == 1.0  # token sort
    partial = frame_metrics(ref, state(drink=["flat whites"]), SCHEMA)["joint_goal_accuracy"]
    assert 0.9 < partial < 1.0  # a fraction, as the official scorer gives


def test_no_active_slot_leaves_the_average_undefined() -> None:
    m = frame_metrics(state(), state(), SCHEMA)
    assert "average_goal_accuracy" not in m
    assert m["joint_goal_accuracy"] == 1.0


def test_requested_slots_f1() -> None:
    assert f1(["drink"], ["drink"]) == 1.0
    assert f1(["drink", "size"], ["drink"]) == pytest.approx(2 / 3)
    assert f1([], ["drink"]) == 0.0
    assert f1([], []) == 1.0


def dialogue(*states: dict, did: str = "1_00000") -> dict:
    turns = []
    for i, s in enumerate(states):
        turns.append({"speaker": "SYSTEM", "utterance": f"sys {i}", "frames": []})
        turns.append(
            {
                "speaker": "USER",
                "utterance": f"user {i}",
                "frames": [{"service": "Cafe_1", "actions": [], "slots": [], "state": s}],
            }
        )
    return {"dialogue_id": did, "services": ["Cafe_1"], "turns": turns}


def test_scores_average_frames_and_split_seen_from_unseen(tmp_path: Path) -> None:
    ref = dialogue(state(drink=["latte"]), state(drink=["latte"], size=["large"]))
    hyp = dialogue(state(drink=["latte"]), state(drink=["latte"], size=["small"]))
    agg = score([ref], [hyp], {"Cafe_1": SCHEMA}, seen=set())
    assert agg["all"]["joint_goal_accuracy"] == 0.5
    assert agg["unseen"]["n_frames"] == 2 and "seen" not in agg
    flat = flat_report(agg)
    assert flat["joint_goal_accuracy"] == 0.5 and flat["per_service"]["Cafe_1"]["n_frames"] == 2
    # the predictions files round-trip and score the same
    write_predictions([hyp], tmp_path)
    assert read_predictions(tmp_path) == [hyp]
    assert score([ref], read_predictions(tmp_path), {"Cafe_1": SCHEMA}, set()) == agg


def test_predictions_hold_only_what_the_tracker_predicted(tmp_path: Path) -> None:
    hyp = dialogue(state(drink=["latte"]))
    user = hyp["turns"][1]["frames"][0]
    # the reference annotation a tracked dialogue carries along from the corpus
    user["actions"] = [{"act": "INFORM", "slot": "drink", "values": ["latte"], "canonical_values": ["latte"]}]
    user["slots"] = [{"slot": "drink", "start": 0, "exclusive_end": 5}]
    hyp["turns"][0]["frames"] = [{"service": "Cafe_1", "actions": [{"act": "REQUEST", "slot": "drink",
                                  "values": [], "canonical_values": []}], "slots": []}]  # fmt: skip
    write_predictions([hyp], tmp_path)
    (written,) = read_predictions(tmp_path)
    frame = written["turns"][1]["frames"][0]
    assert frame == {"actions": [], "service": "Cafe_1", "slots": [], "state": user["state"]}
    assert written["turns"][0] == hyp["turns"][0]  # the system turn is input, kept
    ref = dialogue(state(drink=["latte"]))
    assert score([ref], [written], {"Cafe_1": SCHEMA}, set())["all"]["joint_goal_accuracy"] == 1.0


def test_a_missing_frame_or_other_utterances_are_errors() -> None:
    ref = dialogue(state(drink=["latte"]))
    hyp = dialogue(state(drink=["latte"]))
    hyp["turns"][1]["frames"] = []
    with pytest.raises(ValueError, match="no frame for Cafe_1"):
        score([ref], [hyp], {"Cafe_1": SCHEMA}, set())
    hyp = dialogue(state(drink=["latte"]))
    hyp["turns"][1]["utterance"] = "something else"
    with pytest.raises(ValueError, match="do not match"):
        score([ref], [hyp], {"Cafe_1": SCHEMA}, set())


def test_the_tracker_is_chosen_by_the_kind_the_model_records(tmp_path: Path) -> None:
    import json

    from dialog.errors import TodError
    from dialog.eval.dst import TRACKERS, TrackerOptions, tracker_for

    assert set(TRACKERS) == {"dst-bert", "simpletod"}
    (tmp_path / "meta.json").write_text(json.dumps({"kind": "nlu-bert", "format_version": 1}))
    with pytest.raises(TodError, match="'nlu-bert' model to track with; trackers are dst-bert, simpletod"):
        tracker_for(str(tmp_path))
    with pytest.raises(TodError, match="no model"):
        tracker_for(str(tmp_path / "nowhere"))
    # Options that the kind cannot take are refused before anything loads.
    with pytest.raises(TodError, match="--beams applies to simpletod"):
        tracker_for("dst-bert", TrackerOptions(beams=2))
