from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from dialog.data.sgd import (
    dialogue_files,
    load_dialogues,
    raw_dialogues,
    read_dialogue_file,
    read_sgd_schemas,
    resolve_data_dir,
)
from dialog.errors import DataError


def test_missing_data_dir_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TOD_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="pass --data-dir DIR or set TOD_DATA_DIR"):
        resolve_data_dir(None)
    with pytest.raises(DataError, match="data directory not found"):
        resolve_data_dir(tmp_path / "nowhere")
    with pytest.raises(DataError, match="SGD split 'test' not found"):
        load_dialogues(tmp_path, "test")


def test_env_var_is_the_default(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("TOD_DATA_DIR", str(data_dir))
    assert resolve_data_dir(None) == data_dir


def test_no_turn_is_dropped(data_dir: Path, dev_dialogues: list) -> None:  # type: ignore[type-arg]
    raw_turns = sum(len(d["turns"]) for p in dialogue_files(data_dir, "dev") for d in raw_dialogues(p))
    assert sum(len(d.turns) for d in dev_dialogues) == raw_turns
    assert len(dev_dialogues) == 2098


def test_schemas_of_each_split(data_dir: Path) -> None:
    train = read_sgd_schemas(data_dir, "train")
    dev = read_sgd_schemas(data_dir, "dev")
    assert len(train) == 26 and len(dev) == 17
    unseen = {s.service for s in dev} - {s.service for s in train}
    assert unseen == {
        "Alarm_1", "Banks_2", "Flights_3", "Hotels_4", "Media_2", "Movies_2", "Restaurants_2", "Services_4"
    }  # fmt: skip


def _write(path: Path, obj: object) -> Path:
    with gzip.open(path, "wt") as f:
        json.dump(obj, f)
    return path


def test_corrupted_files_name_the_file_and_dialogue(tmp_path: Path, data_dir: Path) -> None:
    good = raw_dialogues(dialogue_files(data_dir, "dev")[0])[:2]
    broken = json.loads(json.dumps(good))
    del broken[1]["turns"][3]["frames"][0]["actions"][0]["act"]
    path = _write(tmp_path / "dialogues_001.json.gz", broken)
    with pytest.raises(
        DataError, match=rf"dialogues_001.json.gz: dialogue {good[1]['dialogue_id']} is malformed"
    ):
        read_dialogue_file(path)
    broken[1]["turns"][3]["frames"][0]["actions"][0]["act"] = "DANCE"
    _write(path, broken)
    with pytest.raises(DataError, match="'DANCE' is not a valid ActType"):
        read_dialogue_file(path)
    truncated = tmp_path / "dialogues_002.json.gz"
    truncated.write_bytes(gzip.compress(json.dumps(good).encode())[:200])
    with pytest.raises(DataError, match=r"dialogues_002\.json\.gz: cannot read"):
        read_dialogue_file(truncated)
    not_json = tmp_path / "dialogues_003.json"
    not_json.write_text('[{"dialogue_id": ')
    with pytest.raises(DataError, match=r"dialogues_003.json: not valid JSON at line 1"):
        read_dialogue_file(not_json)
