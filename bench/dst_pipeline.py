"""Text-level dialogues of the pipeline (BERT NLU, form policy, template NLG) with each tracker: the rule
DST, the registry's ``bert`` (the tracker with the NLU's values fused in, accepted offers taken and new
values checked against what the system said), and ``bert`` with each of those switched off (VARIANTS).
A table on stdout and one JSON file per run.

    python bench/dst_pipeline.py --schemas 'schemas/showcase/*.yaml' --n 100 --seed 1 --user-text sgd \
        --data-dir ../shared/data --out docs/runs/dst_pipeline_showcase
    python bench/dst_pipeline.py --schemas 'schemas/showcase/*.yaml' --n 100 --seed 2 --user-text sgd \
        --data-dir ../shared/data --trackers rule,bert --out docs/runs/dst_pipeline_showcase_seed2

(and ``--seed 3`` to ``..._seed3``): the goals and the users' wording change with the seed. The whole
``pipeline`` agent around each tracker (PPO policy, Transformer NLG):

    python bench/dst_pipeline.py --policy ppo --nlg seq2seq --trackers rule,bert --seed 1 \
        --data-dir ../shared/data --out docs/runs/dst_pipeline_full_seed1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from dialog.backend import open_backends
from dialog.dst.bert import dst_factory
from dialog.eval.dialogues import EvalConfig, evaluate
from dialog.registry import load_builtins, registry
from dialog.schema import expand_paths, load_schemas

VARIANTS: dict[str, dict[str, bool]] = {
    # registry name → dst_factory switches (the registry's ``bert`` has them all on)
    "bert-pure": {"fuse_nlu": False},  # the tracker alone (with its values checked: ``snap``)
    "bert-nosnap": {"snap_values": False},
    "bert-nooffer": {"take_offers": False},
    "bert-fuse-only": {"snap_values": False, "take_offers": False},  # as it was before 2026-11-30
}


def variant(switches: dict[str, bool]) -> Any:
    return lambda **kw: dst_factory(**kw, **switches)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schemas", default="schemas/showcase/*.yaml")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--user-text", default="sgd", choices=["templates", "sgd"])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--policy", default="form", help="the agent's other stages: form / ppo, ...")
    parser.add_argument("--nlg", default="template", help="template / seq2seq, ...")
    parser.add_argument("--db-dir", type=Path, default=None)
    parser.add_argument("--trackers", default="rule,bert,bert-pure,bert-fuse-only,bert-nosnap,bert-nooffer")
    parser.add_argument("--out", type=Path, default=Path("docs/runs/dst_pipeline_showcase"))
    args = parser.parse_args()
    load_builtins()
    for name, switches in VARIANTS.items():
        if name not in registry.names("dst"):
            registry.register("dst", name)(variant(switches))
    schemas = load_schemas(expand_paths([args.schemas]))
    backends = open_backends(schemas, args.db_dir)
    rows = {}
    for tracker in args.trackers.split(","):
        config = EvalConfig(
            agent="pipeline", n=args.n, seed=args.seed, level="text",
            stages={"dst": tracker, "policy": args.policy, "nlg": args.nlg},
            user_text=args.user_text, data_dir=args.data_dir,
        )  # fmt: skip
        start = time.perf_counter()
        metrics = evaluate(schemas, backends, config).metrics
        metrics["seconds"] = round(time.perf_counter() - start, 1)
        rows[tracker] = metrics
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{tracker}.json").write_text(json.dumps(metrics, indent=1) + "\n")
        shown = {k: metrics[k] for k in ("success_rate", "joint_goal_accuracy", "seconds")}
        print(tracker, shown, flush=True)
    print("| DST | dialogues | success | book | inform F1 | slot acc. | JGA | turns | abandon | turn p50 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for tracker, m in rows.items():
        print(
            f"| {tracker} | {m['n_dialogues']} | {m['success_rate']:.3f} | {m['book_rate']:.3f} | "
            f"{m['inform_f1']:.3f} | {m['slot_accuracy']:.3f} | {m['joint_goal_accuracy']:.3f} | "
            f"{m['avg_turns']:.2f} | {m['abandon_rate']:.3f} | {m['turn_latency_ms_p50']:.1f} |"
        )


if __name__ == "__main__":
    main()
