"""`tod train simpletod`: the SimpleTOD language model on SGD train turns.

Every user turn becomes one sequence (``dialog.e2e.format``): the previous system utterance, the user
utterance and the previous turn's belief as context; the user's act types, the belief, the backend
result, the system actions and the delexicalised reply as the written part. The checkpoint kept is the
one with the best joint goal accuracy on a slice of SGD dev dialogues, tracked from its own beliefs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from dialog.e2e.format import Segments, sgd_segments
from dialog.e2e.simpletod import SimpleTOD, SimpleTODConfig, TargetLoss
from dialog.nlg.seq2seq import delexicalise, delexicalise_text
from dialog.train.spec import LoopSpec, read_spec
from dialog.types import DialogueAct


class SimpleTODTrainSpec(LoopSpec):
    train_turns: int = Field(default=24000, description="SGD train user turns sampled (0: all).")
    dev_dialogues: int = Field(default=12, description="SGD dev dialogues tracked at each evaluation.")
    batch_size: int = 16
    init: str = Field(default="minilm", description="minilm (warm start, adapters) or scratch.")
    layers: int = 6
    hidden: int = 256
    heads: int = 4
    attention: str = Field(default="causal", description="causal, or prefix: the context read both ways.")
    resume: str | None = Field(default=None, description="A saved model to train further.")
    schema_context: bool = Field(
        default=False, description="Read the services' names, intents and slots before the turn."
    )


def load_spec(path: Path | None) -> SimpleTODTrainSpec:
    return read_spec(path, SimpleTODTrainSpec)


def delexicalised_reply(acts: Sequence[DialogueAct], utterance: str) -> str | None:
    _, values = delexicalise(acts)
    return delexicalise_text(utterance, values)


def segments(dialogues: Sequence[Any], schemas: Sequence[Any]) -> list[Segments]:
    by_name = {s.service: s for s in schemas}
    return [seg for d in dialogues for seg in sgd_segments(d, by_name, delexicalised_reply)]


def train_simpletod(
    spec: SimpleTODTrainSpec, out: Path, data_dir: str | None, progress: bool = True
) -> dict[str, Any]:
    from dialog.data.sgd import load_dialogues, read_sgd_schemas
    from dialog.e2e.track import evaluate_simpletod_dst
    from dialog.train.loop import TrainConfig, summary, train

    rng = random.Random(spec.seed)
    config = SimpleTODConfig(
        init=spec.init,
        layers=spec.layers,
        hidden=spec.hidden,
        heads=spec.heads,
        lora_rank=spec.lora_rank,
        lora_alpha=spec.lora_alpha,
        attention=spec.attention,
        schema_context=spec.schema_context,
    )
    model = SimpleTOD.load(spec.resume, merge=False) if spec.resume else SimpleTOD.from_config(config)
    if spec.resume:
        model.meta = {"resumed_from": {"path": spec.resume, "training": model.meta.get("training")}}
        model.config.schema_context = spec.schema_context  # a model may learn to read the services
    schemas = read_sgd_schemas(data_dir, "train")
    train_segments = segments(load_dialogues(data_dir, "train", progress=progress), schemas)
    if spec.train_turns and len(train_segments) > spec.train_turns:
        train_segments = rng.sample(train_segments, spec.train_turns)
    features = model.encode(train_segments)

    def evaluate() -> dict[str, float]:
        if not spec.dev_dialogues:
            return {}
        report = evaluate_simpletod_dst(model, data_dir, "dev", spec.dev_dialogues)
        return {
            "joint_goal_accuracy": round(report["joint_goal_accuracy"], 4),
            "active_intent_accuracy": round(report["active_intent_accuracy"], 4),
        }

    model.meta["spec"] = spec.model_dump()
    model.meta["name"] = out.name
    history = train(
        TargetLoss(model.model),
        features,
        SimpleTOD.collate,
        _loss,
        TrainConfig.from_spec(spec),
        evaluate,
        key_metric="joint_goal_accuracy" if spec.dev_dialogues else "",
        checkpoint=model.save,
        out_dir=out,
        progress=progress,
    )
    if not spec.dev_dialogues:
        model.save(out)
    best = SimpleTOD.load(out)
    best.meta["training"] = summary(history, len(features))
    best.save_meta(out)
    return {"history": history, "examples": len(features)}


def _loss(output: Any, _batch: Any) -> Any:
    return output.loss
