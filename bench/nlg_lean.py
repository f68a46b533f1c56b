"""The lean decoder step (dialog/generation/lean.py) against the Transformers decoder step: on N sampled SGD
dev system turns, greedy and 4-beam replies of each, how many are word for word the same, and the time
per reply (the memo of earlier decodings off).

    python bench/nlg_lean.py --n 60 --data-dir ../shared/data --json docs/runs/nlg_lean.json
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
from dialog.types import GenerationSettings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    nlg = Seq2SeqNLG.load("nlg-seq2seq").with_schemas(read_sgd_schemas(args.data_dir, "dev"))
    nlg.memo_size = 0
    pairs = [p for p in nlg_pairs(load_dialogues(args.data_dir, "dev")) if p.acts]
    sources = [nlg.source(p.acts) for p in random.Random(3).sample(pairs, args.n)]
    out: dict[str, Any] = {"n": args.n}
    for name, settings, beams in (
        ("greedy", GenerationSettings(), 1),
        ("beam4", GenerationSettings(num_beams=4), 4),
    ):
        replies = {}
        for lean in (False, True):
            nlg.lean = lean
            start = time.perf_counter()
            replies[lean] = [nlg._decode([s], settings, beams, [list(v)])[0][0] for s, v in sources]
            out[f"{name}_{'lean' if lean else 'transformers'}_ms"] = (
                (time.perf_counter() - start) / args.n * 1000
            )
        out[f"{name}_same"] = sum(a == b for a, b in zip(replies[False], replies[True], strict=True))
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
