from __future__ import annotations

from pathlib import Path

import pytest

from dialog.app.assistant import Assistant

ROOT = Path(__file__).resolve().parents[2]


def test_default_agent_falls_back_to_form_without_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOD_HOME", str(tmp_path))  # no data/models there
    assistant = Assistant([str(ROOT / "schemas/showcase/*.yaml")], log_path=tmp_path / "log.sqlite")
    assert assistant.default_agent() == "form"
    assert "NLU model file missing" in assistant.notes[0]


def test_services_without_backend_are_skipped_not_fatal(tmp_path: Path) -> None:
    assistant = Assistant(
        [str(ROOT / "schemas/showcase/*.yaml"), str(ROOT / "schemas/sgd/Alarm_1.yaml")],
        db_dir=tmp_path,
        log_path=tmp_path / "log.sqlite",
    )
    assert "Alarm_1" not in assistant.services() and len(assistant.services()) == 3
    assert "database not found" in assistant.skipped[0]


def test_conversation_undo_and_export(tmp_path: Path) -> None:
    assistant = Assistant([str(ROOT / "schemas/showcase/*.yaml")], log_path=tmp_path / "log.sqlite")
    conversation = assistant.new_conversation()
    assistant.respond(conversation, "I want to check my balance", "form")
    view = assistant.respond(conversation, "savings", "form")
    assert "12,960.00 euros" in view.reply
    assert len(assistant.log.dialogue(conversation.id)["turns"]) == 4
    assistant.undo(conversation)
    assert len(conversation.state.history) == 2
    assert len(assistant.log.dialogue(conversation.id)["turns"]) == 2  # the log forgets the undone turn
    exported = assistant.export(conversation)
    assert exported["dialogue_id"] == conversation.id and exported["services"] == ["BankTransfer"]
    other = assistant.new_conversation()
    assert other.state.history == () and other.id != conversation.id
