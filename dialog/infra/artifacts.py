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
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from dialog.errors import TodError
from dialog.infra.encoder import lora_state, merged_encoder, quantize

RESERVED = ("format_version", "kind", "config", "date", "_directory")


def resolve(path: str | Path) -> Path:
    """A directory, or the name of a committed artifact under data/models."""
    from dialog.common.paths import models_dir

    directory = Path(path)
    if not directory.exists() and (models_dir() / str(path)).exists():
        return models_dir() / str(path)
    return directory


def kind(path: str | Path) -> str | None:
    """The ``kind`` a model directory's meta.json records (None when there is none to read)."""
    meta = resolve(path) / "meta.json"
    try:
        found = json.loads(meta.read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None
    return str(found) if found is not None else None


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
    write_meta(directory, kind, version, config, meta)


def write_meta(
    directory: Path, kind: str, version: int, config: Mapping[str, Any], meta: Mapping[str, Any]
) -> None:
    out = {
        "format_version": version,
        "kind": kind,
        "config": dict(config),
        "date": datetime.now(UTC).date().isoformat(),
        **{k: v for k, v in meta.items() if k not in RESERVED},
    }
    (directory / "meta.json").write_text(json.dumps(out, indent=1) + "\n")


INT8_SCALE = ".int8_scale"  # the per-row scales of a matrix saved as int8
INT8_MIN_NUMEL = 65_536  # smaller tensors (biases, norms) stay fp16


def trained_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that training changes (adapters, new layers): what a generator's artifact holds."""
    return {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad}


def save_trained(
    directory: Path,
    model: nn.Module,
    kind: str,
    version: int,
    config: Mapping[str, Any],
    meta: Mapping[str, Any],
    int8: bool = False,
) -> None:
    """A generator's trained parameters (fp16 safetensors) and its meta.json; with ``int8``, each
    large matrix as int8 rows with one fp16 scale per row (half the size; ``load_trained`` restores
    floats)."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for k, v in trained_state(model).items():
        if int8 and v.dim() == 2 and v.numel() >= INT8_MIN_NUMEL:
            scale = v.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
            tensors[k] = torch.round(v / scale).to(torch.int8).contiguous()
            tensors[k + INT8_SCALE] = scale.half().contiguous()
        else:
            tensors[k] = v.half().contiguous()
    save_file(tensors, str(directory / "weights.safetensors"))
    write_meta(directory, kind, version, config, meta)


def load_trained(
    path: str | Path, kind: str, version: int, command: str
) -> tuple[dict[str, Any], dict[str, torch.Tensor], Path]:
    """(meta, tensors, weights file) of a generator's artifact; a clear error naming the file when one
    is missing, damaged or of another kind (``command`` says how to make one)."""
    from safetensors.torch import load_file

    directory = resolve(path)
    meta_path, weights = directory / "meta.json", directory / "weights.safetensors"
    for needed in (meta_path, weights):
        if not needed.is_file():
            raise TodError(f"{needed}: missing (train one with `{command}`, or name a committed one)")
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("kind") != kind or meta.get("format_version") != version:
            raise TodError(f"{meta_path}: not a {kind} model of format {version}")
        tensors = load_file(str(weights))
        for key in [k for k in tensors if k.endswith(INT8_SCALE)]:
            name = key[: -len(INT8_SCALE)]
            tensors[name] = tensors[name].float() * tensors.pop(key).float()
    except TodError:
        raise
    except Exception as exc:
        raise TodError(f"{directory}: cannot read the {kind} model: {exc}") from None
    return meta, tensors, weights


def fit_trained(model: nn.Module, tensors: Mapping[str, torch.Tensor], weights: Path) -> None:
    """Put saved trained parameters into a freshly built model; an error when they do not fit."""
    missing = set(trained_state(model)) - set(tensors)
    if missing:
        raise TodError(f"{weights}: weights do not fit the model (missing {sorted(missing)[:3]})")
    model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)


def update_meta(directory: Path, meta: Mapping[str, Any]) -> None:
    """Rewrite meta.json only (e.g. with the metrics of the reloaded model)."""
    current = json.loads((directory / "meta.json").read_text())
    current.update(
        {k: v for k, v in meta.items() if k not in ("format_version", "kind", "config", "_directory")}
    )
    (directory / "meta.json").write_text(json.dumps(current, indent=1) + "\n")


def record_metrics(model: str | Path, key: str, metrics: Mapping[str, Any]) -> None:
    """Store one evaluation's figures, dated, under ``metrics[key]`` in a model's meta.json (the
    committed artifacts' tests check against them)."""
    from datetime import UTC, datetime

    meta_file = resolve(model) / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta.setdefault("metrics", {})[key] = {**metrics, "date": datetime.now(UTC).date().isoformat()}
    meta_file.write_text(json.dumps(meta, indent=1) + "\n")


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


A = TypeVar("A", bound="AdapterModel")


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (else bfloat16 is slower than float)."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def wants_bf16(meta: Mapping[str, Any], bf16: bool | None) -> bool:
    """``bf16`` when given; else the meta's choice (``inference.bf16``), where the CPU makes it pay."""
    if bf16 is not None:
        return bf16
    return bool(meta.get("inference", {}).get("bf16", False)) and native_bf16()


class AdapterModel:
    """A trained component on the shared encoder: ``model`` (``.encoder`` with adapters, ``.heads``),
    its dataclass ``config`` (with ``lora_rank``, ``lora_alpha`` and ``to_dict``) and ``meta``.
    Subclasses name their kind, what errors call them, their config class and their network class."""

    KIND: ClassVar[str]
    WHAT: ClassVar[str]
    VERSION: ClassVar[int] = 1
    BF16: ClassVar[bool] = False  # the network casts the encoder's output for its heads
    CONFIG: ClassVar[type]
    NETWORK: ClassVar[type]

    model: Any
    config: Any
    meta: dict[str, Any]

    def __init__(self, model: Any, config: Any, meta: dict[str, Any] | None = None) -> None:
        raise NotImplementedError

    @classmethod
    def from_config(cls: type[A], config: Any) -> A:
        """A new, untrained model with adapters on the encoder."""
        raise NotImplementedError

    @classmethod
    def resume(cls: type[A], path: str | Path) -> A:
        """A saved model with its adapters not merged, to train further; ``meta["resumed_from"]``
        records where from and that model's training."""
        from peft import set_peft_model_state_dict

        loaded = load(path, cls.KIND, cls.VERSION, cls.WHAT)
        made = cls.from_config(cls.CONFIG(**loaded.meta["config"]))
        set_peft_model_state_dict(made.model.encoder, loaded.lora)
        made.model.heads.load_state_dict(loaded.heads)
        made.meta = {
            "resumed_from": {"path": str(path), "training": loaded.meta.get("training")},
            **{k: v for k, v in loaded.meta.items() if k not in (*RESERVED, "training")},
        }
        return made

    def save(self, directory: Path) -> None:
        """Adapters and heads (fp16, a few MB) and meta.json; the encoder itself is not copied."""
        heads, config = self.model.heads, self.config.to_dict()
        save(directory, self.model.encoder, heads, self.KIND, self.VERSION, config, self.meta)

    def save_meta(self, directory: Path) -> None:
        """Rewrite meta.json only (e.g. with the metrics of the reloaded model)."""
        update_meta(directory, self.meta)

    @classmethod
    def load(cls: type[A], path: str | Path, quantized: bool = False, bf16: bool | None = None) -> A:
        """Restore a saved model (adapters merged into the encoder, optionally int8): a clear error
        naming the file when it is missing or damaged. ``bf16``: the encoder in bfloat16 (heads in
        float), for classes whose network allows it (``BF16``); by default when the model's meta asks
        for it (``inference.bf16``, chosen on measured accuracy) and the CPU computes bfloat16 natively."""
        loaded = load(path, cls.KIND, cls.VERSION, cls.WHAT)
        try:
            config = cls.CONFIG(**loaded.meta["config"])
            model = cls.NETWORK(merged_encoder(loaded.lora, config.lora_rank, config.lora_alpha), config)
            model.heads.load_state_dict(loaded.heads)
        except (KeyError, TypeError, RuntimeError, TodError) as exc:
            raise TodError(f"{cls.WHAT} damaged: {loaded.directory}: {exc}") from None
        model.eval()
        if quantized:
            model = quantize(model)  # same interface, int8 linears
        else:
            if wants_bf16(loaded.meta, bf16) and cls.BF16:
                model.encoder.to(torch.bfloat16)
        return cls(model, config, loaded.meta)
