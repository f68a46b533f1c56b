"""Where the project's files live: built-in schemas, bundled data, built databases, models."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """``TOD_HOME`` if set, else the checkout this package was installed from (``pip install -e .``)."""
    home = os.environ.get("TOD_HOME")
    if home:
        return Path(home)
    return Path(__file__).resolve().parents[2]


def schemas_dir() -> Path:
    return project_root() / "schemas"


def db_dir() -> Path:
    """Databases built by ``tod db build`` (not committed; rebuilt from the data)."""
    return Path(os.environ.get("TOD_DB_DIR") or project_root() / "data" / "db")


def models_dir() -> Path:
    return project_root() / "data" / "models"
