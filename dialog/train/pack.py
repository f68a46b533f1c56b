"""A training run as files, for a bare GPU machine (``dialog.train.standalone`` reads them).

A pack is a folder:

- ``encoder.safetensors`` + ``encoder.json``: the pretrained MiniLM, each large matrix as int8 rows
  with one fp16 scale per row (dequantised at start), and only the rows of the word embeddings that
  the training set uses (``token_ids``; the features' ids are renumbered to match). About 16 MB
  instead of 90.
- ``features.safetensors.xz`` + ``features.json``: the preprocessed training set, each key's values
  concatenated in the smallest integer type that holds them, with each example's lengths; and the
  schema element table (fp16).
- ``run.json``: what to train (the component's kind and network config, the loop's settings, the
  meta to record).

Nothing in it needs the data, the schemas or any package beyond torch, transformers and safetensors.
"""

from __future__ import annotations

import json
import lzma
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

FEATURES = "features.safetensors.xz"
INT8_MIN_NUMEL = 65_536
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
#: Feature keys that hold token ids (renumbered with the pruned vocabulary).
TOKEN_KEYS = ("input_ids",)


def _int8(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scale = matrix.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
    return torch.round(matrix / scale).to(torch.int8), scale.half()


def _smallest(values: torch.Tensor) -> torch.Tensor:
    """Integers in the smallest type that holds them; 0/1 floats as uint8; other floats as fp16."""
    if values.is_floating_point():
        if values.numel() == 0 or bool(((values == 0) | (values == 1)).all()):
            return values.to(torch.uint8)
        return values.half()
    low, high = (int(values.min()), int(values.max())) if values.numel() else (0, 0)
    for dtype in (torch.int8, torch.int16, torch.int32):
        info = torch.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return values.to(dtype)
    return values.to(torch.int64)


def write_pack(
    out: Path,
    features: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    table: torch.Tensor,
    run: Mapping[str, Any],
) -> dict[str, int]:
    """Write a pack of ``features`` (only ``keys``: numbers, lists of numbers, lists of equal-length
    lists), the element ``table`` and the ``run`` description; return the files' sizes in bytes."""
    from safetensors.torch import save, save_file

    from dialog.infra.encoder import encoder_path, load_encoder

    out.mkdir(parents=True, exist_ok=True)
    used = sorted(
        {t for f in features for key in TOKEN_KEYS if key in keys for t in f[key]} | set(range(110))
    )
    renumber = {old: new for new, old in enumerate(used)}
    tensors: dict[str, torch.Tensor] = {"table": table.half().contiguous()}
    layout: dict[str, dict[str, Any]] = {}
    for key in keys:
        rows = []
        for f in features:
            value = [renumber[t] for t in f[key]] if key in TOKEN_KEYS else f[key]
            rows.append(torch.tensor(value, dtype=torch.float32 if _is_float(value) else torch.int64))
        scalar = rows[0].dim() == 0
        flat = torch.stack(rows) if scalar else torch.cat([r.reshape(-1) for r in rows])
        tensors[f"values.{key}"] = _smallest(flat).contiguous()
        layout[key] = {"scalar": scalar, "float": rows[0].is_floating_point(), "width": _width(rows)}
        if not scalar:
            tensors[f"lengths.{key}"] = _smallest(torch.tensor([r.shape[0] for r in rows])).contiguous()
    (out / FEATURES).write_bytes(lzma.compress(save(tensors), preset=6))  # mostly small ints and 0/1: ~3x
    (out / "features.json").write_text(json.dumps({"n": len(features), "keys": layout}, indent=1) + "\n")

    encoder = load_encoder()
    weights: dict[str, torch.Tensor] = {}
    for name, value in encoder.state_dict().items():
        value = value.detach().float()
        if name == WORD_EMBEDDINGS:
            value = value[torch.tensor(used)]
        if value.dim() == 2 and value.numel() >= INT8_MIN_NUMEL:
            weights[name], weights[name + ".int8_scale"] = _int8(value)
        else:
            weights[name] = value.half()
    save_file({k: v.contiguous() for k, v in weights.items()}, str(out / "encoder.safetensors"))
    config = json.loads((encoder_path() / "config.json").read_text())
    (out / "encoder.json").write_text(json.dumps({"config": config, "token_ids": used}) + "\n")
    (out / "run.json").write_text(json.dumps(dict(run), indent=1) + "\n")
    return {p.name: p.stat().st_size for p in sorted(out.iterdir())}


def _is_float(value: Any) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, float)


def _width(rows: Sequence[torch.Tensor]) -> int:
    """The inner length of lists of lists (1 otherwise)."""
    for r in rows:
        if r.dim() == 2:
            return int(r.shape[1])
    return 1


def read_features(directory: Path) -> tuple[list[dict[str, Any]], torch.Tensor]:
    """The features (plain dicts of numbers and lists, as the component's collate takes them) and the
    element table of a pack."""
    from safetensors.torch import load

    layout = json.loads((directory / "features.json").read_text())
    tensors = load(lzma.decompress((directory / FEATURES).read_bytes()))
    n = layout["n"]
    columns: dict[str, list[Any]] = {}
    for key, spec in layout["keys"].items():
        values = tensors[f"values.{key}"]
        values = values.float() if spec["float"] else values.long()
        if spec["scalar"]:
            columns[key] = values.tolist()
            continue
        lengths = tensors[f"lengths.{key}"].long().tolist()
        parts = values.split([length * spec["width"] for length in lengths])
        width = spec["width"]
        columns[key] = [p.reshape(-1, width).tolist() if width > 1 else p.tolist() for p in parts]
    features = [{key: columns[key][i] for key in columns} for i in range(n)]
    return features, tensors["table"].float()


def read_encoder(directory: Path) -> torch.nn.Module:
    """The pack's encoder, dequantised, with its pruned vocabulary (a transformers ``BertModel``)."""
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel

    meta = json.loads((directory / "encoder.json").read_text())
    config = BertConfig(**{**meta["config"], "vocab_size": len(meta["token_ids"])})
    model = BertModel(config)
    tensors = load_file(str(directory / "encoder.safetensors"))
    state = {}
    for name, value in tensors.items():
        if name.endswith(".int8_scale"):
            continue
        scale = tensors.get(name + ".int8_scale")
        state[name] = value.float() * scale.float() if scale is not None else value.float()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if [m for m in missing if "position_ids" not in m] or unexpected:
        raise ValueError(f"{directory}: encoder weights do not fit: {missing[:3]} {unexpected[:3]}")
    return model
