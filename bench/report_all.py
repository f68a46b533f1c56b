"""Every agent side by side, in one command: `tod eval dialogues` for each agent (and error rate), then
`tod eval report` over the runs.

    python bench/report_all.py --total 500 --seed 1 --out docs/runs/report_all

The schemas are the showcase services and the 8 SGD dev services unseen in training; ``--total``
dialogues per run are spread evenly over them. Runs: the form policy and the PPO policy at act level
with 0, 10 and 20 % user error (the success-vs-error curves), and at text level the
rule pipeline (`form`), the BERT pipeline (BERT NLU and DST) with the form and with the PPO policy, the
BERT pipeline with the PPO policy and the Transformer NLG (the `pipeline` default), the same with the
rule DST in place of the BERT tracker, and SimpleTOD at
text level (``--simpletod-total`` dialogues: about 1 s a turn on 2 cores, so fewer than the others).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from dialog.common.paths import models_dir
from dialog.conversation.agent import create_agent
from dialog.eval.compare import load_runs, report_schemas, write_report
from dialog.eval.dialogues import EvalConfig, evaluate

RUNS: list[tuple[str, str, dict[str, str], str, float]] = [
    # (file name, agent, stage overrides, level, user error rate)
    ("form_acts", "form", {}, "acts", 0.0),
    ("form_acts_err10", "form", {}, "acts", 0.1),
    ("form_acts_err20", "form", {}, "acts", 0.2),
    ("ppo_acts", "form", {"policy": "ppo"}, "acts", 0.0),
    ("ppo_acts_err10", "form", {"policy": "ppo"}, "acts", 0.1),
    ("ppo_acts_err20", "form", {"policy": "ppo"}, "acts", 0.2),
    ("form_text", "form", {}, "text", 0.0),
    ("pipeline_form_text", "pipeline", {"policy": "form", "nlg": "template"}, "text", 0.0),
    ("pipeline_ppo_text", "pipeline", {"policy": "ppo", "nlg": "template"}, "text", 0.0),
    ("pipeline_ppo_seq2seq_text", "pipeline", {"policy": "ppo", "nlg": "seq2seq"}, "text", 0.0),
    ("pipeline_rule_dst_text", "pipeline", {"dst": "rule", "policy": "ppo", "nlg": "seq2seq"}, "text", 0.0),
    ("simpletod_text", "simpletod", {}, "text", 0.0),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=500, help="dialogues per run, over all schemas")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("docs/runs/report_all"))
    parser.add_argument("--only", default="", help="comma-separated run names (default: all available)")
    parser.add_argument(
        "--user-text",
        default="model",
        help="the user's words at text level: model (the learned user, default), templates or sgd",
    )
    parser.add_argument("--simpletod-total", type=int, default=55, help="dialogues of the SimpleTOD run")
    args = parser.parse_args()
    schemas, backends = report_schemas()
    n = max(1, round(args.total / len(schemas)))
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    start = time.perf_counter()
    wanted = set(filter(None, args.only.split(",")))
    for name, agent_name, stages, level, rate in RUNS:
        if wanted and name not in wanted:
            continue
        if stages.get("nlg") == "seq2seq" and not (models_dir() / "nlg-seq2seq").exists():
            print(f"skip {name}: no trained NLG committed")
            continue
        if agent_name == "simpletod" and not (models_dir() / "simpletod").exists():
            print(f"skip {name}: no trained SimpleTOD committed")
            continue
        t0 = time.perf_counter()
        agent = create_agent(agent_name, schemas, backends, **stages)
        runs = n if agent_name != "simpletod" else max(1, round(args.simpletod_total / len(schemas)))
        config = EvalConfig(
            agent=agent_name,
            n=runs,
            seed=args.seed,
            level=level,  # type: ignore[arg-type]
            nlu_error=rate,
            stages=stages,
            user_text=args.user_text,
        )
        metrics = evaluate(schemas, backends, config, agent=agent).metrics
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(metrics, indent=1) + "\n")
        written.append(path)
        print(
            f"{name}: {metrics['n_dialogues']} dialogues, success {metrics['success_rate']:.3f}, "
            f"coherence {metrics['coherence']}, ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    # The report covers every run of the list that has a result here (``--only`` redoes some of them).
    present = [args.out / f"{name}.json" for name, *_ in RUNS if (args.out / f"{name}.json").is_file()]
    report = write_report(load_runs(present), args.out)
    print(f"{len(written)} runs in {(time.perf_counter() - start) / 60:.1f} min -> {report}")


if __name__ == "__main__":
    main()
