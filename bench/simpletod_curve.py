"""SimpleTOD's training runs side by side: the loss on the written part and the joint goal accuracy on
the SGD dev slice the trainer tracks, against training steps, from the ``history.json`` that
`tod train simpletod` writes beside each model.

    python bench/simpletod_curve.py docs/runs/simpletod_causal_lora_history.json:148:"causal, adapters" \
        docs/runs/simpletod_prefix_full_history.json:0:"prefix, all layers" \
        --out docs/figures/simpletod_curve.png

Each run is ``PATH[:STEPS_BEFORE[:LABEL]]``: a run that resumed another starts at that run's steps.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+", help="PATH[:STEPS_BEFORE[:LABEL]] of each history.json")
    parser.add_argument("--out", type=Path, default=Path("docs/figures/simpletod_curve.png"))
    args = parser.parse_args()
    fig, (loss_ax, jga_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    print("| run | step | minutes | loss | dev-slice JGA | active intent |")
    print("|---|---|---|---|---|---|")
    for spec in args.runs:
        path, _, rest = spec.partition(":")
        before, _, label = rest.partition(":")
        offset = int(before or 0)
        label = label or Path(path).parent.name
        history = json.loads(Path(path).read_text())
        losses = dict(history["loss"])
        steps = sorted(losses)
        loss_ax.plot([offset + s for s in steps], [losses[s] for s in steps], label=label)
        evals = history["evals"]
        jga_ax.plot(
            [offset + e["step"] for e in evals], [e["joint_goal_accuracy"] for e in evals], "o-", label=label
        )
        for e in evals:
            near = min(steps, key=lambda s: abs(s - e["step"])) if steps else None
            loss = f"{losses[near]:.3f}" if near is not None else ""
            print(
                f"| {label} | {offset + e['step']} | {e['minutes']:.1f} | {loss} | "
                f"{e['joint_goal_accuracy']:.3f} | {e['active_intent_accuracy']:.3f} |"
            )
    loss_ax.set_xlabel("training steps (batch 16)")
    loss_ax.set_ylabel("loss on the written part (smoothed)")
    loss_ax.set_ylim(0, 3)
    jga_ax.set_xlabel("training steps (batch 16)")
    jga_ax.set_ylabel("joint goal accuracy (12 SGD dev dialogues)")
    jga_ax.set_ylim(0, 1)
    jga_ax.axhline(0.40, color="grey", linestyle=":", label="asked: 0.40")
    for ax in (loss_ax, jga_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("SimpleTOD training on SGD train (2 CPU cores)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
