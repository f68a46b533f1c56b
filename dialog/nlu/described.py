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
from pathlib import Path
from typing import Any

import torch

from dialog.backend import Backend
from dialog.infra import artifacts
from dialog.infra.elements import ElementEmbeddings, intent_text, slot_text
from dialog.infra.encoder import add_lora, load_encoder, load_tokenizer
from dialog.nlu.bert import BertNLU, _labels, encode_words
from dialog.nlu.described_net import IGNORE, DescribedConfig, DescribedModel, collate, described_loss
from dialog.nlu.labels import SPECIAL_VALUES
from dialog.nlu.targets import Target
from dialog.registry import registry
from dialog.schema import Schema
from dialog.train.loop import TrainConfig, WithTable, summary, train


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
    schemas: Sequence[Schema],
    backends: Mapping[str, Backend] | None = None,
    model: str = "nlu-bert",
    described: str | None = "nlu-described",
) -> BertNLU:
    """The registry's ``bert`` NLU: the committed label model for the services it was trained on, the
    described model for the others (read from their schemas), and the rule NLU under both for the
    values a schema names (synonyms). ``model`` may itself be a described model; ``described`` None
    leaves the services the label model never saw to the rule NLU."""
    from dialog.nlu.rule import RuleNLU

    rule = RuleNLU(schemas, backends)
    main = load_nlu(model)
    if isinstance(main, DescribedNLU) or described is None:
        return main.with_schemas(schemas, fallback=rule)
    if all(s.service in main.known for s in schemas):
        return main.with_schemas(schemas, fallback=rule)
    return main.with_schemas(schemas, fallback=load_nlu(described).with_schemas(schemas, fallback=rule))
