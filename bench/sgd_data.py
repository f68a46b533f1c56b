"""Figures for the foundation: imported schemas, SGD load time and memory, the dev round trip.

python bench/sgd_data.py --data-dir ../shared/data [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from dialog.data.sgd import dialogue_files, iter_dialogues, raw_dialogues, read_sgd_schemas
from dialog.schema import expand_paths, load_schemas
from dialog.types import Dialogue

ROOT = Path(__file__).resolve().parent.parent


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    out: dict[str, object] = {}

    for split in ("train", "dev"):
        schemas = read_sgd_schemas(args.data_dir, split)
        out[f"{split}_services"] = len(schemas)
        out[f"{split}_intents"] = sum(len(s.intents) for s in schemas)
        out[f"{split}_slots"] = sum(len(s.slots) for s in schemas)
    committed = load_schemas(expand_paths([str(ROOT / "schemas" / "sgd" / "*.yaml")]))  # raises if invalid
    out["committed_sgd_yaml_valid"] = len(committed)

    base = rss_mib()
    start = time.perf_counter()
    dialogues = list(iter_dialogues(args.data_dir, "train"))
    out["train_load_s"] = round(time.perf_counter() - start, 2)
    out["train_dialogues"] = len(dialogues)
    out["train_turns"] = sum(len(d.turns) for d in dialogues)
    out["train_load_peak_rss_mib"] = round(rss_mib() - base, 1)
    out["process_peak_rss_mib"] = round(rss_mib(), 1)
    del dialogues

    checked = identical = 0
    for path in dialogue_files(args.data_dir, "dev"):
        for obj in raw_dialogues(path):
            checked += 1
            identical += Dialogue.from_sgd(obj).to_sgd() == obj
    out["dev_round_trip_checked"] = checked
    out["dev_round_trip_identical"] = identical

    for key, value in out.items():
        print(f"{key:28s} {value}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
