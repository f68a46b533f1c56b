"""A training run as files (a pack) and the bare trainer that reads it: the pack's features come back
as they went in, the trainer needs neither peft nor pydantic, and what it writes loads and works as
an artifact of ``tod`` on the CPU."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from dialog.nlu.described import DescribedConfig, DescribedNLU, load_nlu
from dialog.nlu.train import PACKED_KEYS
from dialog.train.loop import TrainConfig
from dialog.train.pack import read_features, write_pack
from dialog.train.standalone import main
from tests.nlu.test_described import CAFE, CINEMA, SCHEMAS, TEAHOUSE, tiny_set


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    config = DescribedConfig(max_length=32, negatives=1)
    nlu = DescribedNLU.from_config(config)
    features = nlu.training_features(tiny_set(96, 0), SCHEMAS, seed=0)
    loop = TrainConfig(epochs=10, batch_size=16, lr=2e-3, head_lr=5e-3, warmup=0.1)
    run = {
        "kind": DescribedNLU.KIND,
        "version": DescribedNLU.VERSION,
        "config": config.to_dict(),
        "loop": {k: v for k, v in asdict(loop).items() if k != "device"},
        "meta": {"note": "test"},
    }
    out = tmp_path_factory.mktemp("pack")
    sizes = write_pack(out, features, PACKED_KEYS, nlu.elements.tensor(), run)
    assert sizes["encoder.safetensors"] < 16 * 2**20  # int8 rows, only the word pieces used
    return out, features


def test_the_features_come_back_as_they_went_in(pack: tuple[Path, list[dict]]) -> None:
    directory, features = pack
    back, table = read_features(directory)
    assert table.shape[1] == 384
    assert len(back) == len(features)
    for key in PACKED_KEYS:
        if key != "input_ids":  # renumbered with the pruned vocabulary
            assert [b[key] for b in back] == [f[key] for f in features], key
    assert [len(b["input_ids"]) for b in back] == [len(f["input_ids"]) for f in features]


def test_the_bare_trainer_imports_no_more_than_torch_and_transformers() -> None:
    code = (
        "import sys, dialog.train.standalone\n"
        "heavy = {'peft', 'pydantic', 'rapidfuzz', 'yaml', 'typer', 'sklearn', 'datasets', 'gradio'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_what_the_bare_trainer_writes_is_an_artifact_that_works(
    pack: tuple[Path, list[dict]], tmp_path: Path
) -> None:
    directory, _ = pack
    assert main([str(directory), str(tmp_path / "model"), "--device", "cpu", "--checkpoints", "1"]) == 0
    assert (tmp_path / "model" / "checkpoint-1" / "weights.safetensors").is_file()
    nlu = load_nlu(tmp_path / "model")
    assert isinstance(nlu, DescribedNLU) and nlu.meta["note"] == "test"
    assert nlu.meta["training"]["device"] == "cpu"
    [cafe] = nlu.with_schemas([CAFE, CINEMA]).predict([(("one", "latte", "please"), "")])
    assert cafe["intent"] == "Cafe_1:OrderDrink" and cafe["tags"] == ["O", "B-drink", "O"]
    [tea] = nlu.with_schemas([TEAHOUSE]).predict([(("one", "mocha", "please"), "")], ["Teahouse_9"])
    assert tea["tags"] == ["O", "B-beverage", "O"]
