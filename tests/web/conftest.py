from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on the showcase schemas, on 127.0.0.1 and a free port, with its own log and schema folder."""
    from dialog.app.assistant import Assistant
    from web.app import build

    tmp = tmp_path_factory.mktemp("app")
    assistant = Assistant(
        [str(ROOT / "schemas" / "showcase" / "*.yaml")],
        log_path=tmp / "log.sqlite",
        user_schema_dir=tmp / "user_schemas",
    )
    demo = build(assistant, "form")
    demo.queue(default_concurrency_limit=8)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    demo.assistant = assistant  # type: ignore[attr-defined]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="session")
def app_log(app_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.getbasetemp()) / "app0" / "log.sqlite"
