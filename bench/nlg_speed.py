"""Speed-ups of the Transformer NLG and what they cost (issue 11): int8 dynamic quantization (weights
per channel) and the output-layer shortlist (dialog/generation/shortlist.py), alone and together, against the
float model with the full output layer: BLEU, slot error rate and fallback rate on a sample of SGD dev
system turns, how many greedy replies stay word for word the same, and batch-of-one latency (greedy,
the memo of earlier decodings off).

The shortlist is made by ``tod export shortlist`` (every word piece of SGD train's delexicalised system
turns, into the model's directory); ``tod export inference`` records the chosen settings in its
meta.json (``inference``), which ``Seq2SeqNLG.load`` then uses by default.

    tod export shortlist --data-dir ../shared/data
    python bench/nlg_speed.py --data-dir ../shared/data --n 1000 --json docs/runs/nlg_speed.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from dialog.data.sgd import load_dialogues
from dialog.data.views import nlg_pairs
from dialog.eval.nlg import aggregate, realise_pairs
from dialog.nlg.seq2seq import Seq2SeqNLG
from dialog.nlg.train import sgd_schemas
from dialog.types import DialogueState, GenerationSettings

VARIANTS = {"float": (False, False), "int8": (True, False), "shortlist": (False, True), "both": (True, True)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="nlg-seq2seq")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n", type=int, default=1000, help="SGD dev system turns scored")
    parser.add_argument("--latency-n", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: as is)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out: dict = {"n": args.n}
    schemas = sgd_schemas(args.data_dir, "dev")
    pairs = [p for p in nlg_pairs(load_dialogues(args.data_dir, "dev")) if p.acts]
    sample = random.Random(0).sample(pairs, args.n)
    greedy = GenerationSettings()
    reference: list[str] = []
    for name, (int8, short) in VARIANTS.items():
        nlg = Seq2SeqNLG.load(args.model, int8=int8, shortlist=short).with_schemas(schemas)
        nlg = nlg.configured(memo_size=0)
        scored = realise_pairs(nlg, sample, settings=greedy, batch_size=1)
        texts = [s.hypothesis for s in scored]
        reference = reference or texts
        times = []
        for pair in sample[: args.latency_n]:
            start = time.perf_counter()
            nlg.generate(pair.acts, DialogueState(), greedy)
            times.append((time.perf_counter() - start) * 1000)
        row = {
            **{
                k: v
                for k, v in aggregate(scored).items()
                if k in ("bleu", "slot_error_rate", "fallback_rate")
            },
            "same_as_float": float(np.mean([a == b for a, b in zip(texts, reference, strict=True)])),
            "latency_ms_p50": float(np.percentile(times, 50)),
            "latency_ms_p99": float(np.percentile(times, 99)),
        }
        out[name] = row
        print(json.dumps({"variant": name, **row}), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
