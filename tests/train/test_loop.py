"""The shared training loop: where it trains (``--device``), and that a model comes back on the CPU,
as the components use it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dialog.errors import TodError
from dialog.train.loop import TrainConfig, resolve_device, train
from tests.test_cli import tod


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.heads = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return self.heads(torch.relu(self.body(x)))


def _data() -> list[dict]:
    g = torch.Generator().manual_seed(0)
    return [{"input_ids": [0], "x": torch.randn(4, generator=g), "y": i % 2} for i in range(32)]


def _collate(rows: list[dict]) -> dict:
    return {
        "x": torch.stack([r["x"] for r in rows]),
        "y": torch.tensor([r["y"] for r in rows]),
        "note": "kept",
    }


def test_auto_is_the_cpu_without_a_gpu_and_cuda_without_one_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU machine")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(TodError, match="no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(TodError, match="auto, cpu or cuda"):
        resolve_device("gpu")


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_trains_on_the_device_and_returns_the_model_on_the_cpu(device: str) -> None:
    model = Tiny()
    before = model.heads.weight.detach().clone()

    def loss(out: torch.Tensor, batch: dict) -> torch.Tensor:
        assert batch["note"] == "kept"  # what is not a tensor passes as it is
        return nn.functional.cross_entropy(out, batch["y"])

    seen = []
    history = train(
        model,
        _data(),
        _collate,
        loss,
        TrainConfig(epochs=2, batch_size=8, device=device),
        evaluate=lambda: seen.append(next(model.parameters()).device.type) or {"score": 1.0},
        key_metric="score",
        progress=False,
    )
    assert history["steps"] == 8
    assert not torch.equal(model.heads.weight, before)
    assert next(model.parameters()).device.type == "cpu" and set(seen) == {"cpu"}


def test_the_command_line_takes_and_checks_the_device(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = tod("train", "nlu", "--out", str(tmp_path / "m"), "--device", "tpu")
    assert result.returncode != 0
    assert "--device must be auto, cpu or cuda, not 'tpu'" in result.stderr
    assert not (tmp_path / "m").exists()
