"""Make an NLU ensemble (issue 5): several joint models with the same labels, trained from different
seeds, predicting together (the mean of their logits and of their CRFs; ``JointEnsemble``). Copies the
members into OUT (``seed0/``, ``seed1/``, ...), writes OUT/meta.json (the shared config, with the
intent → slots table when ``--intent-slots``, and ``members``) and prints the dev scores of each member
and of the ensemble, so that the choice is made on dev. Score the test split afterwards with
``tod eval nlu --model OUT``.

    python bench/nlu_ensemble.py --data snips --intent-slots --out data/models/nlu-bert-snips \\
        --members /tmp/snips_seed0 /tmp/snips_seed1
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from dialog.data.nlu_bench import load_benchmark
from dialog.eval.nlu import score_targets
from dialog.nlu.bert import BertNLU, intent_slot_table
from dialog.nlu.targets import benchmark_targets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", nargs="+", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", choices=("snips", "atis"), required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--intent-slots", action="store_true", help="restrict tags to the intent's slots")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:  # the members may live inside OUT
        staged = []
        for i, member in enumerate(args.members):
            copy = Path(tmp) / f"seed{i}"
            copy.mkdir()
            for name in ("meta.json", "weights.safetensors", "history.json"):
                if name != "history.json" or (member / name).is_file():
                    shutil.copy2(member / name, copy / name)
            staged.append(copy)
        if args.out.exists():
            shutil.rmtree(args.out)
        args.out.mkdir(parents=True)
        for copy in staged:
            shutil.copytree(copy, args.out / copy.name)
    names = [f"seed{i}" for i in range(len(args.members))]
    first = json.loads((args.out / names[0] / "meta.json").read_text())
    config = dict(first["config"])
    if args.intent_slots:
        train = list(benchmark_targets(load_benchmark(args.data, args.data_dir, "train")))
        config["intent_slots"] = intent_slot_table(train)
    meta = {
        "format_version": first["format_version"],
        "kind": first["kind"],
        "config": config,
        "members": names,
        "date": datetime.now(UTC).date().isoformat(),
        "made_from": [str(m) for m in args.members],
        "metrics": {},
    }
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    dev = list(benchmark_targets(load_benchmark(args.data, args.data_dir, "dev")))
    for name in names:
        scores = score_targets(BertNLU.load(args.out / name), dev)
        print(json.dumps({"model": name, "split": "dev", **scores}), flush=True)
    scores = score_targets(BertNLU.load(args.out), dev)
    print(json.dumps({"model": "ensemble", "split": "dev", **scores}), flush=True)
    meta["metrics"][f"{args.data}_dev"] = scores
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
