"""``tod train dst``: data for a config, training with periodic evaluation on a slice of dev dialogues
(tracked from the model's own states, scored by ``dialog.eval.dst``), saving."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from dialog.data.sgd import load_dialogues, read_sgd_schemas, rename_dialogue, seen_services, sgd_x_variant
from dialog.dst.bert import BertDST
from dialog.dst.model import DSTConfig
from dialog.dst.sgd import gold_features
from dialog.eval.dst import bert_tracker, score_tracked
from dialog.train.loop import TrainConfig
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


def train_dst(spec: DSTTrainSpec, out: Path, data_dir: str | None, progress: bool = True) -> dict[str, Any]:
    config = DSTConfig(max_length=spec.max_length, lora_rank=spec.lora_rank, lora_alpha=spec.lora_alpha)
    dst = (BertDST.resume(spec.resume) if spec.resume else BertDST.from_config(config)).with_schemas(
        read_sgd_schemas(data_dir, "train")
    )
    t0 = time.perf_counter()
    train_dialogues = load_dialogues(data_dir, "train")
    if spec.sgd_x_variants:
        rng = random.Random(spec.seed + 1)
        variants = {v: sgd_x_variant(data_dir, "train", v) for v in spec.sgd_x_variants}
        for schemas, _ in variants.values():
            dst = dst.with_schemas(schemas)
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
        report = score_tracked(dev, dev_schemas, seen, bert_tracker(dst, latency=False)(dev, dev_schemas))
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
