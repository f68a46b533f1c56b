"""Training configs: a YAML file read into a strict pydantic model (unknown keys are errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict

from dialog.errors import TodError

M = TypeVar("M", bound=BaseModel)


class LoopSpec(BaseModel):
    """What every training config has: the loop's settings (``TrainConfig.from_spec`` reads them) and
    the adapters' size. A component's config adds its own keys and changes defaults where it needs."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    epochs: float = 1.0
    batch_size: int = 32
    lr: float = 1e-3
    head_lr: float = 2e-3
    lora_rank: int = 16
    lora_alpha: int = 32
    max_minutes: float = 0.0
    eval_every: int = 0
    threads: int = 0
    device: Literal["auto", "cpu", "cuda"] = "cpu"


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
