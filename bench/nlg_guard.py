"""How often the Transformer NLG's slot guard retries and falls back on the template in dialogue, and
what the retry costs (issue 11). Runs `tod bench`'s dialogues (pipeline agent, greedy, no memo) with
the NLG's ``realise`` counted; ``--beams`` sets the retry's beam width. ``--agreement N`` also compares
the plain cached beam search with ``generate``'s on N sampled SGD dev turns (best reply, and time).

    python bench/nlg_guard.py --n 30 --agreement 40 --data-dir ../shared/data --json docs/runs/nlg_guard.json
    python bench/nlg_guard.py --n 30 --beams 2 --json docs/runs/nlg_guard_beams2.json
    python bench/nlg_guard.py --n 30 --mend --json docs/runs/nlg_guard_mend.json
    python bench/nlg_guard.py --n 30 --unstutter --json docs/runs/nlg_guard_unstutter.json
    python bench/nlg_guard.py --n 30 --mend --unstutter --json docs/runs/nlg_guard_both.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from dialog.backend import open_backends
from dialog.delex import slot_errors
from dialog.eval.bench import bench
from dialog.nlg.seq2seq import Seq2SeqNLG
from dialog.registry import load_builtins
from dialog.schema import expand_paths, load_schemas
from dialog.types import GenerationSettings


def agreement(n: int, data_dir: str | None) -> dict[str, Any]:
    from dialog.data.sgd import load_dialogues, read_sgd_schemas
    from dialog.data.views import nlg_pairs

    nlg = Seq2SeqNLG.load("nlg-seq2seq").with_schemas(read_sgd_schemas(data_dir, "dev"))
    nlg.memo_size = 0
    pairs = [p for p in nlg_pairs(load_dialogues(data_dir, "dev")) if p.acts]
    same = 0
    times = {"plain": 0.0, "generate": 0.0}
    # A repetition penalty of (almost) 1 sends the same beam search through `generate`.
    ways = {
        "plain": GenerationSettings(num_beams=4),
        "generate": GenerationSettings(num_beams=4, repetition_penalty=1.0000001),
    }
    for pair in random.Random(1).sample(pairs, n):
        source, values = nlg.source(pair.acts)
        best = {}
        for way, settings in ways.items():
            start = time.perf_counter()
            best[way] = nlg._decode([source], settings, 4, [list(values)])[0][0]
            times[way] += time.perf_counter() - start
        same += best["plain"] == best["generate"]
    return {"n": n, "same_best": same, **{f"{w}_ms_mean": t / n * 1000 for w, t in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30, help="dialogues per showcase schema")
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--agreement", type=int, default=0)
    parser.add_argument(
        "--mend",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="options left unsaid said in a clause instead of a beam search (Seq2SeqNLG._mend)",
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--unstutter",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="decoding barred from repeated trigrams and punctuation (dialog.generation.rules.NoStutter)",
    )
    args = parser.parse_args()
    counts: Counter[str] = Counter()
    original = Seq2SeqNLG.realise

    def counted(
        self: Seq2SeqNLG,
        items: Any,
        settings: Any = None,
        guard: bool = True,
        beams: int = 4,
        constrain: Any = None,
        repair: Any = None,
    ) -> Any:
        self.unstutter = args.unstutter
        out = original(
            self, items, settings, guard=guard, beams=args.beams, constrain=constrain, repair=args.mend
        )
        for gen in out:
            counts["replies"] += 1
            counts["mended"] += gen.mended
            counts["mended_taken"] += gen.mended and not gen.fallback and gen.candidates[1].ok
            if len(gen.candidates) > 1 + gen.mended:
                counts["retried"] += 1
                placeholders = sum(slot_errors(gen.candidates[0].text, list(gen.slots), ()))
                counts["retried_for_words_only" if placeholders == 0 else "retried_for_placeholders"] += 1
                counts["template"] += gen.fallback
        return out

    Seq2SeqNLG.realise = counted  # type: ignore[method-assign]
    load_builtins()
    schemas = load_schemas(expand_paths(["schemas/showcase/*.yaml"]))
    result = bench("pipeline", schemas, open_backends(schemas), args.n, 0, {}, greedy=True, memo=False)
    Seq2SeqNLG.realise = original  # type: ignore[method-assign]
    out: dict[str, Any] = {"beams": args.beams, "mend": args.mend, "unstutter": args.unstutter, **counts}
    out.update({k: result[k] for k in ("turn_ms_p50", "turn_ms_p99", "nlg_ms_p50", "nlg_ms_p99")})
    if args.agreement:
        out["agreement"] = agreement(args.agreement, args.data_dir)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
