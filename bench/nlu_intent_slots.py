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
from dialog.nlu.bert import BertNLU, intent_slot_table, intent_tag_table
from dialog.nlu.targets import benchmark_targets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", choices=("snips", "atis"), required=True)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    train = list(benchmark_targets(load_benchmark(args.data, args.data_dir, "train")))
    table = intent_slot_table(train)
    nlu = BertNLU.load(args.model)
    restricted = intent_tag_table(dataclasses.replace(nlu.config, intent_slots=table))
    rows = {}
    for split in ("dev", "test"):
        targets = list(benchmark_targets(load_benchmark(args.data, args.data_dir, split)))
        for name, mask in (("free", None), ("by_intent", restricted)):
            nlu._intent_tags = mask
            rows[f"{split}_{name}"] = score_targets(nlu, targets)
            print(json.dumps({"split": split, "tags": name, **rows[f"{split}_{name}"]}), flush=True)


if __name__ == "__main__":
    main()
