"""Read the Schema-Guided Dialogue dataset (gzip or plain JSON) into the typed model, and rename a
dialogue into an SGD-X variant's names."""

from __future__ import annotations

import contextlib
import gc
import gzip
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from dialog.errors import DataError
from dialog.schema import Schema
from dialog.types import Dialogue, DialogueAct, Frame, FrameState

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


def rename_dialogue(
    dialogue: Dialogue,
    services: dict[str, str],
    slots: dict[str, dict[str, str]],
    intents: dict[str, dict[str, str]],
) -> Dialogue:
    """The dialogue with service, slot and intent names mapped (for SGD-X schema variants)."""

    def act(a: DialogueAct, service: str) -> DialogueAct:
        s = slots.get(service, {})
        values = a.values
        if a.slot == "intent" or a.act.value.endswith("_INTENT"):
            values = tuple(intents.get(service, {}).get(v, v) for v in values)
        return replace(
            a,
            slot=s.get(a.slot, a.slot) if a.slot else a.slot,
            values=values,
            service=services.get(a.service, a.service) if a.service else a.service,
            canonical_values=None,
        )

    def frame(f: Frame) -> Frame:
        svc, s, i = f.service, slots.get(f.service, {}), intents.get(f.service, {})
        state = None
        if f.state is not None:
            state = FrameState(
                i.get(f.state.active_intent, f.state.active_intent),
                tuple(s.get(x, x) for x in f.state.requested_slots),
                {s.get(k, k): v for k, v in f.state.slot_values.items()},
            )
        call = f.service_call
        if call is not None:
            call = replace(
                call,
                method=i.get(call.method, call.method),
                parameters={s.get(k, k): v for k, v in call.parameters.items()},
            )
        return replace(
            f,
            service=services.get(svc, svc),
            actions=tuple(act(a, svc) for a in f.actions),
            slots=tuple(replace(x, slot=s.get(x.slot, x.slot)) for x in f.slots),
            state=state,
            service_call=call,
        )

    return replace(
        dialogue,
        services=tuple(services.get(s, s) for s in dialogue.services),
        turns=tuple(replace(t, frames=tuple(frame(f) for f in t.frames)) for t in dialogue.turns),
    )


def variant_names(
    original: Sequence[dict[str, Any]], variant: Sequence[dict[str, Any]]
) -> tuple[dict[str, str], dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Name maps (services, slots per service, intents per service) from SGD schema JSON lists whose
    element i corresponds (SGD-X)."""
    services, slots, intents = {}, {}, {}
    for o, v in zip(original, variant, strict=True):
        name = o["service_name"]
        services[name] = v["service_name"]
        slots[name] = {a["name"]: b["name"] for a, b in zip(o["slots"], v["slots"], strict=True)}
        intents[name] = {a["name"]: b["name"] for a, b in zip(o["intents"], v["intents"], strict=True)}
    return services, slots, intents


def sgd_x_variant(data_dir: str | None, split: str, variant: int) -> tuple[list[Any], Any]:
    """The schemas of SGD-X rewording ``variant`` of ``split`` and its name maps."""
    import gzip
    import json

    path = resolve_data_dir(data_dir) / "sgd_x" / f"v{variant}" / split / "schema.json"
    if not path.is_file():
        raise DataError(f"SGD-X variant not found: {path}")
    original_file = next(iter(sorted(split_dir(data_dir, split).glob("schema.json*"))))
    opener: Any = gzip.open if original_file.suffix == ".gz" else open
    with opener(original_file, "rt", encoding="utf-8") as f:
        original = json.load(f)
    reworded = json.loads(path.read_text())
    return [Schema.from_sgd(obj) for obj in reworded], variant_names(original, reworded)


def seen_services(data_dir: str | None) -> set[str]:
    return {s.service for s in read_sgd_schemas(data_dir, "train")}


def reference(
    data_dir: str | None,
    split: str,
    limit: int | None = None,
    variant: int | None = None,
    sample: int | None = None,
) -> tuple[list[Any], list[Any], set[str]]:
    """(dialogues, schemas, seen service names) of a split, in SGD-X wording ``variant`` if given;
    the first ``limit`` dialogues, or a random ``sample`` of them (seed 0, in file order)."""
    import random

    dialogues = load_dialogues(data_dir, split, limit=limit)
    if sample is not None and sample < len(dialogues):
        picked = set(random.Random(0).sample(range(len(dialogues)), sample))
        dialogues = [d for i, d in enumerate(dialogues) if i in picked]
    schemas = read_sgd_schemas(data_dir, split)
    seen = seen_services(data_dir)
    if variant is not None:
        schemas, (services, slots, intents) = sgd_x_variant(data_dir, split, variant)
        dialogues = [rename_dialogue(d, services, slots, intents) for d in dialogues]
        seen = {services.get(s, s) for s in seen}
    return dialogues, schemas, seen
