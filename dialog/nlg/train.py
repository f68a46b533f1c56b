"""`tod train nlg`: the Transformer NLG on SGD system turns (template-guided, delexicalised).

A pair is kept when every copied value of its acts is found in the reply (so the target can say each
placeholder); the others would teach the model to drop values.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from dialog.common.delex import delexicalise_text
from dialog.data.sgd import load_dialogues, read_sgd_schemas
from dialog.data.views import NLGPair, nlg_pairs
from dialog.eval.nlg import score_examples
from dialog.generation import Network
from dialog.nlg.seq2seq import NLGConfig, Seq2SeqNLG
from dialog.schema import Schema
from dialog.train.loop import TrainConfig, summary, train
from dialog.train.spec import LoopSpec, read_spec


class NLGTrainSpec(LoopSpec):
    train_pairs: int = Field(default=40000, description="SGD train system turns sampled (0: all).")
    dev_pairs: int = 600  # for the evaluations during training
    epochs: float = 2.0
    head_lr: float = 1e-3
    decoder_layers: int = 3
    resume: str | None = Field(default=None, description="A saved model to train further.")


def load_spec(path: Path | None) -> NLGTrainSpec:
    return read_spec(path, NLGTrainSpec)


@dataclass(frozen=True)
class Example:
    pair: NLGPair
    source: str
    target: str  # delexicalised reply
    values: dict[str, str]


def examples(nlg: Seq2SeqNLG, pairs: Iterable[NLGPair]) -> tuple[list[Example], int]:
    """Training examples of the pairs whose values are all found in the reply, and how many were not."""
    out, skipped = [], 0
    for pair in pairs:
        if not pair.acts or not pair.utterance.strip():
            continue
        source, values = nlg.source(pair.acts)
        target = delexicalise_text(pair.utterance, values)
        if target is None:
            skipped += 1
            continue
        out.append(Example(pair, source, target, values))
    return out, skipped


def sgd_schemas(data_dir: str | None, split: str) -> list[Schema]:

    return list(read_sgd_schemas(data_dir, split))


def train_nlg(spec: NLGTrainSpec, out: Path, data_dir: str | None, progress: bool = True) -> dict[str, Any]:
    rng = random.Random(spec.seed)
    nlg = start(spec).with_schemas(sgd_schemas(data_dir, "train") + sgd_schemas(data_dir, "dev"))
    pairs = list(nlg_pairs(load_dialogues(data_dir, "train")))
    if spec.train_pairs and len(pairs) > spec.train_pairs:
        pairs = rng.sample(pairs, spec.train_pairs)
    train_examples, skipped = examples(nlg, pairs)
    dev_pairs = list(nlg_pairs(load_dialogues(data_dir, "dev")))
    dev = rng.sample(dev_pairs, min(spec.dev_pairs, len(dev_pairs)))

    def evaluate() -> dict[str, float]:
        scores = score_examples(nlg, dev, guard=False)
        return {k: scores[k] for k in ("bleu", "slot_error_rate")} | {
            "score": scores["bleu"] - 100 * scores["slot_error_rate"]
        }

    nlg.meta["spec"] = spec.model_dump()
    pairs_in = [(e.source, e.target) for e in train_examples]
    history = fit(nlg, pairs_in, evaluate, spec, out, progress, {"skipped_pairs": skipped})
    return {"history": history, "examples": len(train_examples), "skipped": skipped}


def start(spec: NLGTrainSpec) -> Seq2SeqNLG:
    """A new network, or the one ``spec.resume`` names with its adapters apart, to train."""
    config = NLGConfig(
        decoder_layers=spec.decoder_layers, lora_rank=spec.lora_rank, lora_alpha=spec.lora_alpha
    )
    made = Seq2SeqNLG.load(spec.resume, merge=False) if spec.resume else Seq2SeqNLG.from_config(config)
    if spec.resume:
        made.meta = {"resumed_from": {"path": spec.resume, "training": made.meta.get("training")}}
    return made


def fit(
    nlg: Seq2SeqNLG,
    pairs: Sequence[tuple[str, str]],
    evaluate: Any,
    spec: NLGTrainSpec,
    out: Path,
    progress: bool,
    noted: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train on (source, delexicalised target) pairs with the one training loop, keeping the best
    model by ``evaluate()["score"]`` in ``out``; its meta records the training (and ``noted``)."""
    features = nlg.encode([s for s, _ in pairs], [t for _, t in pairs])

    def fresh() -> Any:
        # The model remembers its greedy decodings (``memo``); the weights moved since the last look.
        nlg.memo.clear()
        return evaluate()

    history = train(
        Network(nlg.model),
        features,
        Seq2SeqNLG.collate,
        _loss,
        TrainConfig.from_spec(spec),
        fresh,
        key_metric="score",
        checkpoint=nlg.save,
        out_dir=out,
        progress=progress,
    )
    best = Seq2SeqNLG.load(out)
    best.meta["training"] = summary(history, len(pairs)) | (noted or {})
    best.save_meta(out)
    return history


def _loss(output: Any, _batch: Any) -> Any:
    return output.loss


def sample_pairs(pairs: Sequence[NLGPair], n: int, seed: int) -> list[NLGPair]:
    if not n or len(pairs) <= n:
        return list(pairs)
    return random.Random(seed).sample(list(pairs), n)
