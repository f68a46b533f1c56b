"""What the Transformer NLG's two optional decoding aids do to the dialogue (issue 11): the `pipeline`
agent (BERT NLU, rule DST, PPO, Transformer NLG with its own decoding) over the report's schemas
(bench/report_all.py: showcase + the 8 unseen SGD dev services), once per combination of
``mend`` (a REQUEST's options left unsaid said in a clause instead of a beam search) and
``unstutter`` (decoding barred from repeated trigrams and doubled punctuation); success, coherence,
fluency and turn latency of each.

    python bench/nlg_aids.py --total 500 --seed 1 --json docs/runs/nlg_aids.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from dialog.conversation.agent import create_agent
from dialog.eval.compare import report_schemas
from dialog.eval.dialogues import EvalConfig, evaluate

KEYS = (
    "success_rate",
    "coherence",
    "fluency_ppl",
    "distinct_2",
    "turn_latency_ms_p50",
    "turn_latency_ms_p99",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=500, help="dialogues per variant, over all schemas")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    schemas, backends = report_schemas()
    n = max(1, round(args.total / len(schemas)))
    stages = {"policy": "ppo", "nlg": "seq2seq"}
    agent: Any = create_agent("pipeline", schemas, backends, **stages)
    out = []
    for mend in (False, True):
        for unstutter in (False, True):
            agent.nlg.repair, agent.nlg.unstutter = mend, unstutter
            agent.nlg.memo.clear()  # each variant starts cold
            start = time.perf_counter()
            config = EvalConfig(agent="pipeline", n=n, seed=args.seed, level="text", stages=stages)
            metrics = evaluate(schemas, backends, config, agent=agent).metrics
            row = {"mend": mend, "unstutter": unstutter, "n_dialogues": metrics["n_dialogues"]}
            row.update({k: metrics[k] for k in KEYS})
            out.append(row)
            print(json.dumps(row), f"({time.perf_counter() - start:.0f} s)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
