"""SimpleTOD: one causal Transformer LM writes the user's act types, the belief, the system actions and
the delexicalised reply of a turn (the format is in ``dialog.e2e.format``).

The network is MiniLM turned into a left-to-right decoder (``init: minilm``: its six layers with causal
or prefix self-attention, LoRA adapters on every projection or the layers themselves trained, a new LM
transform whose output is tied to the frozen word embeddings), or a small BERT-shaped decoder trained
from scratch (``init: scratch``, everything trained and saved) for comparison.

Decoding is a plain loop over the key/value cache: greedy, sampling (top-k, top-p, temperature) or
beam search, each optionally under a finite-state machine of ``dialog.e2e.constrain``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dialog.artifacts import fit_trained, load_trained, save_trained, write_meta
from dialog.e2e.constrain import Machine, State
from dialog.e2e.format import DB, MARKERS, OFFERS, SERVICES, USER_ACTS, Segments
from dialog.errors import TodError
from dialog.generation import filter_logits, pick, seeded, shortlist
from dialog.generation.adapters import LORA_TARGETS, merge_adapters
from dialog.generation.lean import LeanLM
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
    from dialog.encoder import load_tokenizer as base

    tokenizer = base()
    tokenizer.add_special_tokens({"additional_special_tokens": list(MARKERS)})
    return tokenizer


def build(config: SimpleTODConfig) -> nn.Module:
    from transformers import BertConfig, BertLMHeadModel

    from dialog.encoder import load_encoder

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
        self._biases: dict[tuple[tuple[str, float], ...], list[tuple[int, float]]] = {}
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

    def step(
        self, ids: Sequence[int] | torch.Tensor, past: Any, prefix: int = 0, only: set[int] | None = None
    ) -> tuple[torch.Tensor, Any]:
        """Logits of the next token after feeding ``ids`` on top of ``past``; on the first call (no
        ``past``) the first ``prefix`` tokens see each other both ways when the model reads so. With
        ``only`` (what a machine allows next), the other tokens' logits are -inf, not computed."""
        tensor = ids if isinstance(ids, torch.Tensor) else torch.tensor([list(ids)])
        if past is None:
            past = LeanLM(self.model)
            return past.feed(tensor, prefix if self.config.attention == "prefix" else 0, only).float(), past
        return past.feed(tensor, only=only).float(), past

    def write(
        self,
        cursor: Cursor,
        stops: Iterable[int],
        machine: Machine | None = None,
        settings: GenerationSettings | None = None,
        max_new: int = 80,
        generator: torch.Generator | None = None,
    ) -> Written:
        """Write after ``cursor`` until a stop token (kept) or ``max_new`` tokens."""
        settings = settings or GenerationSettings()
        generator = generator or seeded(settings)
        self.model.eval()
        with torch.inference_mode():
            if settings.num_beams > 1:
                tokens, score = self._beam(cursor, set(stops), machine, settings, max_new)
                return Written(tokens, Cursor([*cursor.tokens, *tokens], prefix=cursor.prefix), score)
            return self._sample(cursor, set(stops), machine, settings, max_new, generator)

    def _sample(
        self,
        cursor: Cursor,
        stops: set[int],
        machine: Machine | None,
        settings: GenerationSettings,
        max_new: int,
        generator: torch.Generator | None,
    ) -> Written:
        state = machine.start() if machine else None
        only = _allowed(machine, [state])
        logits, past = self.step(cursor.pending(), cursor.past, cursor.prefix, only)
        tokens: list[int] = []
        score = 0.0
        for _ in range(max_new):
            # With ``only``, the step scored the allowed tokens alone: the machine's mask is applied.
            scores = self._scores(logits[0], tokens, state, machine if only is None else None, settings)
            token = int(pick(scores, settings, generator))
            score += float(torch.log_softmax(filter_logits(scores, settings), -1)[token])
            tokens.append(token)
            if token in stops:
                break
            feed = [token]
            if machine is not None and state is not None:
                state = machine.advance(state, token)
                only = _allowed(machine, [state])
                # Tokens the machine forces (the rest of a name, "=" after a slot) need no scores:
                # they are fed together, one step for the run (a stop token is still picked).
                while only is not None and len(only) == 1 and len(tokens) < max_new:
                    (forced,) = only
                    if forced in stops:
                        break
                    tokens.append(forced)
                    feed.append(forced)
                    state = machine.advance(state, forced)
                    only = _allowed(machine, [state])
            else:
                only = None
            if len(tokens) >= max_new:  # the cache holds all but the last token, as after a stop
                if len(feed) > 1:
                    _, past = self.step(feed[:-1], past, only=set())
                break
            logits, past = self.step(feed, past, only=only)
        everything = [*cursor.tokens, *tokens]
        return Written(tokens, Cursor(everything, past, len(everything) - 1, cursor.prefix), score)

    def _scores(
        self,
        logits: torch.Tensor,
        tokens: Sequence[int],
        state: State | None,
        machine: Machine | None,
        settings: GenerationSettings,
    ) -> torch.Tensor:
        logits = logits.clone()
        if settings.repetition_penalty != 1.0 and tokens:
            seen = torch.tensor(sorted(set(tokens)))
            picked = logits[seen]
            logits[seen] = torch.where(
                picked > 0, picked / settings.repetition_penalty, picked * settings.repetition_penalty
            )
        for token, bias in self._bias_ids(settings.logit_bias):
            logits[token] += bias
        if machine is not None and state is not None:
            logits = machine.mask(state, logits)
        return logits

    def _bias_ids(self, logit_bias: tuple[tuple[str, float], ...]) -> list[tuple[int, float]]:
        """(first word piece, bias) of each biased word; tokenized once per setting, not per step."""
        known = self._biases.get(logit_bias)
        if known is None:
            known = []
            for word, bias in logit_bias:
                ids = self.tokenizer(word, add_special_tokens=False)["input_ids"]
                if ids:
                    known.append((ids[0], bias))
            self._biases[logit_bias] = known
        return known

    def _beam(
        self,
        cursor: Cursor,
        stops: set[int],
        machine: Machine | None,
        settings: GenerationSettings,
        max_new: int,
    ) -> tuple[list[int], float]:
        """Beam search over the cache (its rows reordered each step); scores are length-normalised."""
        k = settings.num_beams
        beams: list[tuple[list[int], float, State | None]] = [([], 0.0, machine.start() if machine else None)]
        only = _allowed(machine, [beams[0][2]])
        logits, past = self.step(cursor.pending(), cursor.past, cursor.prefix, only)
        finished: list[tuple[list[int], float]] = []
        for _ in range(max_new):
            candidates = []
            for row, (tokens, score, state) in enumerate(beams):
                scores = self._scores(logits[row], tokens, state, machine, settings)
                scores = torch.log_softmax(filter_logits(scores, settings), -1)
                top = torch.topk(scores, min(k, scores.numel()))
                for value, token in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                    if math.isfinite(value):
                        candidates.append((score + value, row, token))
            candidates.sort(key=lambda c: -c[0])
            kept: list[tuple[list[int], float, State | None]] = []
            rows: list[int] = []
            for score, row, token in candidates:
                tokens, _, state = beams[row]
                if token in stops:
                    finished.append(([*tokens, token], score))
                    continue
                next_state = machine.advance(state, token) if machine and state is not None else None
                kept.append(([*tokens, token], score, next_state))
                rows.append(row)
                if len(kept) == k:
                    break
            best_done = max((s / len(t) for t, s in finished), default=-math.inf)
            if not kept or (len(finished) >= k and best_done >= max(s / len(t) for t, s, _ in kept)):
                break
            past.reorder_cache(torch.tensor(rows, dtype=torch.long))
            beams = kept
            only = _allowed(machine, [state for _, _, state in beams])
            logits, past = self.step(torch.tensor([[t[-1]] for t, _, _ in beams]), past, only=only)
        if not finished:
            tokens, score, _ = beams[0]
            return tokens, score
        return max(finished, key=lambda f: f[1] / len(f[0]))

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
            from dialog.encoder import quantize

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


def _allowed(machine: Machine | None, states: Sequence[State | None]) -> set[int] | None:
    """The tokens some row may write next (None: any, or no machine)."""
    if machine is None:
        return None
    if len(states) == 1:
        return machine.allowed(states[0]) if states[0] is not None else None
    out: set[int] = set()
    for state in states:
        allowed = machine.allowed(state) if state is not None else None
        if allowed is None:
            return None
        out |= allowed
    return out
