"""`tod export`: the artifacts made from trained ones refuse what they cannot make, clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dialog.app.export import nlg_inference, nlu_ensemble, nlu_intent_slots, simpletod_int8
from dialog.errors import TodError


def tod(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dialog.cli", *args], capture_output=True, text=True)


def test_every_export_has_help() -> None:
    for what in ("int8", "shortlist", "inference", "fluency", "ensemble", "intent-slots"):
        done = tod("export", what, "--help")
        assert done.returncode == 0 and "--" in done.stdout, what


def test_an_ensemble_needs_two_saved_models(tmp_path: Path) -> None:
    with pytest.raises(TodError, match="two or more"):
        nlu_ensemble([tmp_path], tmp_path / "out", "snips", None)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(TodError, match="not a saved NLU model"):
        nlu_ensemble([tmp_path / "a", tmp_path / "b"], tmp_path / "out", "snips", None)
    done = tod(
        "export",
        "ensemble",
        "--member",
        "x",
        "--member",
        "y",
        "--out",
        str(tmp_path / "o"),
        "--data",
        "banking",
    )
    assert done.returncode == 1 and "snips or atis" in done.stderr


def test_int8_needs_a_model() -> None:
    with pytest.raises(TodError, match="--model"):
        simpletod_int8([], Path("unused"))


def test_fluency_export_builds_and_validates_a_model(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "lm.json.gz"
    done = tod(
        "export",
        "fluency",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--dev",
        "200",
        "--json",
        str(tmp_path / "v.json"),
    )
    assert done.returncode == 0, done.stderr
    import json

    result = json.loads((tmp_path / "v.json").read_text())
    assert out.is_file() and result["train_turns"] > 100_000
    assert result["auc_real_vs_scrambled"] > 0.95  # real replies read as far more fluent than shuffled ones


def test_inference_is_recorded_only_for_a_transformer_nlg_that_loads_so(tmp_path: Path) -> None:
    import json
    import shutil

    from dialog.infra.artifacts import resolve
    from dialog.nlg.seq2seq import Seq2SeqNLG

    model = tmp_path / "nlg"
    shutil.copytree(resolve("nlg-seq2seq"), model)
    done = nlg_inference(str(model), int8=False, shortlist=False)
    assert done["inference"] == {"int8": False, "shortlist": False}
    assert json.loads((model / "meta.json").read_text())["inference"] == done["inference"]
    assert Seq2SeqNLG.load(model).shortlist is None  # loads as recorded
    (model / "shortlist.json").unlink()
    with pytest.raises(TodError, match=r"no shortlist\.json"):
        nlg_inference(str(model), int8=True, shortlist=True)
    assert json.loads((model / "meta.json").read_text())["inference"]["shortlist"] is False  # unchanged
    with pytest.raises(TodError, match="not a Transformer NLG"):
        nlg_inference("nlu-bert-snips", int8=True, shortlist=True)


def test_the_intent_slot_table_goes_into_a_copy_of_the_benchmark_model(
    data_dir: Path, tmp_path: Path
) -> None:
    import json
    import shutil

    from dialog.infra.artifacts import resolve

    model = tmp_path / "snips"
    shutil.copytree(resolve("nlu-bert-snips"), model)
    done = nlu_intent_slots(str(model), "snips", str(data_dir))
    table = json.loads((model / "meta.json").read_text())["config"]["intent_slots"]
    assert done["intents"] == len(table) == 7 and "playlist" in table["AddToPlaylist"]
    assert done["dev_after"]["slot_f1"] >= done["dev_before"]["slot_f1"] - 0.01
