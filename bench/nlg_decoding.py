"""The Transformer NLG in dialogue under several decodings, beside the template NLG: the `pipeline`
agent with only its NLG changed, simulated text-level dialogues (the user acts on the acts, so every
run holds the same dialogues), scored for coherence, variety (distinct-n), repetition and fluency.

    python bench/nlg_decoding.py [--n 40] [--seed 1] [--out docs/runs/nlg_decoding]

Writes one metrics JSON per decoding (for `tod eval report`) and prints a table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dialog.backend import open_backends
from dialog.conversation.agent import create_agent
from dialog.eval.dialogues import EvalConfig, evaluate
from dialog.registry import load_builtins
from dialog.schema import expand_paths, load_schemas
from dialog.types import GenerationSettings

DECODINGS: dict[str, GenerationSettings | None] = {
    "template": None,
    "greedy": GenerationSettings(),
    "sample-t0.5-p0.9": GenerationSettings(do_sample=True, temperature=0.5, top_p=0.9),
    "sample-t0.7-p0.9": GenerationSettings(do_sample=True, temperature=0.7, top_p=0.9),
    "sample-t1.0-p0.9": GenerationSettings(do_sample=True, temperature=1.0, top_p=0.9),
}
KEYS = ("success_rate", "coherence", "distinct_1", "distinct_2", "ngram_repetition", "satisfaction",
        "fluency_ppl", "turn_latency_ms_p50")  # fmt: skip


def _cell(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schemas", default="schemas/showcase/*.yaml")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", default="nlg-seq2seq")
    parser.add_argument("--out", default="docs/runs/nlg_decoding")
    args = parser.parse_args()
    load_builtins()
    schemas = load_schemas(expand_paths([args.schemas]))
    backends = open_backends(schemas)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("| decoding | " + " | ".join(KEYS) + " |")
    for name, decoding in DECODINGS.items():
        nlg = "template" if decoding is None else "seq2seq"
        agent = create_agent("pipeline", schemas, backends, nlg=nlg)
        if decoding is not None:
            from dialog.nlg.seq2seq import Seq2SeqNLG

            nlg_model = Seq2SeqNLG.load(args.model).with_schemas(schemas).configured(decoding=decoding)
            agent = agent.with_stages(nlg=nlg_model)
        config = EvalConfig(agent="pipeline", n=args.n, seed=args.seed, level="text", stages={"nlg": nlg})
        metrics = evaluate(schemas, backends, config, agent=agent).metrics
        metrics["config"]["decoding"] = name
        (out / f"{name}.json").write_text(json.dumps(metrics, indent=1) + "\n")
        row = [
            f"{metrics.get(k):.3f}" if isinstance(metrics.get(k), float) else str(metrics.get(k))
            for k in KEYS
        ]
        print(f"| {name} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
