"""Save a SimpleTOD model with its large matrices as int8 rows (one fp16 scale per row): half the
file, the weights restored to floats on loading; its side files (shortlist, history, trained services)
go along. Measure it before committing it.

    python bench/simpletod_int8.py --model /tmp/st/r2 --out data/models/simpletod
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dialog.e2e.simpletod import SimpleTOD, copy_side_files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    model = SimpleTOD.load(args.model)
    before = {k: v.detach().clone() for k, v in model.model.named_parameters() if v.requires_grad}
    model.meta["weights"] = "int8 rows, fp16 scales (bench/simpletod_int8.py)"
    model.save(args.out, int8=True)
    copy_side_files(args.model, args.out)
    after = dict(SimpleTOD.load(args.out).model.named_parameters())
    worst = max(float((after[k] - v).abs().max() / v.abs().max().clamp_min(1e-12)) for k, v in before.items())
    size = (args.out / "weights.safetensors").stat().st_size / 2**20
    print(
        f"wrote {args.out}: {size:.1f} MiB; largest change relative to a tensor's largest weight {worst:.4f}"
    )


if __name__ == "__main__":
    with torch.no_grad():
        main()
