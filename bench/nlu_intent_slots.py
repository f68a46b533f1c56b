"""Experiment (issue 5): restrict each word's slot tag to the slots that the predicted intent had in
the training data (``JointConfig.intent_slots``). Scores a trained benchmark model on dev and test with
and without the restriction; ``tod export intent-slots`` stores the table in the model's meta.json (so
it is used from then on). Decide on dev: on SNIPS it helps, on ATIS (many rare intents) it hurts.

    python bench/nlu_intent_slots.py --model nlu-bert-snips --data snips
    tod export intent-slots --model nlu-bert-snips --data snips
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from dialog.data.nlu_bench import load_benchmark
from dialog.eval.nlu import score_targets
from dialog.nlu.bert import BertNLU, intent_slot_table
from dialog.nlu.targets import benchmark_targets


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", choices=("snips", "atis"), required=True)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    train = list(benchmark_targets(load_benchmark(args.data, args.data_dir, "train")))
    table = intent_slot_table(train)
    loaded = BertNLU.load(args.model)
    free = dataclasses.replace(loaded.config, intent_slots={})
    by_intent = dataclasses.replace(loaded.config, intent_slots=table)
    # Two NLUs over the one network: the tags free, and restricted to the intent's slots.
    variants = {
        name: BertNLU(loaded.model, config, loaded.meta)
        for name, config in (("free", free), ("by_intent", by_intent))
    }
    rows = {}
    for split in ("dev", "test"):
        targets = list(benchmark_targets(load_benchmark(args.data, args.data_dir, split)))
        for name, nlu in variants.items():
            rows[f"{split}_{name}"] = score_targets(nlu, targets)
            print(json.dumps({"split": split, "tags": name, **rows[f"{split}_{name}"]}), flush=True)


if __name__ == "__main__":
    main()
