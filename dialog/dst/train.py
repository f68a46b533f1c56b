"""``tod train dst`` and ``tod eval dst``: data for a config, training with periodic evaluation on a slice
of dev dialogues (tracked from the model's own states), saving, and the full evaluation."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from dialog.data.sgd import reference, seen_services, sgd_x_variant
from dialog.errors import TodError
from dialog.train.spec import LoopSpec, read_spec


class DSTTrainSpec(LoopSpec):
    """What `tod train dst --config FILE` reads; unknown keys are errors."""

    train_fraction: float = Field(default=1.0, description="Fraction of SGD train frames used.")
    dev_dialogues: int = Field(default=120, description="Dev dialogues tracked at each evaluation.")
    max_length: int = 128
    eval_every: int = 500
    resume: str | None = Field(default=None, description="A saved tracker to train further.")
    sgd_x_variants: list[int] = Field(
        default_factory=list,
        description="SGD-X train rewordings (1..5) that each training dialogue may be shown in, at random "
        "with the original: schema augmentation, for services and wordings never seen.",
    )


def load_spec(path: Path | None) -> DSTTrainSpec:
    return read_spec(path, DSTTrainSpec)


def track_and_score(
    dst: Any,
    dialogues: list[Any],
    schemas: list[Any],
    seen: set[str],
    predictions_out: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Track the dialogues from the model's own states and score them (the architecture's flat report)."""
    from dialog.dst.sgd import track_dialogues
    from dialog.eval.dst import flat_report, score, write_predictions

    dst.with_schemas(schemas)
    hypotheses = [d.to_sgd() for d in track_dialogues(dst, dialogues, progress=progress)]
    if predictions_out is not None:
        write_predictions(hypotheses, predictions_out)
    references = [d.to_sgd() for d in dialogues]
    return flat_report(score(references, hypotheses, {s.service: s for s in schemas}, seen))


def evaluate_dst(
    dst: Any,
    data_dir: str | None,
    split: str = "dev",
    limit: int | None = None,
    predictions_out: Path | None = None,
    progress: bool = False,
    variant: int | None = None,
    sample: int | None = None,
) -> dict[str, Any]:
    """Track the split's dialogues and score them with the official metric definitions.

    ``variant`` 1..5 uses the SGD-X rewording of the split's schemas (names mapped onto the dialogues).
    """
    dialogues, schemas, seen = reference(data_dir, split, limit, variant, sample)
    start = time.perf_counter()
    report = track_and_score(dst, dialogues, schemas, seen, predictions_out, progress)
    seconds = time.perf_counter() - start
    report["n_dialogues"] = len(dialogues)
    report["ms_per_frame_batched"] = round(1000 * seconds / max(1, report["n_frames"]), 2)
    report["latency_ms_p50"], report["latency_ms_p99"] = turn_latency(dst, dialogues)
    return report


def score_predictions(
    directory: Path, data_dir: str | None, split: str = "dev", variant: int | None = None
) -> dict[str, Any]:
    """Score SGD dialogue files (``dialogues_*.json``) against the split, as the official scorer does."""
    from dialog.eval.dst import flat_report, read_predictions, score

    hypotheses = read_predictions(directory)
    if not hypotheses:
        raise TodError(f"no dialogues_*.json files in {directory}")
    wanted = {h["dialogue_id"] for h in hypotheses}
    dialogues, schemas, seen = reference(data_dir, split, None, variant)
    dialogues = [d for d in dialogues if d.dialogue_id in wanted]
    try:
        aggregate = score([d.to_sgd() for d in dialogues], hypotheses, {s.service: s for s in schemas}, seen)
    except (KeyError, ValueError) as exc:
        raise TodError(f"{directory}: the predictions do not fit the {split} split: {exc}") from None
    report = flat_report(aggregate)
    report["n_dialogues"] = len(hypotheses)
    return report


def turn_latency(dst: Any, dialogues: Any, n: int = 200) -> tuple[float, float]:
    """p50 and p99 of batch-of-one tracking (one frame, encoder included) over ``n`` user turns."""
    import numpy as np

    from dialog.dst.bert import latency_ms
    from dialog.types import Speaker

    turns, system = [], ""
    for d in dialogues:
        for t in d.turns:
            if t.speaker is Speaker.SYSTEM:
                system = t.utterance
            elif t.frames and t.frames[0].service in dst.schemas:
                turns.append((dst.schemas[t.frames[0].service], system, t.utterance))
        if len(turns) >= n:
            break
    times = latency_ms(dst, turns[:n])
    if not times:
        return 0.0, 0.0
    return round(float(np.percentile(times, 50)), 2), round(float(np.percentile(times, 99)), 2)


def train_dst(spec: DSTTrainSpec, out: Path, data_dir: str | None, progress: bool = True) -> dict[str, Any]:
    from dialog.data.sgd import load_dialogues, read_sgd_schemas
    from dialog.dst.bert import BertDST
    from dialog.dst.model import DSTConfig
    from dialog.dst.sgd import gold_features
    from dialog.train.loop import TrainConfig

    config = DSTConfig(max_length=spec.max_length, lora_rank=spec.lora_rank, lora_alpha=spec.lora_alpha)
    dst = (BertDST.resume(spec.resume) if spec.resume else BertDST.from_config(config)).with_schemas(
        read_sgd_schemas(data_dir, "train")
    )
    t0 = time.perf_counter()
    train_dialogues = load_dialogues(data_dir, "train")
    if spec.sgd_x_variants:
        from dialog.data.sgd import rename_dialogue

        rng = random.Random(spec.seed + 1)
        variants = {v: sgd_x_variant(data_dir, "train", v) for v in spec.sgd_x_variants}
        for schemas, _ in variants.values():
            dst.with_schemas(schemas)
        choices = [None, *variants]
        shown = []
        for d in train_dialogues:
            v = rng.choice(choices)
            shown.append(d if v is None else rename_dialogue(d, *variants[v][1]))
        train_dialogues = shown
    features = list(gold_features(dst, train_dialogues, spec.train_fraction, spec.seed))
    random.Random(spec.seed).shuffle(features)
    featurize_s = time.perf_counter() - t0
    dev = load_dialogues(data_dir, "dev")
    dev = random.Random(spec.seed).sample(dev, min(spec.dev_dialogues, len(dev)))
    dev_schemas = read_sgd_schemas(data_dir, "dev")
    seen = seen_services(data_dir)

    def evaluate() -> dict[str, float]:
        report = track_and_score(dst, dev, dev_schemas, seen)
        return {
            "joint_goal_accuracy": round(report["joint_goal_accuracy"], 4),
            "active_intent_accuracy": round(report["active_intent_accuracy"], 4),
            "requested_slots_f1": round(report["requested_slots_f1"], 4),
            "unseen_jga": round(report.get("unseen", {}).get("joint_goal_accuracy") or 0.0, 4),
        }

    loop = TrainConfig.from_spec(spec)
    dst.meta["spec"] = spec.model_dump()
    dst.meta["featurize_seconds"] = round(featurize_s, 1)
    history = dst.fit(features, loop, evaluate=evaluate, out_dir=out, progress=progress)
    dst.save_meta(out)
    return {"history": history, "examples": len(features)}
