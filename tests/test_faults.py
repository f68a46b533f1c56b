"""Faults: a process killed mid-conversation loses no completed turn; a backend that raises makes the
agent say it could not do it, and the dialogue goes on; a broken model artifact is a clear error
naming the file, at load time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dialog.types import ActType, DialogueState

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from dialog.app.assistant import Assistant

    log = Path(sys.argv[1])
    assistant = Assistant(["schemas/showcase/*.yaml"], log_path=log, user_schema_dir=log.parent / "user")
    lines = ["I want to find a restaurant", "in Lisbon", "italian food", "any price", "thanks"]
    for n in range(10_000):
        conversation = assistant.new_conversation()
        for i, text in enumerate(lines):
            assistant.respond(conversation, text, agent="form")
            print(conversation.id, 2 * i + 1, flush=True)  # both turns of this exchange are logged
    """
)


def test_a_killed_process_keeps_every_completed_turn(tmp_path: Path) -> None:
    from dialog.infra.convlog import ConversationLog

    log = tmp_path / "conversations.sqlite"
    root = Path(__file__).resolve().parent.parent
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(log)], cwd=root, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    done: dict[str, int] = {}
    for line in child.stdout:
        conversation, last = line.split()
        done[conversation] = int(last)
        if sum(v + 1 for v in done.values()) >= 60:  # mid-stream: the child is inside its next turn
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    reopened = ConversationLog(log)
    for conversation, last in done.items():
        turns = reopened.dialogue(conversation)["turns"]
        assert len(turns) >= last + 1, conversation  # every completed turn is there
        assert [t["speaker"] for t in turns[:2]] == ["USER", "SYSTEM"]
    reopened.close()


class Broken:
    """A backend whose every call raises (a database gone, a service down)."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner

    def call(self, call):  # type: ignore[no-untyped-def]
        raise RuntimeError("connection refused")

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


def test_a_failing_backend_is_told_and_the_dialogue_goes_on(showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.backend import open_backends
    from dialog.conversation.agent import create_agent

    schemas = list(showcase.values())
    backends = {k: Broken(v) for k, v in open_backends(schemas).items()}
    agent = create_agent("form", schemas, backends)  # type: ignore[arg-type]
    state = DialogueState()
    replies = []
    for text in ("I want to find a restaurant", "in Lisbon", "italian food", "thanks, bye"):
        reply = agent.respond(text, state)
        state = reply.state
        replies.append(reply)
    failed = [r for r in replies if any(a.act is ActType.NOTIFY_FAILURE for a in r.acts)]
    assert failed, [r.text for r in replies]
    result = state.backend["RestaurantBooking"]
    assert result.error == "RuntimeError: connection refused" and result.rows == ()
    assert replies[-1].text  # the conversation went on to the end


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_broken_artifact_is_a_clear_error_naming_the_file(tmp_path: Path, damage: str) -> None:
    import shutil

    from dialog.common.paths import models_dir
    from dialog.e2e.simpletod import SimpleTOD
    from dialog.errors import TodError
    from dialog.nlg.seq2seq import Seq2SeqNLG

    for name, loader in (("nlg-seq2seq", Seq2SeqNLG.load), ("simpletod", SimpleTOD.load)):
        source = models_dir() / name
        if not source.is_dir():
            continue
        copy = tmp_path / name
        shutil.copytree(source, copy)
        weights = copy / "weights.safetensors"
        if damage == "missing":
            weights.unlink()
        else:
            weights.write_bytes(weights.read_bytes()[:1000])
        with pytest.raises(TodError, match=str(copy)):
            loader(copy)
