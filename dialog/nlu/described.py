"""The schema-conditioned NLU (kind ``nlu-described``): the joint NLU's heads compare the turn with the
*descriptions* of the served schema's intents and slots instead of keeping a fixed list of labels, so a
service written in YAML today is tagged today.

One MiniLM pass over ``words [SEP] context`` (as the label NLU). Each intent and slot of the service is
a sentence embedded once by the frozen encoder (``dialog.infra.elements``, shared with the tracker).
Heads, for the service's I intents and S slots:

- intent: a score per (turn, intent) pair, and a learned "no intent" row;
- tags: per token, "outside" or the beginning / inside of one of the S slots (1 + 2S classes), from
  the token's vector and the slot's;
- requested and specials (``dontcare``, ``True``, ``False``): per (turn, slot) pair;
- acts (AFFIRM, THANK_YOU, ...): a fixed list, as they do not depend on the service.

In training, each example also scores the intents of a few services of other domains (negatives), and
its dialogue may be shown in an SGD-X rewording of the train schemas (names and descriptions vary), so
the heads learn to read descriptions rather than remember names.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dialog.backend import Backend
from dialog.infra import artifacts
from dialog.infra.elements import ElementEmbeddings, WithTable, intent_text, slot_text
from dialog.infra.encoder import add_lora, load_encoder, load_tokenizer
from dialog.nlu.bert import BertNLU, _labels, encode_words
from dialog.nlu.targets import ACT_LABELS, SPECIAL_VALUES, Target
from dialog.registry import registry
from dialog.schema import Schema
from dialog.train.loop import TrainConfig, summary, train

IGNORE = -100


@dataclass
class DescribedConfig:
    acts: list[str] = field(default_factory=lambda: list(ACT_LABELS))
    hidden: int = 384
    mlp: int = 256
    span_hidden: int = 128
    dropout: float = 0.1
    max_length: int = 96
    lora_rank: int = 16
    lora_alpha: int = 32
    negatives: int = 3  # services of other domains whose intents a training example also scores

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mlp(inputs: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(), nn.Linear(hidden, out))


def _pair(c: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    return torch.cat([c.expand_as(e), e, c.expand_as(e) * e], dim=-1)


class DescribedHeads(nn.Module):
    """Shapes: hidden (B, T, D); table (N, D); rows (B, I) intents, (B, S) slots."""

    def __init__(self, config: DescribedConfig) -> None:
        super().__init__()
        d, m = config.hidden, config.mlp
        self.dropout = nn.Dropout(config.dropout)
        self.element = nn.Sequential(nn.Linear(d, d), nn.LayerNorm(d))  # schema embedding → turn space
        self.no_intent = nn.Parameter(torch.zeros(d))
        self.intent = _mlp(3 * d, m, 1)
        self.requested = _mlp(3 * d, m, 1)
        self.specials = _mlp(3 * d, m, len(SPECIAL_VALUES))
        self.acts = nn.Linear(d, max(1, len(config.acts)))
        self.outside = nn.Linear(d, 1)
        self.span_token = nn.Linear(d, config.span_hidden)
        self.span_slot = nn.Linear(d, config.span_hidden)
        self.span_out = nn.Linear(config.span_hidden, 2)  # beginning, inside

    def forward(
        self, hidden: torch.Tensor, table: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> dict[str, Any]:
        hidden = self.dropout(hidden.float())  # the encoder may run in bfloat16
        cls = hidden[:, 0]
        b, t = hidden.shape[:2]
        elements = self.element(table)
        e_int = torch.cat([self.no_intent.expand(b, 1, -1), elements[batch["intent_rows"]]], dim=1)
        intent = self.intent(_pair(cls[:, None], e_int)).squeeze(-1)  # (B, 1 + I)
        e_slot = elements[batch["slot_rows"]]  # (B, S, D)
        pair = _pair(cls[:, None], e_slot)
        slot_ok = batch["slot_mask"]  # (B, S)
        inside = self.span_out(
            torch.tanh(self.span_token(hidden)[:, :, None] + self.span_slot(e_slot)[:, None])
        )
        inside = inside.masked_fill(~slot_ok[:, None, :, None], -1e4)  # (B, T, S, 2)
        return {
            "intent": intent.masked_fill(~batch["intent_mask"], -1e4),
            "tags": torch.cat([self.outside(hidden), inside.reshape(b, t, -1)], dim=-1),  # (B, T, 1 + 2S)
            "requested": self.requested(pair).squeeze(-1),  # (B, S)
            "specials": self.specials(pair),  # (B, S, 3)
            "acts": self.acts(cls),
        }


class DescribedModel(nn.Module):
    def __init__(self, encoder: nn.Module, config: DescribedConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config
        self.heads = DescribedHeads(config)

    def forward(self, table: torch.Tensor, **batch: torch.Tensor) -> dict[str, Any]:
        hidden = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return self.heads(hidden.last_hidden_state, table, batch)


def described_loss(logits: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
    ce, bce = nn.functional.cross_entropy, nn.functional.binary_cross_entropy_with_logits
    loss = ce(logits["intent"], batch["intent"])
    tags = logits["tags"]
    loss = loss + ce(tags.reshape(-1, tags.shape[-1]), batch["tags"].reshape(-1), ignore_index=IGNORE)
    slots = batch["slot_mask"].float() * batch["slots_labelled"][:, None]  # (B, S)
    if slots.sum() > 0:
        loss = (
            loss
            + (bce(logits["requested"], batch["requested"], reduction="none") * slots).sum() / slots.sum()
        )
        per = bce(logits["specials"], batch["specials"], reduction="none").sum(-1)
        loss = loss + (per * slots).sum() / slots.sum()
    acts = batch["acts_mask"]
    if acts.sum() > 0:
        per = bce(logits["acts"], batch["acts"], reduction="none").mean(-1)
        loss = loss + (per * acts).sum() / acts.sum()
    return loss


def domain(service: str) -> str:
    """``Restaurants_11`` → ``restaurants``: services of one domain are not each other's negatives."""
    return re.sub(r"_\d+$", "", service).casefold()


class DescribedFeaturizer:
    """A target and its schema → token ids, element rows and labels (a plain dict)."""

    def __init__(self, config: DescribedConfig, elements: ElementEmbeddings, tokenizer: Any) -> None:
        self.config = config
        self.elements = elements
        self.tokenizer = tokenizer

    def intents_of(self, schemas: Sequence[Schema]) -> list[tuple[str, int]]:
        """("Service:Intent", element row) of each intent of the schemas."""
        table = self.elements.table
        return [(f"{s.service}:{i}", table.index(intent_text(s, i))) for s in schemas for i in s.intent_names]

    def slots_of(self, schema: Schema) -> list[int]:
        """The element row of each slot of the schema."""
        return [self.elements.table.index(slot_text(schema, s)) for s in schema.slot_names]

    def feature(
        self,
        words: Sequence[str],
        context: str,
        schema: Schema,
        intents: Sequence[Schema],
        target: Target | None = None,
    ) -> dict[str, Any]:
        """The features of one turn about ``schema`` (its slots are tagged), scoring the intents of
        ``intents``; with a target, its labels too."""
        enc, starts = encode_words(self.tokenizer, words, context, self.config.max_length)
        slots = schema.slot_names
        named = self.intents_of(intents)
        f: dict[str, Any] = {
            "input_ids": enc["input_ids"],
            "starts": starts,
            "slots": slots,
            "slot_rows": self.slots_of(schema),
            "intent_names": [n for n, _ in named],
            "intent_rows": [r for _, r in named],
        }
        if target is None:
            return f
        index = {s: i for i, s in enumerate(slots)}

        def tag_id(tag: str) -> int:
            if tag == "O" or tag[2:] not in index:
                return 0
            return 1 + 2 * index[tag[2:]] + (tag[0] == "I")

        f["tags"] = [IGNORE if w is None else tag_id(target.tags[w]) for w in starts]
        f["intent"] = 1 + f["intent_names"].index(target.intent) if target.intent in f["intent_names"] else 0
        f["requested"] = [float(s in (target.requested or ())) for s in slots]
        f["specials"] = [
            [float(f"{s}={v}" in (target.specials or ())) for v in SPECIAL_VALUES] for s in slots
        ]
        f["slots_labelled"] = float(target.requested is not None)
        f["acts"], f["acts_mask"] = _labels(target.acts, self.config.acts)
        return f


def collate(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    b = len(features)
    t = max(len(f["input_ids"]) for f in features)
    s = max(1, max(len(f["slots"]) for f in features))
    i = max(1, max(len(f["intent_rows"]) for f in features))
    out = {
        "input_ids": torch.zeros(b, t, dtype=torch.long),
        "attention_mask": torch.zeros(b, t, dtype=torch.long),
        "slot_rows": torch.zeros(b, s, dtype=torch.long),
        "slot_mask": torch.zeros(b, s, dtype=torch.bool),
        "intent_rows": torch.zeros(b, i, dtype=torch.long),
        "intent_mask": torch.zeros(b, 1 + i, dtype=torch.bool),
    }
    labelled = all("tags" in f for f in features)
    if labelled:
        out["tags"] = torch.full((b, t), IGNORE, dtype=torch.long)
        out["requested"] = torch.zeros(b, s)
        out["specials"] = torch.zeros(b, s, len(SPECIAL_VALUES))
    for k, f in enumerate(features):
        n, m, q = len(f["input_ids"]), len(f["slots"]), len(f["intent_rows"])
        out["input_ids"][k, :n] = torch.tensor(f["input_ids"])
        out["attention_mask"][k, :n] = 1
        out["intent_mask"][k, : 1 + q] = True
        if m:
            out["slot_rows"][k, :m] = torch.tensor(f["slot_rows"])
            out["slot_mask"][k, :m] = True
        if q:
            out["intent_rows"][k, :q] = torch.tensor(f["intent_rows"])
        if labelled:
            out["tags"][k, :n] = torch.tensor(f["tags"])
            if m:
                out["requested"][k, :m] = torch.tensor(f["requested"])
                out["specials"][k, :m] = torch.tensor(f["specials"])
    if labelled:
        out["intent"] = torch.tensor([f["intent"] for f in features])
        out["slots_labelled"] = torch.tensor([f["slots_labelled"] for f in features])
        out["acts"] = torch.tensor([f["acts"] for f in features], dtype=torch.float)
        out["acts_mask"] = torch.tensor([f["acts_mask"] for f in features])
    return out


class DescribedNLU(BertNLU):
    """The NLU that reads any schema by its descriptions. ``with_schemas`` names the services it serves;
    ``predict`` takes, per turn, the service it is about (its slots are tagged and its intents
    scored) or None (the intents of every served service scored, the slots of the best one's service
    tagged). Parsing a turn in a dialogue is the label NLU's (``BertNLU.parse``)."""

    KIND = "nlu-described"
    WHAT = "NLU model"
    VERSION = 1
    CONFIG = DescribedConfig
    NETWORK = DescribedModel
    BF16 = True

    def __init__(
        self, model: DescribedModel, config: DescribedConfig, meta: dict[str, Any] | None = None
    ) -> None:
        self.model = model
        self.config = config  # type: ignore[assignment]
        self.meta = meta or {}
        self.tokenizer = load_tokenizer()
        self.elements = ElementEmbeddings(self.tokenizer, config.hidden)
        self.featurizer = DescribedFeaturizer(config, self.elements, self.tokenizer)  # type: ignore[assignment]
        self.schemas: dict[str, Schema] = {}
        self.threshold = 0.5
        self.fallback: Any = None
        self.route = True
        self._router = None
        self.known: set[str] = set()  # every served service is read from its schema

    @classmethod
    def from_config(cls, config: DescribedConfig) -> DescribedNLU:  # type: ignore[override]
        return cls(
            DescribedModel(add_lora(load_encoder(), config.lora_rank, config.lora_alpha), config), config
        )

    def with_schemas(
        self, schemas: Sequence[Schema], fallback: Any = None, route: bool = True
    ) -> DescribedNLU:
        made = copy.copy(self)
        made.schemas = {s.service: s for s in schemas}
        made.fallback = fallback
        made.route = route
        made._router = None
        made.known = set(made.schemas)
        for schema in schemas:  # indexed now, embedded at the first turn in one batch
            made.featurizer.intents_of([schema])
            made.featurizer.slots_of(schema)
        return made

    # --- training ---------------------------------------------------------------------------

    def training_features(
        self, targets: Sequence[Target], schemas: Mapping[str, Schema], seed: int = 0
    ) -> list[dict[str, Any]]:
        """Features of targets about the given schemas; each scores its own service's intents and those
        of ``config.negatives`` services of other domains (cross-service negatives)."""
        rng = random.Random(seed)
        pool = sorted(schemas)
        out = []
        for target in targets:
            schema = schemas[target.service]
            others = [s for s in rng.sample(pool, min(len(pool), 4 * self.config.negatives + 4))]
            others = [s for s in others if domain(s) != domain(schema.service)][: self.config.negatives]
            intents = [schema, *(schemas[s] for s in others)]
            out.append(self.featurizer.feature(target.words, target.context, schema, intents, target))
        return out

    def fit(  # type: ignore[override]
        self,
        features: Sequence[dict[str, Any]],
        config: TrainConfig,
        evaluate: Callable[[], dict[str, float]] | None = None,
        out_dir: Path | None = None,
        progress: bool = True,
        key_metric: str = "slot_f1",
    ) -> dict[str, Any]:
        """Train on features from ``training_features``; with ``evaluate``, the checkpoint with the best
        ``key_metric`` is kept in ``out_dir``."""
        history = train(
            WithTable(self.model, self.elements.tensor()),
            features,
            collate,
            described_loss,
            config,
            evaluate,
            key_metric=key_metric if evaluate else "",
            checkpoint=self.save,
            out_dir=out_dir,
            progress=progress,
        )
        self.meta["training"] = summary(history, len(features))
        return history

    # --- predicting -------------------------------------------------------------------------

    @torch.inference_mode()
    def predict(
        self, items: Sequence[tuple[Sequence[str], str]], services: Sequence[str | None] | None = None
    ) -> list[dict[str, Any]]:
        """Raw predictions for (words, context) pairs, each about a served service or None; the same
        keys as the label NLU's (``intent`` is "Service:Intent" or "NONE")."""
        self.model.eval()
        services = list(services) if services is not None else [None] * len(items)
        served = list(self.schemas.values())
        features, schemas = [], []
        for (words, context), service in zip(items, services, strict=True):
            schema = self.schemas.get(service or "")
            intents = [schema] if schema is not None else served
            features.append(self.featurizer.feature(words, context, schema or served[0], intents))
            schemas.append(schema)
        batch = collate(features)
        hidden = self.model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        hidden = hidden.last_hidden_state
        table = self.elements.tensor()
        logits = self.model.heads(hidden, table, batch)
        out = []
        for k, f in enumerate(features):
            best = int(logits["intent"][k].argmax())
            intent = "NONE" if best == 0 else f["intent_names"][best - 1]
            if schemas[k] is None and intent != "NONE":  # tag the slots of the chosen intent's service
                chosen = self.schemas[intent.partition(":")[0]]
                f = self.featurizer.feature(items[k][0], items[k][1], chosen, [chosen])
                table = self.elements.tensor()  # the chosen service's slot texts may be new
                one = self.model.heads(hidden[k : k + 1, : len(f["input_ids"])], table, collate([f]))
                row = {h: one[h][0] for h in ("tags", "requested", "specials")}
            else:
                row = {h: logits[h][k] for h in ("tags", "requested", "specials")}
            out.append({"intent": intent, **self._read(f, row, logits["acts"][k], len(items[k][0]))})
        return out

    def _read(
        self, f: dict[str, Any], row: dict[str, torch.Tensor], acts: torch.Tensor, n_words: int
    ) -> dict[str, Any]:
        slots = f["slots"]
        names = ["O", *(f"{p}-{s}" for s in slots for p in ("B", "I"))]
        probs = row["tags"][:, : len(names)].softmax(-1)
        tags, sure = ["O"] * n_words, [1.0] * n_words
        for position, start in enumerate(f["starts"]):
            if start is None or start >= n_words:
                continue
            best = int(probs[position].argmax())
            tags[start], sure[start] = names[best], float(probs[position, best])
        requested = torch.sigmoid(row["requested"]).tolist()
        specials = torch.sigmoid(row["specials"]).tolist()
        return {
            "acts": [
                a
                for a, p in zip(self.config.acts, torch.sigmoid(acts).tolist(), strict=False)
                if p > self.threshold
            ],
            "requested": [s for s, p in zip(slots, requested, strict=False) if p > self.threshold],
            "specials": [
                f"{s}={v}"
                for s, ps in zip(slots, specials, strict=False)
                for v, p in zip(SPECIAL_VALUES, ps, strict=True)
                if p > self.threshold
            ],
            "tags": tags,
            "tag_confidence": sure,
        }


def load_nlu(path: str | Path, quantized: bool = False, bf16: bool | None = None) -> BertNLU:
    """A saved learned NLU of either kind: labels (``nlu-bert``) or described (``nlu-described``)."""
    if artifacts.kind(path) == "nlu-described":
        return DescribedNLU.load(path, quantized, bf16)
    return BertNLU.load(path, quantized, bf16)


@registry.register("nlu", "bert")
def nlu_factory(
    schemas: Sequence[Schema], backends: Mapping[str, Backend] | None = None, model: str = "nlu-bert"
) -> BertNLU:
    """The registry's ``bert`` NLU: the committed model, for these schemas (the rule NLU reads the
    services that the model was not trained on)."""
    from dialog.nlu.rule import RuleNLU

    return load_nlu(model).with_schemas(schemas, fallback=RuleNLU(schemas, backends))
