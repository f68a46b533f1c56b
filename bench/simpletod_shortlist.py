"""Writes a SimpleTOD model's reply shortlist (``shortlist.json``: every word piece of the replies it
was trained on), which its agent's replies keep to; ``tod train simpletod`` writes it for new models.

    python bench/simpletod_shortlist.py --model data/models/simpletod --data-dir ../shared/data \\
        --config data/configs/simpletod/sgd_services_synthetic.yaml

The replies: every SGD train turn's (not only the sampled ones) and, with ``--config``, those of the
config's simulated dialogues.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dialog.data.sgd import load_dialogues, read_sgd_schemas
from dialog.e2e.simpletod import SimpleTOD
from dialog.e2e.train import load_spec, segments, synthetic_segments, write_shortlist
from dialog.infra.artifacts import resolve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="simpletod")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--config", type=Path, default=None, help="a training config with synthetic_schemas")
    args = parser.parse_args()
    model = SimpleTOD.load(args.model)
    found = segments(load_dialogues(args.data_dir, "train"), read_sgd_schemas(args.data_dir, "train"))
    if args.config is not None:
        spec = load_spec(args.config)
        if spec.synthetic_schemas and spec.synthetic_per_schema:
            found += synthetic_segments(spec)
    count = write_shortlist(resolve(args.model), model, found)
    print(f"{count} word pieces from {len(found)} replies -> {resolve(args.model)}")


if __name__ == "__main__":
    main()
