"""Robustness of the tracker to how a schema is written: SGD dev tracked with the original schemas and
with each of the five SGD-X rewordings (names mapped onto the dialogues), joint goal accuracy of each,
the mean and the largest drop. A table on stdout, JSON and a bar chart.

    python bench/dst_sgdx.py --model dst-bert --data-dir ../shared/data --out docs/runs/dst_sgdx
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from dialog.dst.bert import BertDST
from dialog.eval.dst import bert_tracker, evaluate_tracker


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="dst-bert")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--limit", type=int, default=None, help="only the first N dialogues")
    parser.add_argument("--out", type=Path, default=Path("docs/runs/dst_sgdx"), help="JSON written here")
    parser.add_argument("--figure", type=Path, default=Path("docs/figures/dst_sgdx.png"))
    args = parser.parse_args()
    rows = {}
    for variant in (None, 1, 2, 3, 4, 5):
        start = time.perf_counter()
        dst = BertDST.load(args.model)  # a fresh schema cache for each wording
        m = evaluate_tracker(bert_tracker(dst), args.data_dir, args.split, args.limit, variant=variant)
        name = "original" if variant is None else f"v{variant}"
        rows[name] = {
            "joint_goal_accuracy": m["joint_goal_accuracy"],
            "unseen_joint_goal_accuracy": (m.get("unseen") or {}).get("joint_goal_accuracy"),
            "active_intent_accuracy": m["active_intent_accuracy"],
            "requested_slots_f1": m["requested_slots_f1"],
            "n_frames": m["n_frames"],
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(name, json.dumps(rows[name]), flush=True)
    base = rows["original"]["joint_goal_accuracy"]
    variants = [rows[f"v{i}"]["joint_goal_accuracy"] for i in range(1, 6)]
    summary = {
        "original": base,
        "sgdx_mean": sum(variants) / len(variants),
        "mean_drop": base - sum(variants) / len(variants),
        "largest_drop": base - min(variants),
        "rows": rows,
        "limit": args.limit,
    }
    print("| schemas | joint goal acc. | unseen JGA | active intent | requested F1 |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['joint_goal_accuracy']:.3f} | {r['unseen_joint_goal_accuracy']:.3f} | "
            f"{r['active_intent_accuracy']:.3f} | {r['requested_slots_f1']:.3f} |"
        )
    print(
        f"SGD-X mean {summary['sgdx_mean']:.3f}: mean drop {100 * summary['mean_drop']:.1f} points, "
        f"largest {100 * summary['largest_drop']:.1f}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    fig, ax = plt.subplots(figsize=(6, 3.2))
    names = list(rows)
    ax.bar(names, [rows[n]["joint_goal_accuracy"] for n in names], color=["#444"] + ["#69c"] * 5)
    ax.axhline(base, color="#444", lw=0.8, ls="--")
    ax.set_ylabel("joint goal accuracy")
    ax.set_title("SGD dev: original schemas vs the five SGD-X rewordings")
    ax.set_ylim(0, 1)
    fig.tight_layout()
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=120)


if __name__ == "__main__":
    main()
