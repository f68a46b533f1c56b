"""`tod train simpletod`: the SimpleTOD language model on SGD train turns.

Every user turn becomes one sequence (``dialog.e2e.format``): the previous system utterance, the user
utterance and the previous turn's belief as context; the user's act types, the belief, the backend
result, the system actions and the delexicalised reply as the written part. The checkpoint kept is the
one with the best joint goal accuracy on a slice of SGD dev dialogues, tracked from its own beliefs.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import Field

from dialog.backend import open_backends
from dialog.common.delex import delexicalise, delexicalise_text
from dialog.data.sgd import load_dialogues, read_sgd_schemas
from dialog.e2e.align import save_trained
from dialog.e2e.format import Segments, sgd_segments
from dialog.e2e.simpletod import SimpleTOD, SimpleTODConfig, TargetLoss
from dialog.e2e.simulate import simulated_dialogues
from dialog.eval.dst import evaluate_tracker, simpletod_tracker
from dialog.generation import shortlist
from dialog.schema import Schema, expand_paths, load_schemas
from dialog.train.loop import TrainConfig, summary, train
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
    rename: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of dialogues whose names are swapped for others."
    )
    synthetic_schemas: list[str] = Field(
        default_factory=list,
        description="Schemas that get simulated training dialogues (dialog.e2e.simulate), added to SGD's.",
    )
    synthetic_per_schema: int = Field(default=0, ge=0, description="Simulated dialogues per schema.")
    teacher: str = Field(default="pipeline", description="The agent the simulated dialogues are played by.")


def load_spec(path: Path | None) -> SimpleTODTrainSpec:
    return read_spec(path, SimpleTODTrainSpec)


def delexicalised_reply(acts: Sequence[DialogueAct], utterance: str) -> str | None:
    _, values = delexicalise(acts)
    return delexicalise_text(utterance, values)


def segments(
    dialogues: Sequence[Any], schemas: Sequence[Any], rename: float = 0.0, seed: int = 0
) -> list[Segments]:
    """The sequences of the dialogues; with ``rename``, that share of the dialogues has its service,
    intent and slot names replaced (``renamed``)."""
    by_name = {s.service: s for s in schemas}
    rng = random.Random(seed)
    out = []
    for dialogue in dialogues:
        found = list(sgd_segments(dialogue, by_name, delexicalised_reply))
        if rename and rng.random() < rename:
            names = variants([by_name[s] for s in dialogue.services if s in by_name], rng)
            found = [renamed(seg, names) for seg in found]
        out += found
    return out


STOPWORDS = frozenset(
    "a an the of for to in on at by and or is are be with from this that which its".split()  # noqa: SIM905
)


def variants(schemas: Sequence[Schema], rng: random.Random) -> dict[str, str]:
    """Other names for the services, and (each with even odds) for the intents and slots: words of
    their descriptions (``city`` → ``city_restaurant_located``), so that a model trained on them has
    to read the names from the services it is given rather than remember them."""

    def from_words(text: str) -> str | None:
        words = [w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOPWORDS]
        return "_".join(words[:3]) if words else None

    out: dict[str, str] = {}
    for schema in schemas:
        head = schema.service.lower().split("_")[0]
        out[schema.service.lower()] = f"{head}_{rng.randint(10, 99)}"
        described = [(i.name, i.description) for i in schema.intents]
        for item_name, description in [*described, *((s.name, s.description) for s in schema.slots)]:
            other = from_words(description)
            if other and other != item_name.lower() and rng.random() < 0.5:
                out.setdefault(item_name.lower(), other)
    return out


def renamed(seg: Segments, names: dict[str, str]) -> Segments:
    """The sequence with the names swapped wherever a name stands as a word of the schema's parts
    (a value that is also a name, e.g. a slot called ``time``, is swapped too: rare)."""

    def swap(text: str) -> str:
        return " ".join(names.get(word, word) for word in text.split(" "))

    reply = re.sub(r"\[(\w+)\]", lambda m: f"[{names.get(m[1], m[1])}]", seg.response)
    return replace(
        seg,
        services=swap(seg.services),
        previous=swap(seg.previous),
        offers=swap(seg.offers),
        belief=swap(seg.belief),
        actions=swap(seg.actions),
        response=reply,
    )


def train_simpletod(
    spec: SimpleTODTrainSpec, out: Path, data_dir: str | None, progress: bool = True
) -> dict[str, Any]:
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
    train_segments = segments(
        load_dialogues(data_dir, "train", progress=progress), schemas, spec.rename, spec.seed
    )
    if spec.train_turns and len(train_segments) > spec.train_turns:
        train_segments = rng.sample(train_segments, spec.train_turns)
    trained = {s.service: s for s in [*model.trained, *schemas]}  # and those it was resumed from
    if spec.synthetic_schemas and spec.synthetic_per_schema:
        train_segments += synthetic_segments(spec)
        rng.shuffle(train_segments)
        trained.update((s.service, s) for s in load_schemas(expand_paths(spec.synthetic_schemas)))
    features = model.encode(train_segments)

    def evaluate() -> dict[str, float]:
        if not spec.dev_dialogues:
            return {}
        report = evaluate_tracker(simpletod_tracker(model), data_dir, "dev", spec.dev_dialogues)
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
    write_shortlist(out, model, train_segments)
    save_trained(trained.values(), out)  # the services a new one is aligned with (dialog.e2e.align)
    best = SimpleTOD.load(out)
    best.meta["training"] = summary(history, len(features))
    best.save_meta(out)
    return {"history": history, "examples": len(features)}


def write_shortlist(directory: Path, model: SimpleTOD, found: Sequence[Segments]) -> int:
    """The word pieces of the replies in ``found``, which the agent's replies keep to (the output
    layer scores those alone); returns how many."""
    ids = shortlist.target_ids(model.tokenizer, (seg.response for seg in found if seg.response))
    shortlist.write(directory, ids)
    return len(ids)


def synthetic_segments(spec: SimpleTODTrainSpec) -> list[Segments]:
    """The sequences of ``spec.synthetic_per_schema`` simulated dialogues per synthetic schema (names
    swapped as in SGD's, with their own RNG)."""
    schemas = load_schemas(expand_paths(spec.synthetic_schemas))
    backends = open_backends(schemas)
    dialogues = list(
        simulated_dialogues(
            schemas, backends, spec.synthetic_per_schema, f"synthetic:{spec.seed}", spec.teacher
        )
    )
    return segments(dialogues, schemas, spec.rename, spec.seed + 1)


def _loss(output: Any, _batch: Any) -> Any:
    return output.loss
