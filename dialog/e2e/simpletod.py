"""SimpleTOD: one causal Transformer LM writes the user's act types, the belief, the system actions and
the delexicalised reply of a turn (the format is in ``dialog.e2e.format``).

The network is MiniLM turned into a left-to-right decoder (``init: minilm``: its six layers with causal
or prefix self-attention, LoRA adapters on every projection or the layers themselves trained, a new LM
transform whose output is tied to the frozen word embeddings), or a small BERT-shaped decoder trained
from scratch (``init: scratch``, everything trained and saved) for comparison.

Decoding is the generators' one loop over the key/value cache (dialog/generation/decode.py): greedy,
sampling (top-k, top-p, temperature) or beam search, each optionally under a finite-state machine of
``dialog.e2e.constrain``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dialog.e2e.constrain import Machine, MachineRule
from dialog.e2e.format import DB, MARKERS, OFFERS, SERVICES, USER_ACTS, Segments
from dialog.errors import TodError
from dialog.generation import shortlist
from dialog.generation.adapters import LORA_TARGETS, merge_adapters
from dialog.generation.decode import decode, settings_rules
from dialog.generation.lean import LeanLM
from dialog.infra.artifacts import fit_trained, load_trained, save_trained, write_meta
from dialog.types import GenerationSettings

FORMAT_VERSION = 1
KIND = "simpletod"
NEW_PARTS = ("cls.predictions.transform", "cls.predictions.bias")
PART_LIMITS = {"system": 40, "user": 48, "previous": 64, "offers": 40, "services": 140}
MAX_TARGET = 160


@dataclass
class SimpleTODConfig:
    init: str = "minilm"  # or "scratch"
    layers: int = 6
    hidden: int = 256  # scratch only (MiniLM's is 384)
    heads: int = 4  # scratch only
    lora_rank: int = 16  # minilm: 0 trains the layers themselves instead of adapters
    lora_alpha: int = 32
    # "causal": every token sees only those before it. "prefix": the context's tokens see each other
    # both ways, as MiniLM was trained to read, and the written part is left to right (UniLM's
    # sequence-to-sequence mask).
    attention: str = "causal"
    # The services it may write (names, intents with required slots, other slots) read before the turn.
    schema_context: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_tokenizer() -> Any:
    """MiniLM's tokenizer with the format's markers as single special tokens (already in its vocab)."""
    from dialog.infra.encoder import load_tokenizer as base

    tokenizer = base()
    tokenizer.add_special_tokens({"additional_special_tokens": list(MARKERS)})
    return tokenizer


def build(config: SimpleTODConfig) -> nn.Module:
    from transformers import BertConfig, BertLMHeadModel

    from dialog.infra.encoder import load_encoder

    if config.init == "scratch":
        base: Any = load_encoder().config
        bert = BertConfig(
            vocab_size=base.vocab_size,
            hidden_size=config.hidden,
            num_hidden_layers=config.layers,
            num_attention_heads=config.heads,
            intermediate_size=4 * config.hidden,
            max_position_embeddings=512,
            is_decoder=True,
        )
        model: Any = BertLMHeadModel(bert)
        model.cls.predictions.decoder.weight = model.bert.embeddings.word_embeddings.weight
        return model
    if config.init != "minilm":
        raise TodError(f"unknown init {config.init!r} (minilm or scratch)")
    from peft import LoraConfig, inject_adapter_in_model

    encoder: Any = load_encoder()
    bert = encoder.config.__class__(**encoder.config.to_dict())
    bert.is_decoder = True
    bert.num_hidden_layers = config.layers
    model = BertLMHeadModel(bert)
    state = {k: v for k, v in encoder.state_dict().items() if not k.startswith("pooler.")}
    model.bert.load_state_dict(state, strict=False)
    model.cls.predictions.decoder.weight = model.bert.embeddings.word_embeddings.weight
    if config.lora_rank == 0:  # every layer trains; the embeddings (tied to the output) stay MiniLM's
        for name, param in model.named_parameters():
            param.requires_grad = ".embeddings." not in f".{name}"
        return model
    lora = LoraConfig(
        r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=0.0, target_modules=LORA_TARGETS
    )
    model = inject_adapter_in_model(lora, model)
    for name, param in model.named_parameters():
        param.requires_grad = "lora_" in name or any(part in name for part in NEW_PARTS)
    return model


def prefix_mask(prefixes: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """Additive attention masks (batch, 1, n, n): position i sees j when j is in the row's prefix or
    j <= i, and j is not padding."""
    width = padding.shape[1]
    j = torch.arange(width)
    sees = (j[None, None, :] < prefixes[:, None, None]) | (j[None, None, :] <= j[None, :, None])
    sees = sees & padding[:, None, :].bool()
    mask = torch.zeros(sees.shape, dtype=torch.float32).masked_fill(~sees, torch.finfo(torch.float32).min)
    return mask[:, None, :, :]


class TargetLoss(nn.Module):
    """The training loss on the written part only: the LM head (a 30,522-word output) runs on the
    labelled positions, not on the context's, which saves about a quarter of a training step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, **batch: torch.Tensor) -> Any:
        from types import SimpleNamespace

        model: Any = self.model
        hidden = model.bert(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        labels = batch["labels"][:, 1:]
        keep = labels != -100
        logits = model.cls(hidden[:, :-1][keep])
        return SimpleNamespace(loss=nn.functional.cross_entropy(logits.float(), labels[keep]))


@dataclass
class Cursor:
    """A sequence being written: its tokens, and the key/value cache of the first ``cached`` of them."""

    tokens: list[int]
    past: Any = None
    cached: int = 0
    prefix: int = 0  # the context's length: its tokens see each other both ways (prefix attention)

    def pending(self) -> list[int]:
        return self.tokens[self.cached :]


@dataclass
class Written:
    """Tokens one call wrote (the last is the stop token when one was reached), its log-probability,
    and the cursor after them."""

    tokens: list[int]
    cursor: Cursor
    score: float = 0.0


class SimpleTOD:
    """Create with ``from_config`` (new) or ``load`` (trained)."""

    def __init__(self, model: Any, config: SimpleTODConfig, meta: dict[str, Any] | None = None) -> None:
        self.model = model
        self.config = config
        self.meta = meta or {}
        self.tokenizer = load_tokenizer()
        self.ids = {m: self.tokenizer.convert_tokens_to_ids(m) for m in MARKERS}
        self._services: tuple[str, list[int]] = ("", [])  # the last services' text and its ids
        #: The word pieces its training replies used (``shortlist.json``; None: every piece).
        self.shortlist: frozenset[int] | None = None
        #: The services it was trained on (``trained_schemas.json``), for aligning new services' slots.
        self.trained: list[Any] = []

    @classmethod
    def from_config(cls, config: SimpleTODConfig) -> SimpleTOD:
        return cls(build(config), config)

    # --- sequences --------------------------------------------------------------------------

    def tokens(self, text: str, limit: int, keep_end: bool = False) -> list[int]:
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        if len(ids) <= limit:
            return ids
        return ids[-limit:] if keep_end else ids[:limit]

    def context(self, seg: Segments) -> tuple[list[int], list[list[int]]]:
        """The context's token ids (``[CLS]`` ... ``[Q]``) and its parts (where values come from)."""
        parts = [
            self.tokens(seg.system, PART_LIMITS["system"], keep_end=True),
            self.tokens(seg.user, PART_LIMITS["user"]),
            self.tokens(seg.previous, PART_LIMITS["previous"]),
            self.tokens(seg.offers, PART_LIMITS["offers"]),
        ]
        ids = [self.tokenizer.cls_token_id]
        if self.config.schema_context:
            if self._services[0] != seg.services:  # the same every turn of a dialogue or agent
                self._services = (seg.services, self.tokens(seg.services, PART_LIMITS["services"]))
            ids += [self.ids[SERVICES], *self._services[1]]
        for marker, part in zip((*MARKERS[:3], OFFERS), parts, strict=True):
            ids += [self.ids[marker], *part]
        return [*ids, self.ids[USER_ACTS]], parts

    def encode(self, segments: Iterable[Segments]) -> list[dict[str, Any]]:
        """Training features: the whole sequence, loss on the written part (the backend's is given)."""
        out = []
        for seg in segments:
            context, _ = self.context(seg)
            target = [*self.tokens(seg.target(), MAX_TARGET), self.tokenizer.sep_token_id]
            labels = [-100] * len(context) + target
            ids = context + target
            # The backend result is put in by the agent, not written by the model.
            db, actions = self.ids[DB], self.ids[MARKERS[6]]
            if db in ids and actions in ids:
                for i in range(ids.index(db) + 1, ids.index(actions)):
                    labels[i] = -100
            feature: dict[str, Any] = {"input_ids": ids, "labels": labels}
            if self.config.attention == "prefix":
                feature["prefix"] = len(context)
            out.append(feature)
        return out

    @staticmethod
    def collate(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.zeros((len(features), width), dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        labels = torch.full((len(features), width), -100, dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            ids[i, :n] = torch.tensor(f["input_ids"])
            mask[i, :n] = 1
            labels[i, :n] = torch.tensor(f["labels"])
        if "prefix" in features[0]:
            prefixes = torch.tensor([f["prefix"] for f in features])
            return {"input_ids": ids, "attention_mask": prefix_mask(prefixes, mask), "labels": labels}
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    def decode_text(self, tokens: Sequence[int]) -> str:
        text = self.tokenizer.decode(list(tokens), skip_special_tokens=False)
        text = text.replace("[SEP]", "").replace("[PAD]", "")
        return re.sub(r"\s*_\s*", "_", text).strip()  # names: ``thank _ you`` → ``thank_you``

    # --- decoding ---------------------------------------------------------------------------

    def write(
        self,
        cursor: Cursor,
        stops: Iterable[int],
        machine: Machine | None = None,
        settings: GenerationSettings | None = None,
        max_new: int = 80,
    ) -> Written:
        """Write after ``cursor`` until a stop token (kept) or ``max_new`` tokens, by the one decoding
        loop (dialog/generation/decode.py) over the lean cache (dialog/generation/lean.py), under the
        settings' rules and the ``machine``. Greedy or sampled, the cursor keeps the cache; a beam
        search reorders it and the cursor after starts a new one."""
        settings = settings or GenerationSettings()
        prefix = cursor.prefix if self.config.attention == "prefix" else 0
        stepper = cursor.past if cursor.past is not None else LeanLM(self.model, prefix)
        rules = settings_rules(self.tokenizer, settings)
        if machine is not None:
            rules.append(MachineRule(machine))
        self.model.eval()
        with torch.inference_mode():
            prompt = torch.tensor([cursor.pending()])
            [[found]] = decode(stepper, prompt, settings, set(stops), max_new, rules)
        everything = [*cursor.tokens, *found.tokens]
        if settings.num_beams > 1:
            return Written(found.tokens, Cursor(everything, prefix=cursor.prefix), found.score)
        after = Cursor(everything, stepper, len(everything) - 1, cursor.prefix)
        return Written(found.tokens, after, found.score)

    # --- saving and loading -----------------------------------------------------------------

    def save(self, directory: Path, int8: bool = False) -> None:
        save_trained(directory, self.model, KIND, FORMAT_VERSION, self.config.to_dict(), self.meta, int8)

    def save_meta(self, directory: Path) -> None:
        write_meta(directory, KIND, FORMAT_VERSION, self.config.to_dict(), self.meta)

    @classmethod
    def load(cls, path: str | Path, merge: bool = True, int8: bool | None = None) -> SimpleTOD:
        """A saved model; ``merge=False`` keeps the adapters apart, to train further. For inference,
        ``int8`` (dynamic quantization of the layers' linear maps, weights per output channel)
        defaults to the model's meta (``inference.int8``, chosen on measured accuracy), and the
        replies keep to the model's ``shortlist.json`` when it has one; ``trained_schemas.json`` names
        the services it was trained on (``dialog.e2e.align``)."""
        from dialog.e2e import align

        meta, tensors, weights = load_trained(path, KIND, FORMAT_VERSION, "tod train simpletod")
        try:
            config = SimpleTODConfig(**meta["config"])
            model = build(config)
        except (TypeError, TodError) as exc:
            raise TodError(f"{weights.parent}: cannot read the SimpleTOD model: {exc}") from None
        fit_trained(model, tensors, weights)
        if merge and config.init == "minilm":
            merge_adapters(model)
        int8 = meta.get("inference", {}).get("int8", False) if int8 is None else int8
        if merge and int8:
            from dialog.infra.encoder import quantize

            model.eval()
            base: Any = model.bert  # the output layer stays float: its rows are scored a few at a time
            base.encoder = quantize(base.encoder)
        out = cls(model, config, meta)
        listed = shortlist.read(weights.parent)
        out.shortlist = frozenset(listed) if listed is not None else None
        out.trained = align.load_trained(weights.parent)
        return out


#: Files kept beside a model's weights: the replies' word pieces, the training history, the services
#: it was trained on.
SIDE_FILES = ("shortlist.json", "history.json", "trained_schemas.json")


def copy_side_files(source: str | Path, target: Path) -> list[str]:
    """Copy a saved model's side files (those it has) to ``target``, e.g. after storing it as int8."""
    import shutil

    copied = []
    for name in SIDE_FILES:
        if (Path(source) / name).is_file():
            shutil.copy(Path(source) / name, target / name)
            copied.append(name)
    return copied
