"""Read the Schema-Guided Dialogue dataset (gzip or plain JSON) into the typed model."""

from __future__ import annotations

import contextlib
import gc
import gzip
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dialog.errors import DataError
from dialog.schema import Schema
from dialog.types import Dialogue

SGD_SOURCE = (
    "Imported from the Schema-Guided Dialogue dataset (Rastogi et al. 2020), "
    "https://github.com/google-research-datasets/dstc8-schema-guided-dialogue, CC BY-SA 4.0"
)
_DIALOGUE_FILE = re.compile(r"^dialogues_(\d+)\.json(\.gz)?$")


#: The services of SGD dev that SGD train does not have (schemas/sgd holds them all): held out when a
#: component is trained on the train services.
UNSEEN_DEV_SERVICES = (
    "Alarm_1", "Banks_2", "Flights_3", "Hotels_4", "Media_2", "Movies_2", "Restaurants_2", "Services_4",
)  # fmt: skip


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """The data directory from the argument or ``TOD_DATA_DIR``; a clear error when there is none."""
    if data_dir is None:
        data_dir = os.environ.get("TOD_DATA_DIR")
        if not data_dir:
            raise DataError("no data directory: pass --data-dir DIR or set TOD_DATA_DIR")
    path = Path(data_dir)
    if not path.is_dir():
        raise DataError(f"data directory not found: {path}")
    return path


def split_dir(data_dir: str | Path | None, split: str) -> Path:
    root = resolve_data_dir(data_dir)
    path = root / "sgd" / split
    if not path.is_dir():
        splits = sorted(p.name for p in (root / "sgd").glob("*") if p.is_dir())
        raise DataError(
            f"SGD split '{split}' not found under {root / 'sgd'} (splits: {', '.join(splits) or 'none'})"
        )
    return path


def _read_json(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None


def _read_json_list(path: Path, what: str) -> list[Any]:
    raw = _read_json(path)
    if not isinstance(raw, list):
        raise DataError(f"{path}: expected a list of {what}")
    return raw


def _one_of(directory: Path, name: str) -> Path:
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    raise DataError(f"{directory}: no {name} or {name}.gz")


def read_sgd_schemas(data_dir: str | Path | None, split: str) -> list[Schema]:
    """The services of one SGD split as ``Schema`` objects."""
    path = _one_of(split_dir(data_dir, split), "schema.json")
    schemas = []
    for i, obj in enumerate(_read_json_list(path, "services")):
        try:
            schemas.append(Schema.from_sgd(obj, source=SGD_SOURCE))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path}: service #{i} is malformed: {exc}") from None
    return schemas


def dialogue_files(data_dir: str | Path | None, split: str) -> list[Path]:
    directory = split_dir(data_dir, split)
    files = [p for p in directory.iterdir() if _DIALOGUE_FILE.match(p.name)]
    if not files:
        raise DataError(f"{directory}: no dialogues_NNN.json[.gz] files")
    return sorted(files, key=lambda p: int(_DIALOGUE_FILE.match(p.name).group(1)))  # type: ignore[union-attr]


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    # Building ~10^6 small acyclic objects triggers the cyclic GC over and over: 4x slower with it on.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_dialogue_file(path: Path) -> list[Dialogue]:
    """Every dialogue of one file; a malformed dialogue is an error naming the file and dialogue."""
    with _no_gc():
        return _read_dialogue_file(path)


def _read_dialogue_file(path: Path) -> list[Dialogue]:
    out = []
    for i, obj in enumerate(raw_dialogues(path)):
        try:
            out.append(Dialogue.from_sgd(obj))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            name = obj.get("dialogue_id", f"#{i}") if isinstance(obj, dict) else f"#{i}"
            raise DataError(f"{path}: dialogue {name} is malformed: {type(exc).__name__}: {exc}") from None
    return out


def iter_dialogues(data_dir: str | Path | None, split: str, progress: bool = False) -> Iterator[Dialogue]:
    files = dialogue_files(data_dir, split)
    if progress:
        from tqdm import tqdm

        files = tqdm(files, desc=f"reading SGD {split}", unit="file")
    for path in files:
        yield from read_dialogue_file(path)


def load_dialogues(
    data_dir: str | Path | None, split: str, progress: bool = False, limit: int | None = None
) -> list[Dialogue]:
    out = []
    for dialogue in iter_dialogues(data_dir, split, progress):
        out.append(dialogue)
        if limit is not None and len(out) >= limit:
            break
    return out


def raw_dialogues(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of one dialogue file as they are (for round-trip checks)."""
    return _read_json_list(path, "dialogues")
