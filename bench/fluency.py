"""Train the fluency model (trigram Kneser-Ney on SGD train system turns, delexicalised) and
validate it: real SGD dev system turns against the same turns with their words shuffled (AUC of
the negated perplexity).

    python bench/fluency.py --data-dir ../shared/data --out data/models/fluency-ngram/lm.json.gz \\
        --json docs/runs/fluency_validation.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from sklearn.metrics import roc_auc_score

from dialog.data.sgd import load_dialogues
from dialog.data.views import nlg_pairs
from dialog.eval.fluency import NgramLM, delexicalised_turns


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--dev", type=int, default=3000, help="dev turns to validate on")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    start = time.perf_counter()
    train = delexicalised_turns([p for p in nlg_pairs(load_dialogues(args.data_dir, "train")) if p.utterance])
    lm = NgramLM().fit(train, min_count=args.min_count)
    lm.save(args.out)
    lm = NgramLM.load(args.out)
    built = time.perf_counter() - start
    rng = random.Random(0)
    dev = delexicalised_turns([p for p in nlg_pairs(load_dialogues(args.data_dir, "dev")) if p.utterance])
    dev = [t for t in rng.sample(dev, min(args.dev, len(dev))) if len(t.split()) >= 3]
    scrambled = []
    for text in dev:
        words = text.split()
        while True:
            rng.shuffle(words)
            if " ".join(words) != text:
                break
        scrambled.append(" ".join(words))
    real = [lm.perplexity(t) for t in dev]
    fake = [lm.perplexity(t) for t in scrambled]
    auc = roc_auc_score([1] * len(real) + [0] * len(fake), [-p for p in real + fake])
    result = {
        "train_turns": len(train),
        "dev_turns": len(dev),
        "auc_real_vs_scrambled": auc,
        "perplexity_real_median": statistics.median(real),
        "perplexity_scrambled_median": statistics.median(fake),
        "model_mb": round(args.out.stat().st_size / 2**20, 2),
        "minutes": round(built / 60, 2),
    }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
