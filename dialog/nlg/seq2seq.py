"""Transformer NLG (registry name ``seq2seq``): system acts → a natural reply, for any schema.

The input is template-guided (as in T2G2): the template NLG's plain rendering of the acts, with each
slot value replaced by a placeholder ``[slot]``; the output is the reply with placeholders, filled
with the values afterwards. So the model rewrites plain sentences into natural ones and never has to
spell a value, which carries over to services and values it never saw.

The network is an encoder-decoder warm-started from MiniLM: the encoder is MiniLM with LoRA adapters;
the decoder is a compact BERT decoder whose layers are MiniLM's first layers (LoRA adapters, causal
self-attention), with new cross-attention and a new LM transform, its output tied to the frozen word
embeddings. Only the adapters and the new parts are trained and saved (a few MB).

A slot-error guard checks every candidate: placeholders missing or invented make an error. Greedy
decoding falls back on beam search when its reply has an error; the best error-free beam is taken;
if every beam has an error, the template NLG answers (and the fallback is counted).
"""

from __future__ import annotations

import copy
import re
import time
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dialog.backend import Backend
from dialog.common.delex import (
    delexicalise,
    lexicalise,
    literals,
    options_clause,
    placeholder,
    slot_errors,
    spoken_acts,
)
from dialog.common.text import tidy
from dialog.common.text import words as spoken
from dialog.errors import TodError
from dialog.generation.adapters import LORA_TARGETS, merge_adapters
from dialog.generation.decode import decode, settings_rules
from dialog.generation.lean import LeanDecoder
from dialog.generation.rules import NoStutter, SlotConstraint
from dialog.generation.shortlist import FILE as SHORTLIST_FILE
from dialog.generation.shortlist import ShortlistHead, output_layer
from dialog.generation.shortlist import install as install_shortlist
from dialog.generation.shortlist import read as read_shortlist
from dialog.infra.artifacts import fit_trained, load_trained, save_trained, write_meta
from dialog.nlg.template import TemplateNLG, is_clarification
from dialog.registry import registry
from dialog.schema import Schema
from dialog.types import ActType, DialogueAct, DialogueState, GenerationSettings

A = ActType
FORMAT_VERSION = 1
KIND = "nlg-seq2seq"
NEW_PARTS = ("crossattention", "cls.predictions.transform", "cls.predictions.bias")


@dataclass
class NLGConfig:
    decoder_layers: int = 3
    lora_rank: int = 16
    lora_alpha: int = 32
    max_source: int = 96
    max_target: int = 64

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- delexicalisation ------------------------------------------------------------------------


# --- the network -----------------------------------------------------------------------------


def build(config: NLGConfig) -> nn.Module:
    """MiniLM encoder + compact MiniLM-initialised decoder, LoRA injected, new parts trainable."""
    from peft import LoraConfig, inject_adapter_in_model
    from transformers import BertLMHeadModel, EncoderDecoderModel

    from dialog.infra.encoder import load_encoder

    encoder: Any = load_encoder()
    decoder_config = encoder.config.__class__(**encoder.config.to_dict())
    decoder_config.is_decoder = True
    decoder_config.add_cross_attention = True
    decoder_config.num_hidden_layers = config.decoder_layers
    decoder = BertLMHeadModel(decoder_config)
    state = {k: v for k, v in encoder.state_dict().items() if not k.startswith("pooler.")}
    own = {
        k: v
        for k, v in state.items()
        if not k.startswith("encoder.layer.") or int(k.split(".")[2]) < config.decoder_layers
    }
    decoder.bert.load_state_dict(own, strict=False)
    model: Any = EncoderDecoderModel(encoder=encoder, decoder=decoder)
    # One frozen word-embedding matrix for the encoder, the decoder and the output layer.
    model.decoder.bert.embeddings.word_embeddings = model.encoder.embeddings.word_embeddings
    model.decoder.cls.predictions.decoder.weight = model.encoder.embeddings.word_embeddings.weight
    tokenizer_ids(model)
    lora = LoraConfig(
        r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=0.0, target_modules=LORA_TARGETS
    )
    model = inject_adapter_in_model(lora, model)
    for name, param in model.named_parameters():
        param.requires_grad = "lora_" in name or any(part in name for part in NEW_PARTS)
    return model


def tokenizer_ids(model: Any) -> None:
    from dialog.infra.encoder import load_tokenizer

    tokenizer = load_tokenizer()
    model.config.decoder_start_token_id = tokenizer.cls_token_id
    model.config.eos_token_id = tokenizer.sep_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.decoder_start_token_id = tokenizer.cls_token_id
    model.generation_config.eos_token_id = tokenizer.sep_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id


# --- the component ---------------------------------------------------------------------------


@dataclass
class Candidate:
    text: str  # delexicalised
    missing: int
    redundant: int

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.redundant == 0 and not degenerate(self.text)


def degenerate(text: str) -> bool:
    """A reply that stutters: punctuation repeated (``..``, ``?.``) or a word trigram said twice. The
    slot constraint can cause it (the model would end, a placeholder is still due), so the guard
    treats it as an error: another beam, or the template."""
    if re.search(r"[.?!,;:]\s*[.?!,;:]", text):
        return True
    words = text.lower().split()
    grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    return len(grams) != len(set(grams))


@dataclass
class Generation:
    text: str  # what the user sees
    delexicalised: str
    source: str
    slots: tuple[str, ...]
    words: tuple[str, ...] = ()  # values that stay words (see ``literals``)
    missing: int = 0
    redundant: int = 0
    fallback: bool = False
    mended: bool = False  # the REQUEST's options said in a clause after the reply (``_mend``)
    candidates: list[Candidate] = field(default_factory=list)


@dataclass(frozen=True)
class NLGInference:
    """How the Transformer NLG decodes in use: the defaults here, a model's own in its meta
    (``inference``, ``decoding``), a change by ``Seq2SeqNLG.configured`` (a new component).

    ``constrain``: slot-constrained decoding (``SlotConstraint``). Two decoding aids are off: each cut
    the guard's second decodings but lowered the replies' coherence in dialogue (docs/results.md,
    "NLG"): ``repair`` says a REQUEST's unsaid options in a clause instead of decoding again
    (``_mend``), ``unstutter`` bars the stutters the guard rejects (``NoStutter``). ``beams``: the
    guard's beam search. ``memo_size``: deterministic decodings remembered (0: none).
    ``decoding``: the settings when a caller gives none. ``int8`` and ``shortlist`` shape the network
    at loading (dialog/generation/shortlist.py)."""

    constrain: bool = True
    repair: bool = False
    unstutter: bool = False
    beams: int = 4
    memo_size: int = 4096
    decoding: GenerationSettings = field(default_factory=GenerationSettings)
    int8: bool = False
    shortlist: bool = False

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> NLGInference:
        """What a model's meta records (bench/nlg_speed.py measured it; `tod export` writes it)."""
        recorded = meta.get("inference", {})
        decoding = GenerationSettings(**meta["decoding"]) if meta.get("decoding") else GenerationSettings()
        try:
            return cls(decoding=decoding, **recorded)
        except TypeError as exc:
            raise TodError(f"the NLG model's meta has an unknown inference setting: {exc}") from None


class Seq2SeqNLG:
    """Create with ``from_config`` (new) or ``load`` (trained), then ``with_schemas`` for the services
    it speaks for and ``configured`` for other decoding: each returns a new component (the network
    and the memo of decodings shared); nothing is changed in place."""

    def __init__(
        self,
        model: Any,
        config: NLGConfig,
        meta: dict[str, Any] | None = None,
        inference: NLGInference | None = None,
    ) -> None:
        from dialog.infra.encoder import load_tokenizer

        self.model = model
        self.config = config
        self.meta = meta or {}
        self.inference = inference or NLGInference()
        self.tokenizer = load_tokenizer()
        self.template = TemplateNLG([])
        head = output_layer(model)
        self.shortlist = head if isinstance(head, ShortlistHead) else None  # see generation/shortlist.py
        # Deterministic decodings already done: (source, placeholders, settings, n) → replies. The
        # source is delexicalised (placeholders, no user values), so replies are shared safely.
        self.memo: OrderedDict[tuple[Any, ...], list[str]] = OrderedDict()

    @classmethod
    def from_config(cls, config: NLGConfig, inference: NLGInference | None = None) -> Seq2SeqNLG:
        return cls(build(config), config, inference=inference)

    def with_schemas(self, schemas: Sequence[Schema]) -> Seq2SeqNLG:
        """This NLG speaking for ``schemas`` (their templates render the input)."""
        made = copy.copy(self)
        made.template = TemplateNLG(schemas)
        return made

    def configured(self, **changes: Any) -> Seq2SeqNLG:
        """This NLG decoding with ``changes`` to its ``NLGInference`` (not ``int8`` / ``shortlist``,
        which shape the network: ``load`` them)."""
        if {"int8", "shortlist"} & set(changes):
            raise TodError("int8 and shortlist are chosen when loading the NLG (Seq2SeqNLG.load)")
        made = copy.copy(self)
        made.inference = replace(self.inference, **changes)
        return made

    # --- inputs ---------------------------------------------------------------------------

    def source(
        self, acts: Sequence[DialogueAct], state: DialogueState | None = None
    ) -> tuple[str, dict[str, str]]:
        """The plain delexicalised rendering of the acts, and the values of its placeholders. A value
        that a schema's own template leaves out (a CONFIRM template that names three of the four
        slots confirmed) is added in a plain sentence: the reply must say every value, so the input
        must show it."""
        delexed, values = delexicalise(acts)
        text = self.template.generate(delexed, state or DialogueState())
        left_out = [slot for slot in values if placeholder(slot) not in text]
        extra = [f"The {spoken(slot)} is {placeholder(slot)}." for slot in left_out]
        return " ".join([text, *extra]), values

    def encode(self, sources: Sequence[str], targets: Sequence[str] | None = None) -> list[dict[str, Any]]:
        enc = self.tokenizer(list(sources), truncation=True, max_length=self.config.max_source)
        out = [{"input_ids": ids} for ids in enc["input_ids"]]
        if targets is not None:
            dec = self.tokenizer(list(targets), truncation=True, max_length=self.config.max_target)
            for item, ids in zip(out, dec["input_ids"], strict=True):
                item["labels"] = ids[1:]  # the decoder starts from [CLS]; it must write the rest and [SEP]
        return out

    @staticmethod
    def collate(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.zeros((len(features), width), dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for i, f in enumerate(features):
            ids[i, : len(f["input_ids"])] = torch.tensor(f["input_ids"])
            mask[i, : len(f["input_ids"])] = 1
        batch = {"input_ids": ids, "attention_mask": mask}
        if "labels" in features[0]:
            span = max(len(f["labels"]) for f in features)
            labels = torch.full((len(features), span), -100, dtype=torch.long)
            for i, f in enumerate(features):
                labels[i, : len(f["labels"])] = torch.tensor(f["labels"])
            batch["labels"] = labels
        return batch

    # --- generating -----------------------------------------------------------------------

    def _decode(
        self,
        sources: Sequence[str],
        settings: GenerationSettings,
        n: int,
        slots: Sequence[Sequence[str]] | None = None,
    ) -> list[list[str]]:
        """``n`` replies per source; with ``slots``, each says exactly those placeholders. Greedy and
        beam decodings are deterministic: each is remembered (``memo``) and not done twice."""
        memo_size = self.inference.memo_size
        if settings.do_sample or not memo_size:
            return self._run(sources, settings, n, slots)
        keys = [(src, tuple(slots[i]) if slots else None, settings, n) for i, src in enumerate(sources)]
        found = {i: self.memo[key] for i, key in enumerate(keys) if key in self.memo}
        todo = [i for i in range(len(keys)) if i not in found]
        if todo:
            done = self._run(
                [sources[i] for i in todo], settings, n, [slots[i] for i in todo] if slots else None
            )
            found.update(zip(todo, done, strict=True))
        for i, key in enumerate(keys):
            self.memo[key] = found[i]
            self.memo.move_to_end(key)
        while len(self.memo) > memo_size:
            self.memo.popitem(last=False)
        return [list(found[i]) for i in range(len(keys))]

    def decode(
        self,
        sources: Sequence[str],
        settings: GenerationSettings,
        slots: Sequence[Sequence[str]] | None = None,
    ) -> list[str]:
        """One delexicalised text per ready-made source (another role's rendering of its acts, such as
        the learned user's: ``dialog.user.learned``), each saying exactly ``slots`` when given."""
        return [texts[0] for texts in self._decode(sources, settings, 1, slots)]

    def _run(
        self,
        sources: Sequence[str],
        settings: GenerationSettings,
        n: int,
        slots: Sequence[Sequence[str]] | None = None,
    ) -> list[list[str]]:
        """``n`` replies per source from the one decoding loop (dialog/generation/decode.py): the
        sources written together (greedy, sampled), or one at a time (beam search)."""
        batch = self.collate(self.encode(sources))
        if self.shortlist is not None:
            self.shortlist.use_inputs(batch["input_ids"])
        if max(settings.num_beams, n) > 1 and not settings.do_sample:
            return [
                self._search(
                    {key: value[i : i + 1] for key, value in batch.items()},
                    settings,
                    [slots[i]] if slots is not None else None,
                    n,
                )
                for i in range(len(sources))
            ]
        texts = self._search(batch, settings, slots, n)
        return [texts[i * n : (i + 1) * n] for i in range(len(sources))]

    def _search(
        self,
        batch: dict[str, torch.Tensor],
        settings: GenerationSettings,
        slots: Sequence[Sequence[str]] | None,
        n: int,
    ) -> list[str]:
        """The encoder once, then ``decode`` over the lean decoder's cache (dialog/generation/lean.py)
        under the settings' rules, the slot constraint (``slots``: the placeholders each source's
        reply must say) and, when on, the no-stutter rule."""
        tokenizer = self.tokenizer
        group = n if settings.do_sample else max(settings.num_beams, n)  # rows written per source
        rules = settings_rules(tokenizer, settings)
        if slots is not None:
            rules.append(SlotConstraint(tokenizer, slots, group, self.config.max_target))
        if self.inference.unstutter:
            rules.append(NoStutter(tokenizer))
        rows = batch["input_ids"].shape[0]
        self.model.eval()
        with torch.inference_mode():
            memory = self.model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            stepper = LeanDecoder(self.model.decoder)
            stepper.start(memory.last_hidden_state, batch["attention_mask"])
            found = decode(
                stepper,
                torch.full((rows, 1), tokenizer.cls_token_id, dtype=torch.long),
                settings,
                {tokenizer.sep_token_id},
                self.config.max_target,
                rules,
                n,
                tokenizer.pad_token_id,
            )
        tokens = [h.tokens for hypotheses in found for h in hypotheses]
        texts = tokenizer.batch_decode(tokens, skip_special_tokens=True, clean_up_tokenization_spaces=True)
        return [tidy(t) for t in texts]

    def realise(
        self,
        items: Sequence[tuple[Sequence[DialogueAct], DialogueState | None]],
        settings: GenerationSettings | None = None,
        guard: bool = True,
    ) -> list[Generation]:
        """Replies for several act sets at once, each checked by the slot-error guard, decoded as
        ``self.inference`` says: with ``constrain``, decoding itself says each placeholder once; with
        ``repair``, a reply whose only fault is a REQUEST's options left unsaid gets them in a clause
        (see ``_mend``) instead of a second decoding; ``beams`` for the second decoding."""
        settings = settings or GenerationSettings()
        items = [(spoken_acts(acts), state) for acts, state in items]
        constrain, repair, beams = self.inference.constrain, self.inference.repair, self.inference.beams
        prepared = [self.source(acts, state) for acts, state in items]
        expected = [list(values) for _, values in prepared] if constrain else None
        first = self._decode([s for s, _ in prepared], settings, 1, expected)
        results = []
        for (source, values), [text], (acts, _) in zip(prepared, first, items, strict=True):
            words = tuple(dict.fromkeys(literals(acts)))
            gen = Generation("", text, source, tuple(values), words)
            gen.missing, gen.redundant = slot_errors(text, list(values), words)
            gen.candidates = [Candidate(text, gen.missing, gen.redundant)]
            results.append(gen)
        if guard and repair:
            for gen, (acts, _) in zip(results, items, strict=True):
                self._mend(gen, acts)
        if guard:
            retry = [i for i, g in enumerate(results) if not any(c.ok for c in g.candidates)]
            if retry and beams > 0:
                beam = GenerationSettings(num_beams=beams, repetition_penalty=settings.repetition_penalty)
                wanted = [list(results[i].slots) for i in retry] if constrain else None
                more = self._decode([results[i].source for i in retry], beam, beams, wanted)
                for i, texts in zip(retry, more, strict=True):
                    due, words = list(results[i].slots), results[i].words
                    results[i].candidates += [Candidate(t, *slot_errors(t, due, words)) for t in texts]
        for gen, (acts, state), (_, values) in zip(results, items, prepared, strict=True):
            good = next((c for c in gen.candidates if c.ok), None) if guard else gen.candidates[0]
            if good is None:
                gen.fallback = True
                gen.text = self.template.generate(tuple(acts), state or DialogueState())
                continue
            gen.delexicalised, gen.missing, gen.redundant = good.text, good.missing, good.redundant
            gen.text = lexicalise(good.text, values)
        return results

    @staticmethod
    def _mend(gen: Generation, acts: Sequence[DialogueAct]) -> None:
        """A first reply that says its placeholders right and does not stutter but leaves out a
        REQUEST's options ("what city should i search in?") gets them said after it ("For example
        Lisbon or Porto."), as a candidate the guard takes before any beam search: the options are
        what the user needs to hear, and a beam search costs a second decoding (issue 11)."""
        first = gen.candidates[0]
        if first.ok or first.redundant or degenerate(first.text):
            return
        if slot_errors(first.text, list(gen.slots))[0]:
            return
        clause = options_clause(acts, first.text)
        if clause is None:
            return
        text = f"{first.text.rstrip()} {clause}"
        gen.candidates.append(Candidate(text, *slot_errors(text, list(gen.slots), gen.words)))
        gen.mended = True

    def generate(
        self, acts: tuple[DialogueAct, ...], state: DialogueState, settings: GenerationSettings | None = None
    ) -> str:
        """The reply; without ``settings``, the model's own decoding (``inference.decoding``), seeded
        from the turn when it samples, so that a dialogue replayed gets the same words."""
        if not acts or is_clarification(acts):  # no training data asks which service: the template does
            return self.template.generate(acts, state)
        if settings is None:
            settings = self.inference.decoding
            if settings.do_sample and settings.seed is None:
                seed = zlib.crc32(f"{len(state.history)}:{acts}".encode())
                settings = replace(settings, seed=seed)
        return self.realise([(acts, state)], settings)[0].text

    # --- saving and loading ---------------------------------------------------------------

    def save(self, directory: Path) -> None:
        save_trained(directory, self.model, KIND, FORMAT_VERSION, self.config.to_dict(), self.meta)

    def save_meta(self, directory: Path) -> None:
        write_meta(directory, KIND, FORMAT_VERSION, self.config.to_dict(), self.meta)

    @classmethod
    def load(
        cls, path: str | Path, merge: bool = True, int8: bool | None = None, shortlist: bool | None = None
    ) -> Seq2SeqNLG:
        """A saved model; ``merge=False`` keeps the adapters apart, to train further. For inference,
        the model's meta gives its ``NLGInference``; ``int8`` (dynamic quantization of the linear
        layers, weights per channel) and ``shortlist`` (see dialog/generation/shortlist.py; `tod export
        shortlist` writes the list) override it."""
        meta, tensors, weights = load_trained(path, KIND, FORMAT_VERSION, "tod train nlg")
        try:
            config = NLGConfig(**meta["config"])
        except TypeError as exc:
            raise TodError(f"{weights.parent}: cannot read the NLG model: {exc}") from None
        model = build(config)
        fit_trained(model, tensors, weights)
        inference = NLGInference.from_meta(meta) if merge else NLGInference()
        inference = replace(
            inference,
            int8=inference.int8 if int8 is None else int8,
            shortlist=inference.shortlist if shortlist is None else shortlist,
        )
        if merge:
            merge_adapters(model)
            ids = read_shortlist(weights.parent) if inference.shortlist else None
            if inference.shortlist and ids is None:
                raise TodError(f"{weights.parent}: no {SHORTLIST_FILE} (`tod export shortlist` makes it)")
            if ids is not None:
                install_shortlist(model, ids)
            if inference.int8:
                from dialog.infra.encoder import quantize

                model = quantize(model)  # a copy: the shortlist head is found again in __init__
        return cls(model, config, meta, inference)


def latency_ms(
    nlg: Seq2SeqNLG, acts: Sequence[tuple[DialogueAct, ...]], settings: GenerationSettings | None = None
) -> list[float]:
    times = []
    for item in acts:
        start = time.perf_counter()
        nlg.generate(item, DialogueState(), settings)
        times.append((time.perf_counter() - start) * 1000)
    return times


@registry.register("nlg", "seq2seq")
def nlg_factory(
    schemas: Sequence[Schema], backends: Mapping[str, Backend] | None = None, model: str = "nlg-seq2seq"
) -> Seq2SeqNLG:
    """The registry's ``seq2seq`` NLG: the committed model, for these schemas."""
    return Seq2SeqNLG.load(model).with_schemas(schemas)
