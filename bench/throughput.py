"""Simulated dialogues per second on one core, at act and text level.

taskset -c 0 python bench/throughput.py --schemas 'schemas/showcase/*.yaml' --n 300
"""

from __future__ import annotations

import argparse
import time

from dialog.backend import open_backends
from dialog.eval.dialogues import EvalConfig, evaluate
from dialog.registry import load_builtins
from dialog.schema import expand_paths, load_schemas


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", default="form")
    parser.add_argument("--schemas", default="schemas/showcase/*.yaml")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    load_builtins()
    schemas = load_schemas(expand_paths([args.schemas]))
    backends = open_backends(schemas)
    for level in ("acts", "text"):
        config = EvalConfig(agent=args.agent, n=args.n, seed=args.seed, level=level)  # type: ignore[arg-type]
        start = time.perf_counter()
        metrics = evaluate(schemas, backends, config).metrics
        seconds = time.perf_counter() - start
        print(
            f"{level:5s} {metrics['n_dialogues']} dialogues in {seconds:.1f} s: "
            f"{metrics['n_dialogues'] / seconds:.0f} dialogues/s, "
            f"turn p50 {metrics['turn_latency_ms_p50']:.3f} ms, p99 {metrics['turn_latency_ms_p99']:.3f} ms"
        )


if __name__ == "__main__":
    main()
