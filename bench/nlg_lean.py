"""The lean decoder step (dialog/generation/lean.py) against the Transformers decoder step: on N sampled SGD
dev system turns, greedy and 4-beam replies of each through the one decoding loop
(dialog/generation/decode.py), how many are word for word the same, and the time per reply (the memo
of earlier decodings off). The Transformers step lives here only, as the reference the lean one is
measured against.

    python bench/nlg_lean.py --n 60 --data-dir ../shared/data --json docs/runs/nlg_lean.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import torch

import dialog.nlg.seq2seq as seq2seq
from dialog.data.sgd import load_dialogues, read_sgd_schemas
from dialog.data.views import nlg_pairs
from dialog.generation.lean import LeanDecoder
from dialog.nlg.seq2seq import Seq2SeqNLG
from dialog.types import GenerationSettings


class TransformersStep:
    """The ``Stepper`` of the decoding loop over ``model.decoder`` and Transformers' cache."""

    def __init__(self, decoder: Any) -> None:
        self.decoder = decoder

    def start(self, memory: torch.Tensor, mask: torch.Tensor) -> None:
        from transformers import DynamicCache, EncoderDecoderCache

        self.memory, self.mask = memory, mask
        self.cache: Any = EncoderDecoderCache(DynamicCache(), DynamicCache())

    def feed(self, tokens: torch.Tensor, only: AbstractSet[int] | None = None) -> torch.Tensor:
        out = self.decoder(
            input_ids=tokens,
            encoder_hidden_states=self.memory,
            encoder_attention_mask=self.mask,
            cache=self.cache,
            use_cache=True,
        )
        self.cache = out.past_key_values
        scores: torch.Tensor = out.logits[:, -1, :]
        return scores

    def reorder_cache(self, order: torch.Tensor) -> None:
        self.cache.reorder_cache(order)
        self.memory, self.mask = self.memory[order], self.mask[order]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    nlg = Seq2SeqNLG.load("nlg-seq2seq").with_schemas(read_sgd_schemas(args.data_dir, "dev"))
    nlg = nlg.configured(memo_size=0)
    pairs = [p for p in nlg_pairs(load_dialogues(args.data_dir, "dev")) if p.acts]
    sources = [nlg.source(p.acts) for p in random.Random(3).sample(pairs, args.n)]
    out: dict[str, Any] = {"n": args.n}
    for name, settings, beams in (
        ("greedy", GenerationSettings(), 1),
        ("beam4", GenerationSettings(num_beams=4), 4),
    ):
        replies = {}
        for lean in (False, True):
            seq2seq.LeanDecoder = LeanDecoder if lean else TransformersStep  # type: ignore[misc,assignment]
            start = time.perf_counter()
            replies[lean] = [nlg._decode([s], settings, beams, [list(v)])[0][0] for s, v in sources]
            out[f"{name}_{'lean' if lean else 'transformers'}_ms"] = (
                (time.perf_counter() - start) / args.n * 1000
            )
        out[f"{name}_same"] = sum(a == b for a, b in zip(replies[False], replies[True], strict=True))
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
