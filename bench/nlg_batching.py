"""Batching the Transformer NLG's decodings across concurrent sessions (issue 11): greedy replies for
N sampled SGD dev system turns, one at a time and in batches (``Seq2SeqNLG.realise`` decodes a list
of act sets in one padded batch), for the default model (int8, output-layer shortlist) and with each
of those off: time per reply and how many replies are word for word the ones decoded alone.

    python bench/nlg_batching.py --n 64 --data-dir ../shared/data --json docs/runs/nlg_batching.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

from dialog.data.sgd import load_dialogues, read_sgd_schemas
from dialog.data.views import nlg_pairs
from dialog.nlg.seq2seq import Seq2SeqNLG
from dialog.types import DialogueState, GenerationSettings

VARIANTS = {
    "int8 + shortlist (default)": {},
    "float + shortlist": {"int8": False},
    "float, full output layer": {"int8": False, "shortlist": False},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=64, help="SGD dev system turns")
    parser.add_argument("--sizes", default="8,16,32")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    schemas = read_sgd_schemas(args.data_dir, "dev")
    pairs = [p for p in nlg_pairs(load_dialogues(args.data_dir, "dev")) if p.acts]
    items = [(p.acts, DialogueState()) for p in random.Random(5).sample(pairs, args.n)]
    greedy = GenerationSettings()
    rows: list[dict[str, Any]] = []
    for name, options in VARIANTS.items():
        nlg = Seq2SeqNLG.load("nlg-seq2seq", **options).with_schemas(schemas).configured(memo_size=0)
        nlg.realise(items[:4], greedy)  # warm-up
        start = time.perf_counter()
        alone = [nlg.realise([item], greedy)[0].text for item in items]
        row: dict[str, Any] = {"variant": name, "alone_ms": (time.perf_counter() - start) / len(items) * 1000}
        for size in map(int, args.sizes.split(",")):
            start = time.perf_counter()
            together = [
                g.text for k in range(0, len(items), size) for g in nlg.realise(items[k : k + size], greedy)
            ]
            row[f"batch{size}_ms"] = (time.perf_counter() - start) / len(items) * 1000
            row[f"batch{size}_same"] = sum(a == b for a, b in zip(alone, together, strict=True)) / len(items)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
