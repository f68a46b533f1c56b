"""The learned policy against the form policy on held-out schemas: mean ± std over the seeds of a
trained policy, at act level with and without user errors (and optionally at text level).

    python bench/policy_seeds.py --policy policies/ppo --n 500 --seed 1 \\
        --schemas 'schemas/showcase/*.yaml' --schemas 'schemas/sgd/{Alarm_1,Banks_2,...}.yaml' \\
        --json docs/runs/policy_seeds.json --figure docs/figures/policy_error_curve.png

Each run is ``tod eval dialogues`` with the policy stage replaced (same goals, same seeds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from dialog.backend import open_backends
from dialog.conversation.agent import create_agent
from dialog.data.sgd import UNSEEN_DEV_SERVICES
from dialog.eval.dialogues import EvalConfig, evaluate
from dialog.policy.ppo import PPOPolicy
from dialog.registry import load_builtins
from dialog.schema import expand_paths, load_schemas

KEYS = ("success_rate", "avg_turns", "abandon_rate", "book_rate", "inform_f1")


def run(
    schemas: list[Any], backends: Any, policy: str | None, args: argparse.Namespace, rate: float, level: str
) -> dict[str, Any]:
    stages = {"nlu": args.nlu, "dst": args.dst} if level == "text" else {}
    agent = create_agent("form", schemas, backends, **stages)
    name = "form"
    if policy is not None:
        agent = agent.with_stages(policy=PPOPolicy.load(schemas, backends, model=policy))
        agent.names["policy"] = name = Path(policy).stem
    n = args.text_n if level == "text" else args.n
    config = EvalConfig(agent="form", n=n, seed=args.seed, level=level, nlu_error=rate)  # type: ignore[arg-type]
    start = time.perf_counter()
    metrics = evaluate(schemas, backends, config, agent=agent).metrics
    out = {k: metrics[k] for k in KEYS}
    print(
        f"{level} error {rate:.1f} {name:>6}: "
        + ", ".join(f"{k} {v:.3f}" for k, v in out.items() if v is not None)
        + f" ({time.perf_counter() - start:.0f} s)",
        flush=True,
    )
    return out


def mean_std(rows: list[dict[str, Any]], key: str) -> tuple[float, float]:
    values = [r[key] for r in rows]
    return statistics.mean(values), statistics.pstdev(values) if len(values) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policy", type=Path, default=Path("policies/ppo"))
    parser.add_argument("--schemas", action="append", default=None)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rates", default="0.0,0.1,0.2,0.3")
    parser.add_argument("--text", action="store_true", help="also the text level at error 0 (BERT NLU, DST)")
    parser.add_argument("--text-n", type=int, default=200, help="dialogues per schema at text level")
    parser.add_argument("--nlu", default="bert")
    parser.add_argument("--dst", default="rule")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--figure", type=Path)
    args = parser.parse_args()
    load_builtins()
    paths = args.schemas or [
        "schemas/showcase/*.yaml",
        *[f"schemas/sgd/{s}.yaml" for s in UNSEEN_DEV_SERVICES],
    ]
    schemas = load_schemas(expand_paths(paths))
    backends = open_backends(schemas)
    seeds = sorted(args.policy.glob("seed*.zip"))
    rates = [float(r) for r in args.rates.split(",")]
    results: dict[str, Any] = {
        "schemas": [s.service for s in schemas],
        "n": args.n,
        "seed": args.seed,
        "acts": {},
    }
    for rate in rates:
        form = run(schemas, backends, None, args, rate, "acts")
        ppo = [run(schemas, backends, str(p), args, rate, "acts") for p in seeds]
        results["acts"][f"{rate:g}"] = {
            "form": form,
            "ppo_seeds": ppo,
            **{f"ppo_{k}": mean_std(ppo, k) for k in ("success_rate", "avg_turns", "abandon_rate")},
        }
    if args.text:
        form = run(schemas, backends, None, args, 0.0, "text")
        ppo = run(schemas, backends, str(args.policy / "model.zip"), args, 0.0, "text")
        results["text"] = {"form": form, "ppo": ppo, "nlu": args.nlu, "dst": args.dst}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.figure is not None:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        form_curve = [results["acts"][f"{r:g}"]["form"]["success_rate"] for r in rates]
        means = [results["acts"][f"{r:g}"]["ppo_success_rate"][0] for r in rates]
        stds = [results["acts"][f"{r:g}"]["ppo_success_rate"][1] for r in rates]
        ax.plot(rates, form_curve, "o--", color="grey", label="form policy")
        ax.errorbar(
            rates, means, yerr=stds, fmt="o-", capsize=3, label=f"PPO ({len(seeds)} seeds, mean ± std)"
        )
        ax.set_xlabel("user error rate (INFORM acts dropped, moved or changed)")
        ax.set_ylabel("success")
        ax.set_title(f"held-out schemas ({len(schemas)}), {args.n} dialogues each")
        ax.legend()
        fig.tight_layout()
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=110)
    print(f"-> {args.json}")


if __name__ == "__main__":
    main()
