"""A conversation log in an embedded SQLite file, written turn by turn (WAL, one commit per turn),
so that nothing said is lost if the process stops; exported as SGD dialogue JSON for retraining."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dialog.types import Dialogue, Turn

SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    conversation TEXT NOT NULL,
    turn_index INTEGER NOT NULL,
    speaker TEXT NOT NULL,
    turn_json TEXT NOT NULL,
    created TEXT NOT NULL,
    UNIQUE (conversation, turn_index)
);
CREATE TABLE IF NOT EXISTS conversations (
    conversation TEXT PRIMARY KEY,
    services TEXT NOT NULL,
    agent TEXT NOT NULL,
    created TEXT NOT NULL
);
"""


class ConversationLog:
    """Thread-safe; one file per process (or shared by processes: SQLite locks it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def start(self, conversation: str, agent: str, services: list[str]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO conversations VALUES (?, ?, ?, ?)",
                (conversation, json.dumps(services), agent, datetime.now(UTC).isoformat()),
            )

    def append(self, conversation: str, turn_index: int, turn: Turn) -> None:
        """Record one turn; a turn index written again (after an undo) replaces the old one."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO turns (conversation, turn_index, speaker, turn_json, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    conversation,
                    turn_index,
                    turn.speaker.value,
                    json.dumps(turn.to_sgd()),
                    datetime.now(UTC).isoformat(),
                ),
            )

    def truncate(self, conversation: str, keep: int) -> None:
        """Forget the turns from index ``keep`` on (undo)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM turns WHERE conversation = ? AND turn_index >= ?", (conversation, keep)
            )

    def conversations(self) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT conversation FROM turns ORDER BY conversation"
            ).fetchall()
        return [r[0] for r in rows]

    def dialogue(self, conversation: str) -> dict[str, Any]:
        """One conversation as an SGD dialogue object."""
        with self._lock:
            rows = self._db.execute(
                "SELECT turn_json FROM turns WHERE conversation = ? ORDER BY turn_index", (conversation,)
            ).fetchall()
        turns = [Turn.from_sgd(json.loads(r[0])) for r in rows]
        services = tuple(dict.fromkeys(f.service for t in turns for f in t.frames if f.service))
        return Dialogue(conversation, services, tuple(turns)).to_sgd()

    def export(self, path: str | Path | None = None) -> list[dict[str, Any]]:
        """Every logged conversation as SGD dialogues (written to ``path`` when given)."""
        dialogues = [self.dialogue(c) for c in self.conversations()]
        if path is not None:
            Path(path).write_text(json.dumps(dialogues, indent=1) + "\n", encoding="utf-8")
        return dialogues

    def close(self) -> None:
        with self._lock:
            self._db.close()
