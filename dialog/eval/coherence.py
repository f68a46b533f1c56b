"""Coherence of a system reply with its context: a learned scorer on MiniLM (a cross-encoder with LoRA
adapters: ``[CLS] context [SEP] reply [SEP]`` → the probability that the reply is the real next turn),
trained on SGD to tell the real next system turn from sampled negatives, and the plain embedding
similarity of context and reply as a cheap baseline.

Negatives, one kind per example, drawn evenly: ``random`` (a system turn of another dialogue),
``same_service`` (a system turn of another dialogue of the same service) and ``shuffled`` (a system
turn of the same dialogue, at least two turns away).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from dialog.infra import artifacts
from dialog.infra.encoder import EmbeddingSimilarity, add_lora, load_encoder, load_tokenizer
from dialog.train.spec import LoopSpec
from dialog.types import Dialogue, Speaker

NEGATIVES = ("random", "same_service", "shuffled")


class CoherenceTrainSpec(LoopSpec):
    train_contexts: int = 20000  # each gives the real reply and one negative
    eval_contexts: int = 300  # dev contexts for the checks during training
    dev_contexts: int = 1000  # dev contexts for the final figures (every kind of negative)
    lora_rank: int = 8
    lora_alpha: int = 16
    max_length: int = 128
    eval_every: int = 400


@dataclass
class CoherenceConfig:
    lora_rank: int = 8
    lora_alpha: int = 16
    max_length: int = 128
    context_turns: int = 2  # the turns before the reply that the scorer reads

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CoherenceNet(nn.Module):
    def __init__(self, encoder: nn.Module, config: CoherenceConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.heads = nn.ModuleDict({"score": nn.Linear(384, 1)})

    def forward(self, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.encoder(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
        ).last_hidden_state
        return {"logit": self.heads["score"](hidden[:, 0]).squeeze(-1)}

    @staticmethod
    def loss(output: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(output["logit"], batch["labels"])


@dataclass(frozen=True)
class Example:
    context: str
    reply: str
    label: int
    kind: str  # "real" or a negative kind
    service: str


def context_text(turns: Sequence[tuple[str, str]], n: int) -> str:
    """The last ``n`` (speaker, text) turns as "user: ... system: ..."."""
    return " ".join(f"{speaker}: {text}" for speaker, text in turns[-n:])


def examples(
    dialogues: Sequence[Dialogue], n: int, seed: int, context_turns: int = 2, all_negatives: bool = False
) -> list[Example]:
    """``n`` contexts, each with its real reply and one negative (or one of each kind)."""
    rng = random.Random(seed)
    system: list[tuple[int, int, str]] = []  # (dialogue, turn, text)
    by_service: dict[str, list[int]] = defaultdict(list)
    for d, dialogue in enumerate(dialogues):
        if dialogue.services:
            by_service[dialogue.services[0]].append(d)
        for t, turn in enumerate(dialogue.turns):
            if turn.speaker is Speaker.SYSTEM and turn.utterance:
                system.append((d, t, turn.utterance))
    own: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for d, t, text in system:
        own[d].append((t, text))
    out: list[Example] = []
    candidates = [(d, t, text) for d, t, text in system if t >= 1]
    for d, t, text in rng.sample(candidates, min(n, len(candidates))):
        dialogue = dialogues[d]
        service = dialogue.services[0] if dialogue.services else ""
        history = [(turn.speaker.value.lower(), turn.utterance) for turn in dialogue.turns[:t]]
        context = context_text(history, context_turns)
        out.append(Example(context, text, 1, "real", service))
        kinds = NEGATIVES if all_negatives else (rng.choice(NEGATIVES),)
        for kind in kinds:
            negative = _negative(kind, d, t, text, dialogues, system, by_service, own, rng)
            if negative is not None:
                out.append(Example(context, negative, 0, kind, service))
    return out


def _negative(
    kind: str,
    d: int,
    t: int,
    text: str,
    dialogues: Sequence[Dialogue],
    system: Sequence[tuple[int, int, str]],
    by_service: dict[str, list[int]],
    own: dict[int, list[tuple[int, str]]],
    rng: random.Random,
) -> str | None:
    for _ in range(20):
        if kind == "random":
            od, _, other = rng.choice(system)
            if od != d and other != text:
                return other
        elif kind == "same_service":
            service = dialogues[d].services[0] if dialogues[d].services else ""
            pool = [x for x in by_service.get(service, []) if x != d]
            if not pool:
                return None
            od = rng.choice(pool)
            if own[od]:
                other = rng.choice(own[od])[1]
                if other != text:
                    return other
        else:
            nearby = [x for x in own[d] if abs(x[0] - t) >= 2 and x[1] != text]
            return rng.choice(nearby)[1] if nearby else None
    return None


class CoherenceScorer(artifacts.AdapterModel):
    KIND = "coherence-bert"
    WHAT = "coherence model"
    CONFIG = CoherenceConfig
    NETWORK = CoherenceNet

    def __init__(
        self, model: CoherenceNet, config: CoherenceConfig, meta: dict[str, Any] | None = None
    ) -> None:
        self.model = model
        self.config = config
        self.meta = meta or {}
        self.tokenizer = load_tokenizer()

    @classmethod
    def from_config(cls, config: CoherenceConfig) -> CoherenceScorer:
        return cls(
            CoherenceNet(add_lora(load_encoder(), config.lora_rank, config.lora_alpha), config), config
        )

    def features(
        self, items: Sequence[tuple[str, str]], labels: Sequence[int] | None = None
    ) -> list[dict[str, Any]]:
        enc = self.tokenizer(
            [c for c, _ in items],
            [r for _, r in items],
            truncation="only_first",
            max_length=self.config.max_length,
        )
        out = [
            {"input_ids": ids, "token_type_ids": types}
            for ids, types in zip(enc["input_ids"], enc["token_type_ids"], strict=True)
        ]
        if labels is not None:
            for item, label in zip(out, labels, strict=True):
                item["labels"] = float(label)
        return out

    @staticmethod
    def collate(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.zeros((len(features), width), dtype=torch.long)
        types = torch.zeros_like(ids)
        mask = torch.zeros_like(ids)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            ids[i, :n] = torch.tensor(f["input_ids"])
            types[i, :n] = torch.tensor(f["token_type_ids"])
            mask[i, :n] = 1
        batch = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.float)
        return batch

    @torch.inference_mode()
    def score(self, items: Sequence[tuple[str, str]], batch_size: int = 64) -> list[float]:
        """The probability that each reply is the real next turn of its context."""
        self.model.eval()
        out: list[float] = []
        for start in range(0, len(items), batch_size):
            batch = self.collate(self.features(items[start : start + batch_size]))
            out += torch.sigmoid(self.model(**batch)["logit"]).tolist()
        return out


def auc_by_kind(scores: Sequence[float], data: Sequence[Example]) -> dict[str, float]:
    """AUC of real replies against each kind of negative (and all together)."""
    from sklearn.metrics import roc_auc_score

    real = [s for s, e in zip(scores, data, strict=True) if e.label == 1]
    out = {}
    for kind in (*NEGATIVES, "all"):
        fake = [
            s for s, e in zip(scores, data, strict=True) if e.label == 0 and (kind == "all" or e.kind == kind)
        ]
        if real and fake:
            out[kind] = float(roc_auc_score([1] * len(real) + [0] * len(fake), [*real, *fake]))
    return out


def validate(
    scorer: Any, dialogues: Sequence[Dialogue], contexts: int, seed: int = 1, context_turns: int = 2
) -> dict[str, float]:
    """AUC per negative kind on ``contexts`` dev contexts, each with one negative of every kind."""
    data = examples(dialogues, contexts, seed, context_turns, all_negatives=True)
    return auc_by_kind(scorer.score([(e.context, e.reply) for e in data]), data)


def train_coherence(spec: Any, out: Any, data_dir: str | None, progress: bool = True) -> dict[str, Any]:
    from dialog.data.sgd import load_dialogues
    from dialog.train.loop import TrainConfig, summary, train

    config = CoherenceConfig(lora_rank=spec.lora_rank, lora_alpha=spec.lora_alpha, max_length=spec.max_length)
    scorer = CoherenceScorer.from_config(config)
    train_dialogues = load_dialogues(data_dir, "train")
    dev_dialogues = load_dialogues(data_dir, "dev")
    data = examples(train_dialogues, spec.train_contexts, spec.seed, config.context_turns)
    features = scorer.features([(e.context, e.reply) for e in data], [e.label for e in data])

    def evaluate() -> dict[str, float]:
        return validate(scorer, dev_dialogues, spec.eval_contexts, seed=2)

    history = train(
        scorer.model,
        features,
        CoherenceScorer.collate,
        CoherenceNet.loss,
        TrainConfig.from_spec(spec),
        evaluate,
        key_metric="all",
        checkpoint=scorer.save,
        out_dir=out,
        progress=progress,
    )
    best = CoherenceScorer.load(out)
    metrics = {
        "learned": validate(best, dev_dialogues, spec.dev_contexts, seed=3),
        "embedding_similarity": validate(EmbeddingSimilarity(), dev_dialogues, spec.dev_contexts, seed=3),
        "dev_contexts": spec.dev_contexts,
    }
    best.meta["metrics"] = {"sgd_dev": metrics}
    best.meta["training"] = summary(history, len(data))
    best.meta["spec"] = spec.model_dump()
    best.save_meta(out)
    return {"history": history, "metrics": metrics, "examples": len(data)}
