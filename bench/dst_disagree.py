"""Where the rule DST and the BERT tracker (``bert``) part: the same simulated dialogues as
bench/dst_pipeline.py (BERT NLU, form policy, template NLG, SGD dev wording), run with each tracker;
counts the dialogues only one of them completes (the same goals for both: the pairs are the same
dialogues up to where the trackers part) and writes the losing tracker's transcript of each.

    python bench/dst_disagree.py --seed 3 --data-dir ../shared/data --out docs/runs/dst_disagree_seed3.txt
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dialog.backend import open_backends
from dialog.eval.dialogues import EvalConfig, evaluate
from dialog.registry import load_builtins
from dialog.schema import expand_paths, load_schemas


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schemas", default="schemas/showcase/*.yaml")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--policy", default="form", help="the agent's other stages: form / ppo, ...")
    parser.add_argument("--nlg", default="template", help="template / seq2seq, ...")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    load_builtins()
    schemas = load_schemas(expand_paths([args.schemas]))
    backends = open_backends(schemas)
    runs = {}
    for dst in ("rule", "bert"):
        config = EvalConfig(
            agent="pipeline", n=args.n, seed=args.seed, level="text",
            stages={"dst": dst, "policy": args.policy, "nlg": args.nlg},
            user_text="sgd", data_dir=args.data_dir, coherence=None,
        )  # fmt: skip
        runs[dst] = evaluate(schemas, backends, config, keep_transcripts=args.n)
    rule, bert = runs["rule"], runs["bert"]
    both = list(zip(rule.scores, bert.scores, rule.transcripts, bert.transcripts, strict=True))
    lines = [
        f"dialogues {len(both)}; rule only {sum(r.success and not b.success for r, b, _, _ in both)}; "
        f"bert only {sum(b.success and not r.success for r, b, _, _ in both)}"
    ]
    for r, b, rule_transcript, bert_transcript in both:
        if r.success == b.success:
            continue
        loser, transcript = ("bert", bert_transcript) if r.success else ("rule", rule_transcript)
        goal = "; ".join(f"{t.intent} {dict(t.constraints)}" for t in transcript.goal.tasks)
        lines.append(
            f"=== only {'rule' if r.success else 'bert'} succeeds; the {loser} DST's dialogue; goal {goal}"
        )
        for turn in transcript.turns:
            lines.append(f"U: {turn.user_text}")
            lines.append(
                f"   state: { {k: dict(f.slot_values) for k, f in turn.reply.state.frames.items()} }"
            )
            lines.append(f"S: {turn.reply.text}")
    print(lines[0])
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
