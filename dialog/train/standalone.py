"""Train from a pack on a bare machine: ``python -m dialog.train.standalone PACK OUT [--device cuda]``.

Needs torch, transformers and safetensors only (no peft, pydantic, data or schemas): the pack
(``dialog.train.pack``, made by ``tod export train-pack``) holds the encoder, the preprocessed
training set and what to train. The adapters are plain LoRA layers named as peft names them, so the
artifact written to OUT (adapters and heads in fp16, ``meta.json``) loads with ``tod`` on a CPU
unchanged. For a GPU lent for minutes: about 11,000 encoder examples a second in bfloat16 there,
against 20 on two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dialog.infra.artifacts import write_meta
from dialog.infra.encoder import LORA_TARGETS
from dialog.train.loop import TrainConfig, WithTable, resolve_device, summary, train
from dialog.train.pack import read_encoder, read_features


class LoRALinear(nn.Module):
    """``base(x) + B(A(dropout(x))) * alpha / rank``, the base frozen: peft's LoRA, by the same names."""

    def __init__(self, base: nn.Linear, rank: int, alpha: int, dropout: float) -> None:
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.Linear(base.in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / rank
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base_layer(x) + self.lora_B(self.lora_A(self.dropout(x))) * self.scaling


def add_lora(encoder: nn.Module, rank: int, alpha: int, dropout: float = 0.05) -> nn.Module:
    """Freeze the encoder and put adapters on the projections peft's ``LORA_TARGETS`` name."""
    for p in encoder.parameters():
        p.requires_grad_(False)
    targets = [
        name
        for name, module in encoder.named_modules()
        if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in LORA_TARGETS
    ]
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        parent = encoder.get_submodule(parent_name) if parent_name else encoder
        setattr(parent, child, LoRALinear(getattr(parent, child), rank, alpha, dropout))
    return encoder


def lora_tensors(encoder: nn.Module) -> dict[str, torch.Tensor]:
    """The adapters' weights under peft's keys (``base_model.model.<module>.lora_A.weight``)."""
    return {
        f"base_model.model.{name}": p.detach().cpu()
        for name, p in encoder.named_parameters()
        if ".lora_A." in name or ".lora_B." in name
    }


def network(kind: str, encoder: nn.Module, config: dict[str, Any]) -> tuple[nn.Module, Any, Any]:
    """(model, collate, loss) of a component kind."""
    if kind == "nlu-described":
        from dialog.nlu.described_net import DescribedConfig, DescribedModel, collate, described_loss

        return DescribedModel(encoder, DescribedConfig(**config)), collate, described_loss
    raise ValueError(f"no standalone training for {kind!r} (known: nlu-described)")


def run(pack: Path, out: Path, device: str = "auto", checkpoints: int = 0) -> dict[str, Any]:
    """Train what ``pack`` describes and write the artifact to ``out`` (and, with ``checkpoints``,
    that many earlier ones to ``out/step-N``); return the training history."""
    t0 = time.perf_counter()
    spec = json.loads((pack / "run.json").read_text())
    features, table = read_features(pack)
    config = spec["config"]
    encoder = add_lora(read_encoder(pack), config["lora_rank"], config["lora_alpha"])
    model, collate, loss = network(spec["kind"], encoder, config)
    loop = TrainConfig(**{**spec["loop"], "device": device})
    loaded_s = time.perf_counter() - t0

    def save(directory: Path) -> None:
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        tensors = {f"lora.{k}": v.half().contiguous() for k, v in lora_tensors(encoder).items()}
        heads = model.heads.state_dict()  # type: ignore[union-attr]
        tensors.update({f"heads.{k}": v.detach().cpu().half().contiguous() for k, v in heads.items()})
        save_file(tensors, str(directory / "weights.safetensors"))
        write_meta(directory, spec["kind"], spec["version"], config, spec.get("meta", {}))

    steps_per_save = 0
    if checkpoints:
        total = math.ceil(len(features) / loop.batch_size * loop.epochs)
        steps_per_save = max(1, total // (checkpoints + 1))
    saved: list[int] = []

    def evaluate() -> dict[str, float]:  # no data here to score on: checkpoints, chosen later on dev
        saved.append(len(saved) + 1)
        save(out / f"checkpoint-{saved[-1]}")
        return {}

    history = train(
        WithTable(model, table),
        features,
        collate,
        loss,
        TrainConfig(**{**loop.__dict__, "eval_every": steps_per_save}) if checkpoints else loop,
        evaluate if checkpoints else None,
        progress=False,
    )
    meta = spec.setdefault("meta", {})
    meta["training"] = {**summary(history, len(features)), "load_seconds": round(loaded_s, 1)}
    meta["training"]["device"] = resolve_device(device).type
    save(out)
    return history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pack", type=Path, help="a folder made by `tod export train-pack`")
    parser.add_argument("out", type=Path, help="where the artifact goes")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--checkpoints", type=int, default=0, help="also save this many earlier checkpoints")
    args = parser.parse_args(argv)
    history = run(args.pack, args.out, args.device, args.checkpoints)
    print(json.dumps({"steps": history["steps"], "minutes": history["minutes"], "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
