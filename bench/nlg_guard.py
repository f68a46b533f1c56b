"""How often the Transformer NLG's slot guard retries and falls back on the template in dialogue, and
what the retry costs (issue 11). Runs `tod bench`'s dialogues (pipeline agent, greedy, no memo) with
the NLG's ``realise`` counted; ``--beams`` sets the retry's beam width. (Its ``--agreement`` compared
the cached beam search with ``generate``'s until the one decoding loop replaced both: see
docs/log/2026-11-29_results_notebook.md.)

    python bench/nlg_guard.py --n 30 --json docs/runs/nlg_guard.json
    python bench/nlg_guard.py --n 30 --beams 2 --json docs/runs/nlg_guard_beams2.json
    python bench/nlg_guard.py --n 30 --mend --json docs/runs/nlg_guard_mend.json
    python bench/nlg_guard.py --n 30 --unstutter --json docs/runs/nlg_guard_unstutter.json
    python bench/nlg_guard.py --n 30 --mend --unstutter --json docs/runs/nlg_guard_both.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from dialog.backend import open_backends
from dialog.common.delex import slot_errors
from dialog.eval.bench import bench
from dialog.nlg.seq2seq import Seq2SeqNLG
from dialog.registry import load_builtins
from dialog.schema import expand_paths, load_schemas


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30, help="dialogues per showcase schema")
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument(
        "--mend",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="options left unsaid said in a clause instead of a beam search (Seq2SeqNLG._mend)",
    )
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
    ) -> Any:
        aided = self.configured(unstutter=args.unstutter, repair=args.mend, beams=args.beams)
        out = original(aided, items, settings, guard=guard)
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
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
