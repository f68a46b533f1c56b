"""Latency of one reply of the Transformer NLG on this machine (batch of one): greedy with and without
slot-constrained decoding, and the model's own decoding (sampling), on a random sample of SGD dev
system turns.

    python bench/nlg_latency.py --data-dir ../shared/data --n 200 --json docs/runs/nlg_latency.json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from dialog.data.sgd import load_dialogues, read_sgd_schemas
from dialog.data.views import nlg_pairs
from dialog.eval.nlg import latency
from dialog.nlg.seq2seq import Seq2SeqNLG
from dialog.types import GenerationSettings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="nlg-seq2seq")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    nlg = Seq2SeqNLG.load(args.model).with_schemas(read_sgd_schemas(args.data_dir, "dev"))
    pairs = [p for p in nlg_pairs(load_dialogues(args.data_dir, "dev")) if p.acts]
    sample = random.Random(0).sample(pairs, args.n)
    out = {"n": args.n, "reply_tokens_p50": float(np.median([len(p.utterance.split()) for p in sample]))}
    for constrain in (True, False):
        out["constrained" if constrain else "unconstrained"] = latency(
            nlg.configured(constrain=constrain), sample, args.n, GenerationSettings()
        )
    out["constrained, own decoding"] = latency(nlg, sample, args.n)  # sampling at T=0.5 (its meta)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
