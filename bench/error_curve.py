"""Success of an agent against the simulated user's error rate: a table and a plot.

    python bench/error_curve.py --agent form --schemas 'schemas/showcase/*.yaml' --n 500 --seed 1 \
        --level acts --out docs/figures/form_error_curve
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from dialog.backend import open_backends
from dialog.eval.dialogues import EvalConfig, evaluate
from dialog.registry import load_builtins
from dialog.schema import expand_paths, load_schemas

RATES = (0.0, 0.1, 0.2, 0.3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", default="form")
    parser.add_argument("--schemas", default="schemas/showcase/*.yaml")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--level", default="acts", choices=["acts", "text"])
    parser.add_argument("--out", type=Path, default=Path("docs/figures/form_error_curve"))
    args = parser.parse_args()
    load_builtins()
    schemas = load_schemas(expand_paths([args.schemas]))
    backends = open_backends(schemas)
    rows = {}
    for rate in RATES:
        config = EvalConfig(agent=args.agent, n=args.n, seed=args.seed, level=args.level, nlu_error=rate)
        metrics = evaluate(schemas, backends, config).metrics
        rows[rate] = metrics
    print("| error rate | success | complete | book | inform F1 | turns | slot acc. | abandon |")
    print("|---|---|---|---|---|---|---|---|")
    for rate, m in rows.items():
        print(
            f"| {rate:.1f} | {m['success_rate']:.3f} | {m['complete_rate']:.3f} | {m['book_rate']:.3f} | "
            f"{m['inform_f1']:.3f} | {m['avg_turns']:.2f} | {m['slot_accuracy']:.3f} | "
            f"{m['abandon_rate']:.3f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(
        json.dumps({str(k): v for k, v in rows.items()}, indent=2) + "\n"
    )
    fig, ax = plt.subplots(figsize=(6, 4))
    services = sorted(rows[RATES[0]]["per_schema"])
    for service in services:
        ax.plot(
            RATES, [rows[r]["per_schema"][service]["success_rate"] for r in RATES], marker="o", label=service
        )
    ax.plot(RATES, [rows[r]["success_rate"] for r in RATES], "k--", linewidth=2, label="all")
    ax.set_xlabel("user error rate (INFORM acts dropped, swapped or changed)")
    ax.set_ylabel("task success")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{args.agent} agent, {args.level} level, {args.n} dialogues per schema, seed {args.seed}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"), dpi=120)
    print(f"wrote {args.out.with_suffix('.png')} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
