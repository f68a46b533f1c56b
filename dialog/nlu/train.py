"""``tod train nlu``: the data for a config, training, evaluation on the held-out split, saving."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from dialog.backend import Backend, open_backends
from dialog.conversation.agent import create_agent
from dialog.conversation.simulation import run_dialogue
from dialog.data.nlu_bench import load_benchmark
from dialog.data.sgd import load_dialogues, read_sgd_schemas, rename_dialogue, seen_services, sgd_x_variant
from dialog.data.views import nlu_examples
from dialog.eval.nlu import latency, score_targets
from dialog.nlu.bert import BertNLU, intent_slot_table
from dialog.nlu.targets import Target, benchmark_targets, sgd_targets, target_from_acts
from dialog.registry import load_builtins
from dialog.schema import Schema, expand_paths, load_schemas
from dialog.train.loop import TrainConfig
from dialog.train.spec import LoopSpec, read_spec
from dialog.types import DialogueAct
from dialog.user.agenda import AgendaUser
from dialog.user.goals import GoalSampler
from dialog.user.text import UserText


class NLUTrainSpec(LoopSpec):
    """What `tod train nlu --config FILE` reads; unknown keys are errors, defaults are in code."""

    data: Literal["snips", "atis", "sgd"] = "sgd"  # the others have defaults in Field(...) below
    sgd_train_examples: int = Field(
        default=30000, description="SGD user turns sampled for training (0: all)."
    )
    synthetic_schemas: list[str] = Field(
        default_factory=lambda: ["schemas/showcase/*.yaml"],
        description="Schemas that get simulated training dialogues (a new service needs no data).",
    )
    synthetic_per_schema: int = 1500
    dev_examples: int = 2000
    epochs: float = 3.0
    head_lr: float = 3e-3
    max_length: int = 96
    crf: bool = False
    intent_slots: bool = Field(
        default=False,
        description="Tag a word only with slots seen in training with the predicted intent.",
    )
    resume: str | None = Field(default=None, description="A saved model to train further (same labels).")
    model: Literal["labels", "described"] = Field(
        default="labels",
        description="labels: heads over the training data's intents and slots (benchmarks); described: "
        "heads over the served schema's descriptions (any service, `dialog.nlu.described`).",
    )
    sgd_x_variants: list[int] = Field(
        default_factory=list,
        description="SGD-X train rewordings (1..5) each training dialogue may be shown in, at random with "
        "the original (described model only).",
    )
    negatives: int = Field(default=3, description="Other domains' services whose intents an example scores.")


def load_spec(path: Path | None) -> NLUTrainSpec:
    return read_spec(path, NLUTrainSpec)


def training_data(spec: NLUTrainSpec, data_dir: str | None) -> tuple[list[Target], list[Target]]:
    """(train, dev) targets for the spec."""
    if spec.data in ("snips", "atis"):
        train = list(benchmark_targets(load_benchmark(spec.data, data_dir, "train")))
        dev = list(benchmark_targets(load_benchmark(spec.data, data_dir, "dev")))
        return train, dev

    rng = random.Random(spec.seed)
    train = list(sgd_targets(nlu_examples(load_dialogues(data_dir, "train"))))
    if spec.sgd_train_examples and len(train) > spec.sgd_train_examples:
        train = rng.sample(train, spec.sgd_train_examples)
    dev = list(sgd_targets(nlu_examples(load_dialogues(data_dir, "dev"))))
    dev = rng.sample(dev, min(spec.dev_examples, len(dev)))
    if spec.synthetic_schemas and spec.synthetic_per_schema:
        load_builtins()
        schemas = load_schemas(expand_paths(spec.synthetic_schemas))
        train += simulated_targets(schemas, open_backends(schemas), spec.synthetic_per_schema, spec.seed)
    rng.shuffle(train)
    return train, dev


def train_nlu(spec: NLUTrainSpec, out: Path, data_dir: str | None, progress: bool = True) -> dict[str, Any]:
    if spec.model == "described":
        return train_described(spec, out, data_dir, progress)
    train, dev = training_data(spec, data_dir)
    # Labels from the training data only: unseen services' intents and slots stay unknown to the model.
    config = BertNLU.labels_for(
        train, max_length=spec.max_length, lora_rank=spec.lora_rank, lora_alpha=spec.lora_alpha, crf=spec.crf
    )
    if spec.intent_slots:
        config.intent_slots = intent_slot_table(train)
    nlu = BertNLU.resume(spec.resume) if spec.resume else BertNLU.from_config(config)
    nlu.meta["spec"] = spec.model_dump()
    loop = TrainConfig.from_spec(spec)
    scored = (lambda: score_targets(nlu, dev[:2000])) if dev else None
    history = nlu.fit(train, loop, scored, out_dir=out, progress=progress)
    # The best checkpoint is on disk: reload it as it will be used (merged, int8) and score it.
    best = BertNLU.load(out)
    scores = {**score_targets(best, dev), **latency(best, dev)}
    best.meta["metrics"] = {f"{spec.data}_dev": scores}
    best.meta["training"] = nlu.meta["training"]
    best.save_meta(out)
    return {"history": history, "dev": scores}


def simulated_targets(
    schemas: Sequence[Schema], backends: Mapping[str, Backend], n_per_schema: int, seed: int = 0
) -> list[Target]:
    """Targets from a schema alone: text-level simulated dialogues (agenda user, varied templates,
    values from the schema and its backend), with the user's acts as labels."""
    agent = create_agent("form", schemas, backends)
    user, text = AgendaUser(schemas), UserText(schemas)
    out = []
    for schema in schemas:
        rng = random.Random(f"{seed}:{schema.service}")
        sampler = GoalSampler(schema, backends[schema.service])
        backend = backends[schema.service]
        count = 0
        while count < n_per_schema:
            goal = sampler.sample(rng)
            transcript = run_dialogue(agent, user, goal, rng, "text", None, text, backends=[backend])
            prev: Sequence[DialogueAct] = ()
            for turn in transcript.turns:
                service = next((a.service for a in turn.user_acts if a.service), schema.service)
                if turn.user_text.strip():
                    out.append(target_from_acts(turn.user_text, service, turn.user_acts, prev))
                    count += 1
                prev = turn.reply.acts
    return out


def described_data(
    spec: NLUTrainSpec, data_dir: str | None
) -> tuple[list[Target], dict[str, Schema], list[Target], list[Schema]]:
    """(train targets, their schemas by service, dev targets, dev schemas) for the described NLU: SGD
    train dialogues, each in its own wording or an SGD-X rewording; simulated showcase dialogues."""
    rng = random.Random(spec.seed)
    dialogues = load_dialogues(data_dir, "train")
    schemas = {s.service: s for s in read_sgd_schemas(data_dir, "train")}
    if spec.sgd_x_variants:
        variants = {v: sgd_x_variant(data_dir, "train", v) for v in spec.sgd_x_variants}
        for reworded, _ in variants.values():
            schemas.update({s.service: s for s in reworded})
        choices = [None, *variants]
        shown = []
        for d in dialogues:
            v = rng.choice(choices)
            shown.append(d if v is None else rename_dialogue(d, *variants[v][1]))
        dialogues = shown
    train = list(sgd_targets(nlu_examples(dialogues)))
    if spec.sgd_train_examples and len(train) > spec.sgd_train_examples:
        train = rng.sample(train, spec.sgd_train_examples)
    if spec.synthetic_schemas and spec.synthetic_per_schema:
        load_builtins()
        synthetic = load_schemas(expand_paths(spec.synthetic_schemas))
        schemas.update({s.service: s for s in synthetic})
        train += simulated_targets(synthetic, open_backends(synthetic), spec.synthetic_per_schema, spec.seed)
    rng.shuffle(train)
    dev = list(sgd_targets(nlu_examples(load_dialogues(data_dir, "dev"))))
    dev = rng.sample(dev, min(spec.dev_examples, len(dev)))
    return train, schemas, dev, read_sgd_schemas(data_dir, "dev")


def train_described(
    spec: NLUTrainSpec, out: Path, data_dir: str | None, progress: bool = True
) -> dict[str, Any]:
    """The described NLU; the checkpoint kept is the one with the best slot F1 on the dev sample's
    services unseen in train (the issue's measure; dev is where it is chosen)."""
    from dialog.nlu.described import DescribedConfig, DescribedNLU

    train, schemas, dev, dev_schemas = described_data(spec, data_dir)
    seen = seen_services(data_dir)
    config = DescribedConfig(
        max_length=spec.max_length,
        lora_rank=spec.lora_rank,
        lora_alpha=spec.lora_alpha,
        negatives=spec.negatives,
    )
    nlu = DescribedNLU.resume(spec.resume) if spec.resume else DescribedNLU.from_config(config)
    nlu.meta["spec"] = spec.model_dump()
    features = nlu.training_features(train, schemas, spec.seed)
    judge = nlu.with_schemas(dev_schemas)

    def scored() -> dict[str, float]:
        return split_scores(judge, dev, seen)

    history = nlu.fit(
        features, TrainConfig.from_spec(spec), scored, out, progress, key_metric="unseen_slot_f1"
    )
    best = DescribedNLU.load(out).with_schemas(dev_schemas)
    scores = {**split_scores(best, dev, seen), **latency(best, dev)}
    best.meta["metrics"] = {"sgd_dev_sample": scores}
    best.meta["training"] = nlu.meta["training"]
    best.save_meta(out)
    return {"history": history, "dev": scores}


def split_scores(nlu: BertNLU, targets: Sequence[Target], seen: set[str]) -> dict[str, float]:
    """Intent accuracy, slot F1 and sentence accuracy over all targets and over the unseen services'."""
    out = {}
    for prefix, part in (("", targets), ("unseen_", [t for t in targets if t.service not in seen])):
        scores = score_targets(nlu, part) if part else {}
        for key in ("intent_accuracy", "slot_f1", "sentence_accuracy"):
            out[prefix + key] = round(float(scores.get(key, 0.0)), 4)
    return out


#: What the described NLU's batches are made of (``dialog.nlu.described_net.collate``).
PACKED_KEYS = (
    "input_ids", "tags", "intent", "intent_rows", "slot_rows", "requested", "specials", "slots_labelled",
    "acts", "acts_mask",
)  # fmt: skip


def pack_described(spec: NLUTrainSpec, out: Path, data_dir: str | None) -> dict[str, Any]:
    """The described NLU's training run as a pack (``dialog.train.pack``) for a bare GPU machine:
    ``python -m dialog.train.standalone OUT MODEL --device cuda`` trains it there; the checkpoints are
    then scored on dev here (``tod eval nlu``)."""
    from dataclasses import asdict

    from dialog.nlu.described import DescribedConfig, DescribedNLU
    from dialog.train.pack import write_pack

    train, schemas, _, _ = described_data(spec, data_dir)
    config = DescribedConfig(
        max_length=spec.max_length,
        lora_rank=spec.lora_rank,
        lora_alpha=spec.lora_alpha,
        negatives=spec.negatives,
    )
    nlu = DescribedNLU.from_config(config)
    features = nlu.training_features(train, schemas, spec.seed)
    run = {
        "kind": DescribedNLU.KIND,
        "version": DescribedNLU.VERSION,
        "config": config.to_dict(),
        "loop": {k: v for k, v in asdict(TrainConfig.from_spec(spec)).items() if k != "device"},
        "meta": {"spec": spec.model_dump(), "packed_examples": len(features)},
    }
    sizes = write_pack(out, features, PACKED_KEYS, nlu.elements.tensor(), run)
    return {"examples": len(features), "bytes": sizes}
