"""BertNLU (kind ``nlu-bert``): the joint MiniLM model with heads over fixed label lists.

``from_config`` builds a new model for label sets; ``fit`` trains it with the shared loop; ``save``
writes the adapters, the heads and ``meta.json``; ``load`` restores it (adapters merged into the
encoder, optionally int8-quantized). ``parse`` reads one utterance in the context of the state.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from dialog.data.views import tokenize
from dialog.errors import TodError
from dialog.infra import artifacts
from dialog.infra.encoder import add_lora, load_encoder, load_tokenizer
from dialog.infra.routing import Route, ServiceRouter
from dialog.nlu.crf import pack_words
from dialog.nlu.joint import JointConfig, JointEnsemble, JointModel
from dialog.nlu.targets import Target, context_text
from dialog.schema import Schema
from dialog.train.loop import TrainConfig, summary, train
from dialog.types import ActType, DialogueAct, DialogueState

A = ActType
FORMAT_VERSION = 1
log = logging.getLogger(__name__)


def _labels(values: Sequence[str] | None, vocab: Sequence[str]) -> tuple[list[float], float]:
    if values is None:
        return [0.0] * max(1, len(vocab)), 0.0
    index = {v: i for i, v in enumerate(vocab)}
    out = [0.0] * max(1, len(vocab))
    for v in values:
        if v in index:
            out[index[v]] = 1.0
    return out, 1.0


def encode_words(
    tokenizer: Any, words: Sequence[str], context: str, max_length: int
) -> tuple[dict[str, Any], list[int | None]]:
    """``words [SEP] context`` as token ids and, per token, the index of the word it starts (None
    elsewhere): where a word's tag is read."""
    words = list(words) or ["."]
    context_words = context.split() if context else None
    enc = tokenizer(words, context_words, is_split_into_words=True, truncation=True, max_length=max_length)
    starts: list[int | None] = []
    previous = None
    for seq, wid in zip(enc.sequence_ids(), enc.word_ids(), strict=True):
        starts.append(wid if seq == 0 and wid is not None and wid != previous else None)
        previous = wid if seq == 0 else None
    return dict(enc), starts


class JointFeaturizer:
    """Words + context → token ids, with word-level tags on each word's first sub-token."""

    def __init__(self, config: JointConfig, tokenizer: Any | None = None) -> None:
        self.config = config
        self.tokenizer = tokenizer or load_tokenizer()
        self.tag_index = {t: i for i, t in enumerate(config.tags)}
        self.intent_index = {t: i for i, t in enumerate(config.intents)}

    def encode(self, words: Sequence[str], context: str) -> tuple[dict[str, Any], list[int | None]]:
        return encode_words(self.tokenizer, words, context, self.config.max_length)

    def feature(self, target: Target) -> dict[str, Any]:
        enc, starts = self.encode(target.words, target.context)
        tags = [-100 if w is None else self.tag_index.get(target.tags[w], 0) for w in starts]
        acts, acts_mask = _labels(target.acts, self.config.acts)
        requested, requested_mask = _labels(target.requested, self.config.slots)
        specials, specials_mask = _labels(target.specials, self.config.specials)
        return {
            "input_ids": enc["input_ids"],
            "tags": tags,
            "intent": self.intent_index.get(target.intent, 0),
            "acts": acts,
            "acts_mask": acts_mask,
            "requested": requested,
            "requested_mask": requested_mask,
            "specials": specials,
            "specials_mask": specials_mask,
        }

    @staticmethod
    def collate(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Pad to the longest in the batch. Shapes: ids/mask/tags (B, T); the rest (B,) or (B, K)."""
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.zeros(len(features), width, dtype=torch.long)
        mask = torch.zeros(len(features), width, dtype=torch.long)
        tags = torch.full((len(features), width), -100, dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            ids[i, :n] = torch.tensor(f["input_ids"])
            mask[i, :n] = 1
            tags[i, :n] = torch.tensor(f["tags"])
        batch = {"input_ids": ids, "attention_mask": mask, "tags": tags}
        batch["intent"] = torch.tensor([f["intent"] for f in features])
        for head in ("acts", "requested", "specials"):
            batch[head] = torch.tensor([f[head] for f in features], dtype=torch.float)
            batch[f"{head}_mask"] = torch.tensor([f[f"{head}_mask"] for f in features], dtype=torch.float)
        return batch


class BertNLU(artifacts.AdapterModel):
    """The joint NLU. Create with ``from_config`` (new) or ``load`` (trained); ``parse`` one turn."""

    KIND = "nlu-bert"
    WHAT = "NLU model"
    VERSION = FORMAT_VERSION
    CONFIG = JointConfig
    NETWORK = JointModel
    BF16 = True

    def __init__(
        self, model: JointModel | JointEnsemble, config: JointConfig, meta: dict[str, Any] | None = None
    ) -> None:
        self.model = model
        self.config = config
        self.meta = meta or {}
        self.featurizer = JointFeaturizer(config)
        self.schemas: dict[str, Schema] = {}
        self.threshold = 0.5
        self.fallback: Any = None  # an NLU for services the model was not trained on
        self.route = True  # a first request routed by the schemas' descriptions (``_routed``)
        self._router: ServiceRouter | None = None
        self.known = {label.partition(":")[0] for label in config.intents if ":" in label}
        self._intent_mask: torch.Tensor | None = None
        self._tag_mask: torch.Tensor | None = None
        # (n_intents, n_tags): the tags each intent allows (config.intent_slots), or None.
        self._intent_tags = intent_tag_table(config) if config.intent_slots else None

    # --- making -----------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: JointConfig) -> BertNLU:
        encoder = add_lora(load_encoder(), config.lora_rank, config.lora_alpha)
        return cls(JointModel(encoder, config), config)

    @classmethod
    def labels_for(cls, targets: Sequence[Target], **kw: Any) -> JointConfig:
        """Label sets that cover the targets."""
        intents = ["NONE", *sorted({t.intent for t in targets} - {"NONE"})]
        slots = sorted(
            {tag[2:] for t in targets for tag in t.tags if tag != "O"}
            | {s for t in targets for s in t.requested or ()}
        )
        specials = sorted({s for t in targets for s in t.specials or ()})
        from dialog.nlu.labels import ACT_LABELS

        acts = list(ACT_LABELS) if any(t.acts is not None for t in targets) else []
        return JointConfig(intents=intents, slots=slots, acts=acts, specials=specials, **kw)

    def fit(
        self,
        targets: Sequence[Target],
        config: TrainConfig,
        evaluate: Callable[[], dict[str, float]] | None = None,
        out_dir: Path | None = None,
        progress: bool = True,
    ) -> dict[str, Any]:
        """Train on ``targets``; with ``evaluate`` (the trainer's scores of this model on held-out
        targets), the checkpoint with the best ``sentence_accuracy`` is kept in ``out_dir``."""
        features = [self.featurizer.feature(t) for t in targets]

        def checkpoint(directory: Path) -> None:
            self.save(directory)

        history = train(
            self.model,
            features,
            JointFeaturizer.collate,
            self.model.loss,
            config,
            evaluate,
            key_metric="sentence_accuracy" if evaluate else "",
            checkpoint=checkpoint,
            out_dir=out_dir,
            progress=progress,
        )
        self.meta["training"] = summary(history, len(targets))
        return history

    @classmethod
    def load(cls, path: str | Path, quantized: bool = False, bf16: bool | None = None) -> BertNLU:
        """A saved model, or an ensemble: a directory whose meta.json lists ``members`` (model
        directories inside it, with the same labels) and holds the shared config and ``inference``."""
        directory = artifacts.resolve(path)
        meta_file = directory / "meta.json"
        meta = _read_json(meta_file) if meta_file.is_file() else {}
        if "members" not in meta:
            return super().load(path, quantized, bf16)
        bf16 = artifacts.wants_bf16(meta, bf16)
        members = [super(BertNLU, cls).load(directory / m, quantized, bf16) for m in meta["members"]]
        try:
            config = JointConfig(**meta["config"])
        except (KeyError, TypeError) as exc:
            raise TodError(f"NLU model damaged: {meta_file}: {exc}") from None
        for name, member in zip(meta["members"], members, strict=True):
            if (member.config.intents, member.config.tags) != (config.intents, config.tags):
                raise TodError(f"NLU ensemble {directory}: member {name} has other labels")
        return cls(JointEnsemble([m.model for m in members]), config, meta)

    def save(self, directory: Path) -> None:
        if isinstance(self.model, JointEnsemble):
            raise TodError("an NLU ensemble is saved as its members (`tod export ensemble`)")
        super().save(directory)

    # --- predicting -------------------------------------------------------------------------

    def with_schemas(self, schemas: Sequence[Schema], fallback: Any = None, route: bool = True) -> BertNLU:
        """This NLU serving these schemas (a new component, the network shared); services the model has
        no labels for go to ``fallback`` (an NLU)."""
        made = copy.copy(self)
        made.schemas = {s.service: s for s in schemas}
        made.fallback = fallback
        made.route = route
        made._router = None  # made again for these services on first need
        # Only the served services' intents and slots may be predicted.
        served = {f"{s}:{i}" for s, schema in made.schemas.items() for i in schema.intent_names}
        slots = {slot for schema in made.schemas.values() for slot in schema.slot_names}
        made._intent_mask = torch.tensor([i == "NONE" or i in served for i in self.config.intents])
        made._tag_mask = torch.tensor([t == "O" or t[2:] in slots for t in self.config.tags])
        return made

    @torch.inference_mode()
    def predict(
        self, items: Sequence[tuple[Sequence[str], str]], services: Sequence[str | None] | None = None
    ) -> list[dict[str, Any]]:
        """Raw predictions for (words, context) pairs: intent, acts, requested, specials, word tags.
        ``services`` (what each turn is about) is for the described NLU; labels cover every service."""
        self.model.eval()
        encoded = [self.featurizer.encode(w, c) for w, c in items]
        empty = {
            key: value
            for h in ("acts", "requested", "specials")
            for key, value in ((h, [0.0]), (f"{h}_mask", 0.0))
        }
        features = [
            {"input_ids": e["input_ids"], "tags": [-100] * len(e["input_ids"]), "intent": 0, **empty}
            for e, _ in encoded
        ]
        batch = JointFeaturizer.collate(features)
        logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        if self._intent_mask is not None and self._tag_mask is not None:
            logits["intent"] = logits["intent"].masked_fill(~self._intent_mask, float("-inf"))
            logits["tags"] = logits["tags"].masked_fill(~self._tag_mask, -1e4)
        if self._intent_tags is not None:
            allowed = self._intent_tags[logits["intent"].argmax(-1)]  # (B, n_tags)
            logits["tags"] = logits["tags"].masked_fill(~allowed.unsqueeze(1), -1e4)
        crf = self.model.heads.crf
        decoded: list[list[int]] = []
        if crf is not None:
            word_mask = torch.tensor(
                [[w is not None for w in starts] + [False] * (batch["input_ids"].shape[1] - len(starts))
                 for _, starts in encoded]
            )  # fmt: skip
            decoded = crf.decode(*pack_words(logits["tags"], word_mask))
        tag_probs = logits["tags"].softmax(-1)
        out = []
        for i, (words, _) in enumerate(items):
            starts = encoded[i][1]
            tags = ["O"] * len(words)
            # How sure the tagger was of each word's tag: the softmax of its emission scores.
            sure = [1.0] * len(words)
            chosen = iter(decoded[i]) if crf is not None else None
            for position, start in enumerate(starts):
                if start is None or start >= len(tags):
                    continue
                tag_id = next(chosen, 0) if chosen is not None else int(tag_probs[i, position].argmax())
                tags[start] = self.config.tags[tag_id]
                sure[start] = float(tag_probs[i, position, tag_id])
            if len({w for w in starts if w is not None}) < len(words):
                warnings.warn(
                    f"utterance cut to {self.config.max_length} tokens: its end is not tagged", stacklevel=2
                )
            probs = {h: torch.sigmoid(logits[h][i]).tolist() for h in ("acts", "requested", "specials")}
            out.append(
                {
                    "intent": self.config.intents[int(logits["intent"][i].argmax())],
                    "acts": [
                        a for a, p in zip(self.config.acts, probs["acts"], strict=False) if p > self.threshold
                    ],
                    "requested": [
                        s
                        for s, p in zip(self.config.slots, probs["requested"], strict=False)
                        if p > self.threshold
                    ],
                    "specials": [
                        s
                        for s, p in zip(self.config.specials, probs["specials"], strict=False)
                        if p > self.threshold
                    ],
                    "tags": tags,
                    "tag_confidence": sure,
                }
            )
        return out

    def parse(self, text: str, state: DialogueState) -> tuple[DialogueAct, ...]:
        text = " ".join(text.split())
        tokens = tokenize(text)
        if not tokens:
            return ()
        context = context_text(state.active_service, state.last_system_acts)
        route = self._routed(text) if state.active_service is None else None
        about = route.service if route is not None else state.active_service
        [pred] = self.predict([([t for t, _, _ in tokens], context)], [about])
        if route is not None:  # a first request: the schemas' descriptions choose the service
            pred = {**pred, "intent": f"{route.service}:{route.intent}"}
        acts = self._acts(pred, text, tokens, state)
        if self.fallback is None:
            return acts
        other = self.fallback.parse(text, state)
        if self.known and set(self.schemas) - self.known:
            # A service the model never saw (e.g. written in the app a minute ago): the fallback (the
            # described NLU, else the rule NLU) reads it from its schema, and takes over when the turn
            # is about such a service.
            about = {a.service for a in other if a.act is A.INFORM_INTENT} or {state.active_service}
            if about - self.known - {None} or not acts:
                return tuple(other)
        return (*acts, *self._named_values(acts, other))

    def _named_values(self, acts: Sequence[DialogueAct], other: Sequence[DialogueAct]) -> list[DialogueAct]:
        """The categorical values the rule NLU found by their schema's words (a value or one of its
        synonyms: "dentist" is dentistry) in a slot the model left empty, in the same service."""
        services = {a.service for a in acts if a.service}
        informed = {(a.service, a.slot) for a in acts if a.act is A.INFORM}
        out = []
        for act in other:
            schema = self.schemas.get(act.service or "")
            if act.act is not A.INFORM or schema is None or act.service not in services:
                continue
            categorical = act.slot in schema.slot_names and schema.slot(act.slot).categorical
            if categorical and (act.service, act.slot) not in informed:
                out.append(act)
        return out

    def _routed(self, text: str) -> Route | None:
        """The service and intent a first request means by the served schemas' descriptions, when the
        router is sure (``dialog.infra.routing``; on SGD dev's first turns it is right more often
        than the intent head: 0.836 against 0.723 of services)."""
        if not self.route or len(self.schemas) < 2:
            return None
        if self._router is None:
            self._router = ServiceRouter(list(self.schemas.values()))
        return self._router.choose(text)

    def _service_of(self, tags: Sequence[str]) -> str:
        """With no active service and no intent: the served service that has the tagged slots."""
        slots = {t[2:] for t in tags if t != "O"}
        fitting = [s for s, schema in self.schemas.items() if slots and slots <= set(schema.slot_names)]
        if len(self.schemas) == 1:
            return next(iter(self.schemas))
        if not self.schemas and len(self.known) == 1:
            return next(iter(self.known))
        return fitting[0] if fitting else ""

    def _acts(
        self, pred: dict[str, Any], text: str, tokens: list[tuple[str, int, int]], state: DialogueState
    ) -> tuple[DialogueAct, ...]:
        service, _, intent = pred["intent"].partition(":")
        if not intent:
            service = state.active_service or self._service_of(pred["tags"])
        schema = self.schemas.get(service)
        if self.schemas and schema is None:
            return ()
        slots = set(schema.slot_names) if schema is not None else None
        acts: list[DialogueAct] = []
        if intent and (schema is None or intent in schema.intent_names):
            acts.append(DialogueAct(A.INFORM_INTENT, "intent", (intent,), service))
        offered = next((a for a in state.last_system_acts if a.act is A.OFFER_INTENT and a.values), None)
        for kind in pred["acts"]:
            act = A(kind)
            if act in (A.AFFIRM_INTENT, A.NEGATE_INTENT):
                if offered is not None:
                    acts.append(DialogueAct(act, "intent", offered.values, service))
            else:
                acts.append(DialogueAct(act, service=service))
        sure = pred.get("tag_confidence") or [1.0] * len(tokens)
        for slot, start, end in _spans(pred["tags"], tokens):
            if slots is None or slot in slots:
                words = [c for c, (_, s, e) in zip(sure, tokens, strict=False) if s >= start and e <= end]
                confidence = round(min(words, default=1.0), 3)
                acts.append(DialogueAct(A.INFORM, slot, (text[start:end],), service, confidence=confidence))
        for special in pred["specials"]:
            slot, _, value = special.partition("=")
            if (slots is None or slot in slots) and not any(
                a.slot == slot and a.act is A.INFORM for a in acts
            ):
                acts.append(DialogueAct(A.INFORM, slot, (value,), service))
        for slot in pred["requested"]:
            if slots is None or slot in slots:
                acts.append(DialogueAct(A.REQUEST, slot, (), service))
        return tuple(dict.fromkeys(acts))


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TodError(f"NLU model damaged: {path}: {exc}") from None
    if not isinstance(data, dict):
        raise TodError(f"NLU model damaged: {path}: not a JSON object")
    return data


def intent_slot_table(targets: Sequence[Target]) -> dict[str, list[str]]:
    """For each intent (but "NONE"), the slots tagged in its targets."""
    table: dict[str, set[str]] = {}
    for t in targets:
        if t.intent != "NONE":
            table.setdefault(t.intent, set()).update(tag[2:] for tag in t.tags if tag != "O")
    return {intent: sorted(slots) for intent, slots in sorted(table.items())}


def intent_tag_table(config: JointConfig) -> torch.Tensor:
    """(n_intents, n_tags) bool: which tags each intent allows; intents without an entry allow all."""
    rows = []
    for intent in config.intents:
        slots = config.intent_slots.get(intent)
        rows.append([slots is None or tag == "O" or tag[2:] in slots for tag in config.tags])
    return torch.tensor(rows)


def _spans(tags: Sequence[str], tokens: Sequence[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Character spans (slot, start, end) of BIO tags over tokens; a stray I- starts a span."""
    out, current = [], None
    for tag, (_, start, end) in zip(tags, tokens, strict=False):
        if tag.startswith("B-") or (tag.startswith("I-") and (current is None or current[0] != tag[2:])):
            if current:
                out.append(current)
            current = (tag[2:], start, end)
        elif tag.startswith("I-") and current is not None:
            current = (current[0], current[1], end)
        else:
            if current:
                out.append(current)
            current = None
    if current:
        out.append(current)
    return out


def latency_ms(nlu: BertNLU, texts: Sequence[str], repeat: int = 1) -> list[float]:
    """Batch-of-one parse times in ms."""
    state = DialogueState()
    times = []
    for _ in range(repeat):
        for text in texts:
            start = time.perf_counter()
            nlu.parse(text, state)
            times.append((time.perf_counter() - start) * 1000)
    return times
