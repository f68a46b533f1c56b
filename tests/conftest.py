from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data (SGD, SNIPS, ATIS); CI sets TOD_DATA_DIR=../shared/data."""
    path = Path(os.environ.get("TOD_DATA_DIR") or ROOT.parent / "shared" / "data")
    if not (path / "sgd").is_dir():
        pytest.fail(f"shared data not found at {path}: set TOD_DATA_DIR")
    return path


@pytest.fixture(scope="session")
def schemas_dir() -> Path:
    return ROOT / "schemas"


@pytest.fixture(scope="session")
def dev_dialogues(data_dir: Path):  # type: ignore[no-untyped-def]
    from dialog.data.sgd import load_dialogues

    return load_dialogues(data_dir, "dev")


@pytest.fixture(scope="session")
def showcase():  # type: ignore[no-untyped-def]
    """The three showcase schemas, by service name."""
    from dialog.registry import load_builtins
    from dialog.schema import load_schemas

    load_builtins()
    return {s.service: s for s in load_schemas(sorted((ROOT / "schemas" / "showcase").glob("*.yaml")))}


@pytest.fixture
def form_agent(showcase):  # type: ignore[no-untyped-def]
    """A fresh form agent over the showcase services, with fresh in-memory backends."""
    from dialog.backend import open_backends
    from dialog.conversation.agent import create_agent

    schemas = list(showcase.values())
    backends = open_backends(schemas)
    return create_agent("form", schemas, backends), backends
