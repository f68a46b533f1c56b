"""The tracker's learning curve: joint goal accuracy on the dev slice against training minutes, from
the evaluation lines that `tod train dst` prints (JSON, one per evaluation), run after run.

    python bench/dst_curve.py docs/runs/dst_train_run1.jsonl docs/runs/dst_train_run2.jsonl \
        --out docs/figures/dst_curve.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def read(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("{") and '"step"' in line:
            rows.append(json.loads(line))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "runs", nargs="+", type=Path, help="logs of consecutive runs (a run resumes the last)"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/figures/dst_curve.png"))
    args = parser.parse_args()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    offset = 0.0
    print("| run | step | minutes (cumulative) | JGA (slice) | unseen JGA | active intent | requested F1 |")
    print("|---|---|---|---|---|---|---|")
    for n, path in enumerate(args.runs, 1):
        rows = read(path)
        if not rows:
            continue
        minutes = [offset + r["minutes"] for r in rows]
        ax.plot(minutes, [r["joint_goal_accuracy"] for r in rows], "o-", label=f"run {n}: all services")
        ax.plot(minutes, [r["unseen_jga"] for r in rows], "s--", label=f"run {n}: unseen services")
        for m, r in zip(minutes, rows, strict=True):
            print(
                f"| {n} | {r['step']} | {m:.1f} | {r['joint_goal_accuracy']:.3f} | {r['unseen_jga']:.3f} | "
                f"{r['active_intent_accuracy']:.3f} | {r['requested_slots_f1']:.3f} |"
            )
        offset = minutes[-1]
    ax.set_xlabel("training minutes on 2 CPU cores (cumulative)")
    ax.set_ylabel("joint goal accuracy (dev slice)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("BERT DST learning curve (120 SGD dev dialogues)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)


if __name__ == "__main__":
    main()
