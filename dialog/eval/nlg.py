"""NLG metrics: BLEU (sacrebleu, against SGD's system turns), slot error rate, fallback rate, latency.

Slot error rate = (missing + redundant) / expected, over the values that a reply must copy (every
single value of an act, except yes/no and "dontcare", which are said in words, and each option of a
REQUEST or value of a multi-valued act, which the input keeps as words): a value is missing
when the reply does not say it, redundant when the reply says a value of the turn's acts more than
once or a placeholder that no act has. For the Transformer it is counted on its delexicalised reply
(before the guard's fallback, and after it); for the template NLG on its words.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sacrebleu

from dialog.common.delex import delexicalise, delexicalise_text, literals
from dialog.data.views import NLGPair
from dialog.nlg.seq2seq import Seq2SeqNLG
from dialog.types import DialogueState, GenerationSettings


def template_errors(text: str, pair: NLGPair) -> tuple[int, int, int]:
    """(missing, redundant, expected) for a reply in words (the template NLG's)."""
    _, values = delexicalise(pair.acts)
    missing = 0
    for _slot, value in values.items():
        if delexicalise_text(text, {"x": value}) is None:
            missing += 1
    words = list(dict.fromkeys(literals(pair.acts)))
    missing += sum(1 for w in words if w.casefold() not in text.casefold())
    return missing, 0, len(values) + len(words)


@dataclass(frozen=True)
class Scored:
    service: str
    hypothesis: str
    reference: str
    missing: int
    redundant: int
    expected: int
    unguarded_errors: int
    fallback: bool
    mended: bool = False


def realise_pairs(
    nlg: Seq2SeqNLG | Any,
    pairs: Sequence[NLGPair],
    guard: bool = True,
    settings: GenerationSettings | None = None,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> list[Scored]:
    """Each pair's reply and its slot errors."""
    out = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        if isinstance(nlg, Seq2SeqNLG):
            generations = nlg.realise([(p.acts, None) for p in chunk], settings, guard=guard)
            for pair, gen in zip(chunk, generations, strict=True):
                first = gen.candidates[0]
                # A fallback reply is the template's, which says every value.
                m, r = (0, 0) if gen.fallback else (gen.missing, gen.redundant)
                raw = first.missing + first.redundant
                expected = len(gen.slots) + len(gen.words)
                out.append(
                    Scored(
                        pair.service, gen.text, pair.utterance, m, r, expected, raw, gen.fallback, gen.mended
                    )
                )
        else:
            for pair in chunk:
                text = nlg.generate(pair.acts, DialogueState())
                m, r, e = template_errors(text, pair)
                out.append(Scored(pair.service, text, pair.utterance, m, r, e, m + r, False))
        if progress is not None:
            progress(len(out), len(pairs))
    return out


def aggregate(scored: Sequence[Scored]) -> dict[str, Any]:
    n = len(scored)
    expected = sum(s.expected for s in scored)
    errors = sum(s.missing + s.redundant for s in scored)
    return {
        "n": n,
        "bleu": sacrebleu.corpus_bleu([s.hypothesis for s in scored], [[s.reference for s in scored]]).score
        if n
        else 0.0,
        "slot_error_rate": errors / expected if expected else 0.0,
        "slot_error_rate_unguarded": sum(s.unguarded_errors for s in scored) / expected if expected else 0.0,
        "fallback_rate": sum(s.fallback for s in scored) / n if n else 0.0,
        "mended_rate": sum(s.mended for s in scored) / n if n else 0.0,
        "missing": sum(s.missing for s in scored),
        "redundant": sum(s.redundant for s in scored),
        "slots": expected,
    }


def score_examples(
    nlg: Seq2SeqNLG | Any,
    pairs: Sequence[NLGPair],
    guard: bool = True,
    settings: GenerationSettings | None = None,
) -> dict[str, Any]:
    return aggregate(realise_pairs(nlg, pairs, guard, settings))


def latency(
    nlg: Any, pairs: Sequence[NLGPair], n: int = 100, settings: GenerationSettings | None = None
) -> dict[str, float]:
    """One reply at a time, in ms (after a warm-up), each decoded: the model's memo of earlier
    decodings is off meanwhile (the replies scored just before would otherwise all be found in it)."""
    items = [p.acts for p in pairs[:n]]
    if isinstance(nlg, Seq2SeqNLG):
        nlg = nlg.configured(memo_size=0)
    for acts in items[:5]:
        nlg.generate(acts, DialogueState(), settings)
    times = []
    for acts in items:
        start = time.perf_counter()
        nlg.generate(acts, DialogueState(), settings)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "latency_ms_p50": float(np.percentile(times, 50)),
        "latency_ms_p99": float(np.percentile(times, 99)),
    }


def evaluate_nlg(
    model: str,
    data_dir: str | None,
    split: str = "dev",
    limit: int = 0,
    seed: int = 0,
    settings: GenerationSettings | None = None,
    constrain: bool = True,
    mend: bool = False,
    unstutter: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """`tod eval nlg`: the architecture's keys, for all services and under `seen` / `unseen`.
    ``constrain``, ``mend`` and ``unstutter`` switch the Transformer's decoding aids (see
    dialog/nlg/seq2seq.py)."""
    from dialog.data.sgd import load_dialogues, read_sgd_schemas
    from dialog.data.views import nlg_pairs
    from dialog.nlg.template import TemplateNLG

    schemas = read_sgd_schemas(data_dir, split)
    seen = {s.service for s in read_sgd_schemas(data_dir, "train")}
    nlg: Any = TemplateNLG(schemas) if model == "template" else Seq2SeqNLG.load(model).with_schemas(schemas)
    if isinstance(nlg, Seq2SeqNLG):
        nlg = nlg.configured(constrain=constrain, repair=mend, unstutter=unstutter)
    pairs = [p for p in nlg_pairs(load_dialogues(data_dir, split)) if p.acts]
    if limit and len(pairs) > limit:
        pairs = random.Random(seed).sample(pairs, limit)
    scored = realise_pairs(nlg, pairs, settings=settings, progress=progress)
    out: dict[str, Any] = {"model": model, "split": split, "constrained": constrain}
    out.update({"mend": mend, "unstutter": unstutter, **aggregate(scored)})
    out.update(latency(nlg, pairs, settings=settings))
    out["seen"] = aggregate([s for s in scored if s.service in seen])
    out["unseen"] = aggregate([s for s in scored if s.service not in seen])
    return out
