"""Trained artifacts on the shared encoder: LoRA adapters + task heads (fp16 safetensors, a few MB)
and ``meta.json`` (format version, kind, config, date, metrics). The encoder itself is never copied.

Loading names the missing or damaged file in a clear error, so a broken artifact stops the start-up,
not a conversation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dialog.encoder import lora_state
from dialog.errors import TodError

RESERVED = ("format_version", "kind", "config", "date", "_directory")


def resolve(path: str | Path) -> Path:
    """A directory, or the name of a committed artifact under data/models."""
    from dialog.paths import models_dir

    directory = Path(path)
    if not directory.exists() and (models_dir() / str(path)).exists():
        return models_dir() / str(path)
    return directory


def save(
    directory: Path,
    encoder: nn.Module,
    heads: nn.Module,
    kind: str,
    version: int,
    config: Mapping[str, Any],
    meta: Mapping[str, Any],
) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"lora.{k}": v.half().contiguous() for k, v in lora_state(encoder).items()}
    tensors.update({f"heads.{k}": v.detach().half().contiguous() for k, v in heads.state_dict().items()})
    save_file(tensors, str(directory / "weights.safetensors"))
    out = {
        "format_version": version,
        "kind": kind,
        "config": dict(config),
        "date": datetime.now(UTC).date().isoformat(),
        **{k: v for k, v in meta.items() if k not in RESERVED},
    }
    (directory / "meta.json").write_text(json.dumps(out, indent=1) + "\n")


def update_meta(directory: Path, meta: Mapping[str, Any]) -> None:
    """Rewrite meta.json only (e.g. with the metrics of the reloaded model)."""
    current = json.loads((directory / "meta.json").read_text())
    current.update(
        {k: v for k, v in meta.items() if k not in ("format_version", "kind", "config", "_directory")}
    )
    (directory / "meta.json").write_text(json.dumps(current, indent=1) + "\n")


@dataclass
class Loaded:
    directory: Path
    meta: dict[str, Any]
    lora: dict[str, torch.Tensor]
    heads: dict[str, torch.Tensor]


def load(path: str | Path, kind: str, version: int, what: str) -> Loaded:
    """Read an artifact's files; ``what`` names it in errors ("NLU model", "DST model")."""
    directory = resolve(path)
    meta_file, weights = directory / "meta.json", directory / "weights.safetensors"
    for needed in (meta_file, weights):
        if not needed.is_file():
            raise TodError(f"{what} file missing: {needed}")
    try:
        meta = json.loads(meta_file.read_text())
        from safetensors.torch import load_file

        tensors = load_file(str(weights))
    except Exception as exc:
        raise TodError(f"{what} damaged: {directory}: {type(exc).__name__}: {exc}") from None
    if meta.get("format_version") != version or meta.get("kind", kind) != kind:
        raise TodError(
            f"{meta_file}: {meta.get('kind')} format {meta.get('format_version')}, expected {kind} {version}"
        )
    meta["_directory"] = str(directory)
    return Loaded(
        directory,
        meta,
        {k[5:]: v.float() for k, v in tensors.items() if k.startswith("lora.")},
        {k[6:]: v.float() for k, v in tensors.items() if k.startswith("heads.")},
    )
