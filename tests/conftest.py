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
