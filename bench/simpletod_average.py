"""Average the weights of SimpleTOD models fine-tuned from one another (a "model soup": Wortsman et
al., 2022) and save the mean int8-stored, as bench/simpletod_int8.py does. The first model's
meta.json and side files (shortlist, history, trained services) go along. Measure it before committing it.

    python bench/simpletod_average.py --models data/models/simpletod /tmp/st/sgd3 --out /tmp/st/soup
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dialog.e2e.simpletod import SimpleTOD, copy_side_files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if len(args.models) < 2:
        parser.error("--models needs two or more models to average")
    models = [SimpleTOD.load(path) for path in args.models]
    first = models[0]
    states = [m.model.state_dict() for m in models]
    if any(s.keys() != states[0].keys() for s in states[1:]):
        parser.error("the models do not have the same parameters: only fine-tuned copies can be averaged")
    mean = {
        key: torch.stack([s[key].float() for s in states]).mean(0).to(value.dtype)
        if value.is_floating_point()
        else value
        for key, value in states[0].items()
    }
    first.model.load_state_dict(mean)
    first.meta["weights"] = "int8 rows, fp16 scales; the mean of " + ", ".join(map(str, args.models))
    first.save(args.out, int8=True)
    copy_side_files(args.models[0], args.out)
    print(f"wrote {args.out}: the mean of {len(models)} models")


if __name__ == "__main__":
    with torch.no_grad():
        main()
