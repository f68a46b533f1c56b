"""Training configs: a YAML file read into a strict pydantic model (unknown keys are errors)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel

from dialog.errors import TodError

M = TypeVar("M", bound=BaseModel)


def read_spec(path: Path | None, model: type[M]) -> M:
    """The config in ``path`` over the model's defaults; a clear error naming the file."""
    if path is None:
        return model()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TodError(f"{path}: cannot read the config: {exc}") from None
    try:
        return model.model_validate(raw)
    except Exception as exc:
        raise TodError(f"{path}: {exc}") from None
