"""Scripted simulated users: fixed goals replayed, a change of mind, located loading errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialog.backend import open_backends
from dialog.common.yamlpos import YamlProblems
from dialog.eval.dialogues import EvalConfig, evaluate
from dialog.types import ActType
from dialog.user.scripted import load_goals

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "data/goals/showcase.yaml"


def test_shipped_goals_replay_the_same_way_every_time(showcase) -> None:  # type: ignore[no-untyped-def]
    schemas = list(showcase.values())
    backends = open_backends(schemas)
    goals = load_goals(SHIPPED, showcase)
    assert len(goals) == 5 and goals[2].goal.tasks[1].transactional
    first = evaluate(schemas, backends, EvalConfig(), goals=goals, keep_transcripts=5)
    again = evaluate(schemas, backends, EvalConfig(), goals=goals, keep_transcripts=5)
    assert first.metrics["n_dialogues"] == 5 and first.metrics["success_rate"] == 1.0
    assert [t.reply.acts for x in first.transcripts for t in x.turns] == [
        t.reply.acts for x in again.transcripts for t in x.turns
    ]
    assert first.metrics["config"]["goals"][1] == "changes its mind about the cuisine at its second turn"
    # The change of mind: the user's second turn says the new cuisine, and the system follows it.
    changed = first.transcripts[1]
    second = changed.turns[1]
    assert [(a.act, a.slot, a.values) for a in second.user_acts] == [
        (ActType.INFORM, "cuisine", ("seafood",))
    ]
    assert any(a.act is ActType.OFFER and a.values == ("seafood",) for a in second.reply.acts)


def test_goal_file_errors_are_located(tmp_path: Path, showcase) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "goals.yaml"
    path.write_text(
        """version: 1
goals:
  - name: broken
    tasks:
      - service: RestaurantBooking
        intent: FindRestaurant
        constraints: {colour: red}
        changes: {1: {mood: happy}}
      - service: RestaurantBooking
        intent: Teleport
      - service: Nowhere
        intent: X
"""
    )
    with pytest.raises(YamlProblems) as caught:
        load_goals(path, showcase)
    text = str(caught.value)
    for fragment in (
        "goals.yaml:7:23: RestaurantBooking has no slot 'colour'",
        "goals.yaml:8:23: RestaurantBooking has no slot 'mood'",
        "goals.yaml:10:17: RestaurantBooking has no intent 'Teleport'",
        "goals.yaml:11:18: unknown service 'Nowhere'",
    ):
        assert fragment in text, text
