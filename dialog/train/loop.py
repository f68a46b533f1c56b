"""The one training loop for the BERT heads (NLU, DST): AdamW with warm-up and linear decay,
length-bucketed batches padded to their longest member, progress bar, periodic evaluation,
checkpoints of the best model, and a log of the learning curve."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn


@dataclass
class TrainConfig:
    epochs: float = 3.0
    batch_size: int = 32
    lr: float = 5e-4  # adapters
    head_lr: float = 2e-3  # task heads
    weight_decay: float = 0.01
    warmup: float = 0.06  # fraction of the steps
    seed: int = 0
    eval_every: int = 0  # steps; 0: at the end of each epoch
    max_minutes: float = 0.0  # stop after this long (0: no limit)
    threads: int = 0  # torch threads (0: leave as is)
    device: str = "cpu"  # cpu, cuda, or auto (cuda when there is one); bf16 autocast on cuda

    @classmethod
    def from_spec(cls, spec: Any) -> TrainConfig:
        """The loop settings that a training config (a pydantic model) carries under the same names."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in spec.model_dump().items() if k in names})


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when there is a GPU, else the CPU; ``cuda`` without one is a clear error."""
    from dialog.errors import TodError

    if name not in ("auto", "cpu", "cuda"):
        raise TodError(f"device must be auto, cpu or cuda, not {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise TodError("--device cuda: torch sees no CUDA device here (use --device auto or cpu)")
    return torch.device(name)


def summary(history: dict[str, Any], examples: int) -> dict[str, Any]:
    """What a model's meta.json records of its training."""
    keys = ("steps", "minutes", "config", "best", "evals")
    return {"examples": examples, **{k: history[k] for k in keys}}


def bucketed(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar lengths (less padding), in random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def train(
    model: nn.Module,
    features: Sequence[dict[str, Any]],
    collate: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]],
    loss_fn: Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], torch.Tensor],
    config: TrainConfig,
    evaluate: Callable[[], dict[str, float]] | None = None,
    key_metric: str = "",
    checkpoint: Callable[[Path], None] | None = None,
    out_dir: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train; return the history (loss curve, evaluations, best metric, minutes)."""
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    model.to(device)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    # The task heads (``heads.*``, also inside a wrapper such as ``WithTable``) learn at ``head_lr``.
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    heads = [p for n, p in trained if "heads" in n.split(".")]
    others = [p for n, p in trained if "heads" not in n.split(".")]
    optimizer = torch.optim.AdamW(
        [{"params": others, "lr": config.lr}, {"params": heads, "lr": config.head_lr}],
        weight_decay=config.weight_decay,
    )
    lengths = [len(f["input_ids"]) for f in features]
    steps_per_epoch = math.ceil(len(features) / config.batch_size)
    total = max(1, int(steps_per_epoch * config.epochs))
    warmup = int(total * config.warmup)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / max(1, warmup)) * max(0.0, (total - s) / max(1, total - warmup)),
    )
    history: dict[str, Any] = {"config": asdict(config), "loss": [], "evals": [], "best": None, "steps": 0}
    bar = _bar(total, progress)
    start = time.perf_counter()
    step, running = 0, 0.0

    def batches() -> Iterator[list[int]]:
        while True:
            yield from bucketed(lengths, config.batch_size, rng)

    def run_eval() -> None:
        if evaluate is None:
            return
        model.eval()
        model.to("cpu")  # the components evaluate (and save) on the CPU, as they will be used
        scores = evaluate()
        model.train()
        scores = {"step": step, "minutes": round((time.perf_counter() - start) / 60, 2), **scores}
        history["evals"].append(scores)
        better = key_metric and (history["best"] is None or scores[key_metric] > history["best"][key_metric])
        if better:
            history["best"] = scores
            if checkpoint is not None and out_dir is not None:
                checkpoint(out_dir)
        if bar is not None:
            bar.write(json.dumps(scores))
        else:
            print(json.dumps(scores), flush=True)
        model.to(device)

    model.train()
    for indices in batches():
        if step >= total:
            break
        batch = {k: _to(v, device) for k, v in collate([features[i] for i in indices]).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = loss_fn(model(**batch), batch)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 20 == 0:
            history["loss"].append((step, round(running, 4)))
        if bar is None and step % 100 == 0:  # a log's progress, where no bar is shown
            minutes = round((time.perf_counter() - start) / 60, 2)
            print(
                json.dumps({"step": step, "of": total, "loss": round(running, 4), "minutes": minutes}),
                flush=True,
            )
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}")
        at_epoch_end = step % steps_per_epoch == 0
        if (config.eval_every and step % config.eval_every == 0) or (not config.eval_every and at_epoch_end):
            run_eval()
        if config.max_minutes and (time.perf_counter() - start) / 60 > config.max_minutes:
            break
    if not history["evals"] or history["evals"][-1]["step"] != step:
        run_eval()
    model.to("cpu")
    if bar is not None:
        bar.close()
    history["steps"] = step
    history["minutes"] = round((time.perf_counter() - start) / 60, 2)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "history.json").write_text(json.dumps(history, indent=1) + "\n")
    return history


def _bar(total: int, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="step", dynamic_ncols=True)


def _to(value: Any, device: torch.device) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


class WithTable(nn.Module):
    """A network that takes a schema element table first (``dialog.infra.elements``), with the table
    bound, so that the loop can call it with a batch alone."""

    def __init__(self, model: nn.Module, table: torch.Tensor) -> None:
        super().__init__()
        self.inner = model
        self.register_buffer("table", table, persistent=False)

    def forward(self, **batch: torch.Tensor) -> Any:
        return self.inner(self.table, **batch)
