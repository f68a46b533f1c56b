"""NLU metrics: intent accuracy, slot F1 (seqeval, entity level), sentence accuracy (everything
right), and batch-of-one latency."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from seqeval.metrics import f1_score

from dialog.nlu.targets import Target

if TYPE_CHECKING:
    from dialog.nlu.bert import BertNLU


def score_targets(
    nlu: BertNLU,
    targets: Sequence[Target],
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Scores of the raw predictions against targets (a benchmark's, or SGD user turns')."""
    gold_tags, pred_tags = [], []
    intents = sentences = 0
    for start in range(0, len(targets), batch_size):
        chunk = targets[start : start + batch_size]
        preds = nlu.predict([(t.words, t.context) for t in chunk], [t.service or None for t in chunk])
        for target, pred in zip(chunk, preds, strict=True):
            gold_tags.append(list(target.tags))
            pred_tags.append(list(pred["tags"]))
            intent_ok = pred["intent"] == target.intent
            intents += intent_ok
            rest_ok = all(
                getattr(target, head) is None or sorted(pred[head]) == sorted(getattr(target, head))
                for head in ("acts", "requested", "specials")
            )
            sentences += intent_ok and rest_ok and list(pred["tags"]) == list(target.tags)
        if progress is not None:
            progress(min(start + batch_size, len(targets)), len(targets))
    n = len(targets)
    return {
        "n": n,
        "intent_accuracy": intents / n if n else 0.0,
        "slot_f1": float(f1_score(gold_tags, pred_tags)) if n else 0.0,
        "sentence_accuracy": sentences / n if n else 0.0,
    }


def latency(nlu: BertNLU, targets: Sequence[Target], n: int = 200) -> dict[str, float]:
    """Batch-of-one prediction time in ms over the first ``n`` targets (after a warm-up)."""
    items = [(t.words, t.context) for t in targets[:n]]
    for item in items[:10]:
        nlu.predict([item])
    times = []
    for item in items:
        start = time.perf_counter()
        nlu.predict([item])
        times.append((time.perf_counter() - start) * 1000)
    return {
        "latency_ms_p50": float(np.percentile(times, 50)),
        "latency_ms_p99": float(np.percentile(times, 99)),
    }


def evaluate_nlu(
    model: str,
    data: str,
    data_dir: str | None,
    split: str | None = None,
    quantized: bool = False,
    bf16: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """`tod eval nlu`: the architecture's keys, and for SGD the same under `seen` and `unseen`."""
    from dialog.errors import TodError
    from dialog.nlu.bert import BertNLU
    from dialog.nlu.described import load_nlu
    from dialog.nlu.targets import benchmark_targets, sgd_targets

    nlu = load_nlu(model, quantized=quantized, bf16=bf16)
    if data in ("snips", "atis"):
        from dialog.data.nlu_bench import load_benchmark

        split = split or "test"
        targets = list(benchmark_targets(load_benchmark(data, data_dir, split)))
        return {
            "data": data,
            "split": split,
            **score_targets(nlu, targets, progress=progress),
            **latency(nlu, targets),
        }
    if data != "sgd":
        raise TodError(f"unknown NLU data {data!r} (snips, atis, sgd)")
    from dialog.data.sgd import load_dialogues, read_sgd_schemas
    from dialog.data.views import nlu_examples

    split = split or "dev"
    seen = {s.service for s in read_sgd_schemas(data_dir, "train")}
    if nlu.KIND != BertNLU.KIND:  # a described NLU reads the split's schemas
        nlu = nlu.with_schemas(read_sgd_schemas(data_dir, split))
    targets = list(sgd_targets(nlu_examples(load_dialogues(data_dir, split))))
    out: dict[str, Any] = {
        "data": data,
        "split": split,
        **score_targets(nlu, targets, progress=progress),
        **latency(nlu, targets),
    }
    out["seen"] = score_targets(nlu, [t for t in targets if t.service in seen])
    out["unseen"] = score_targets(nlu, [t for t in targets if t.service not in seen])
    return out
