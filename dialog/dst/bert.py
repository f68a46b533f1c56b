"""BertDST (registry name ``bert``): the schema-guided tracker behind the DST protocol.

``from_config`` builds a new model; ``fit`` trains it with the shared loop; ``save`` writes the adapters,
the heads and ``meta.json``; ``load`` restores it (adapters merged into the encoder). ``predict`` reads
a batch of features (turns of many dialogues at once) and returns each frame's new state; one encoder
pass serves all the frames of a turn. ``update`` is the stage verb used by ``PipelineAgent``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from dialog import artifacts
from dialog.backend import Backend
from dialog.dst.features import (
    ACTIVE,
    CARRY,
    DONTCARE_STATUS,
    Featurizer,
    History,
    TextTable,
    span_text,
)
from dialog.dst.model import DSTConfig, SchemaEmbedder, TrackerModel, collate, tracker_loss
from dialog.encoder import add_lora, load_encoder, load_tokenizer, merged_encoder, quantize
from dialog.errors import TodError
from dialog.registry import registry
from dialog.schema import Schema
from dialog.train.loop import TrainConfig, train
from dialog.types import DONTCARE, DialogueAct, DialogueState, FrameState, Speaker

FORMAT_VERSION = 1
log = logging.getLogger(__name__)


class BertDST:
    """The schema-guided tracker. Create with ``from_config`` (new) or ``load`` (trained)."""

    def __init__(self, model: TrackerModel, config: DSTConfig, meta: dict[str, Any] | None = None) -> None:
        self.model = model
        self.config = config
        self.meta = meta or {}
        self.tokenizer = load_tokenizer()
        self.embedder: SchemaEmbedder | None = None
        self.table = TextTable()
        self._table_tensor = torch.zeros(0, config.hidden)
        self.schemas: dict[str, Schema] = {}
        self.featurizer = Featurizer(
            self.tokenizer, self.table, self.schemas, config.max_length, config.max_candidates
        )

    # --- making -----------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: DSTConfig) -> BertDST:
        encoder = add_lora(load_encoder(), config.lora_rank, config.lora_alpha, dropout=0.0)
        for module in encoder.modules():  # the heads regularise; dropout in the frozen encoder costs time
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        return cls(TrackerModel(encoder, config), config)

    @classmethod
    def resume(cls, path: str | Path) -> BertDST:
        """A saved tracker with its adapters not merged, to train further."""
        from peft import set_peft_model_state_dict

        loaded = artifacts.load(path, "dst-bert", FORMAT_VERSION, "DST model")
        dst = cls.from_config(DSTConfig(**loaded.meta["config"]))
        set_peft_model_state_dict(dst.model.encoder, loaded.lora)
        dst.model.heads.load_state_dict(loaded.heads)
        dst.meta = {
            "resumed_from": {"path": str(path), "training": loaded.meta.get("training")},
            **{k: v for k, v in loaded.meta.items() if k not in (*artifacts.RESERVED, "training")},
        }
        return dst

    def with_schemas(self, schemas: Sequence[Schema]) -> BertDST:
        """Track these services; their texts are embedded now (once) and cached."""
        self.schemas.update({s.service: s for s in schemas})
        return self

    def table_tensor(self) -> torch.Tensor:
        """(N, D) embeddings of every schema text the featurizer has indexed so far."""
        if self._table_tensor.shape[0] < len(self.table.rows):
            if self.embedder is None:
                self.embedder = SchemaEmbedder(tokenizer=self.tokenizer)
            self._table_tensor = self.embedder.embed(self.table.texts)
        return self._table_tensor

    def fit(
        self,
        features: Sequence[dict[str, Any]],
        config: TrainConfig,
        evaluate: Any = None,
        out_dir: Path | None = None,
        progress: bool = True,
        key_metric: str = "joint_goal_accuracy",
    ) -> dict[str, Any]:
        table = self.table_tensor()

        def loss_fn(logits: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return tracker_loss(logits, batch)

        model = _WithTable(self.model, table)
        history = train(
            model,
            features,
            collate,
            loss_fn,
            config,
            evaluate,
            key_metric=key_metric if evaluate else "",
            checkpoint=self.save,
            out_dir=out_dir,
            progress=progress,
        )
        self.meta["training"] = {
            "examples": len(features),
            "steps": history["steps"],
            "minutes": history["minutes"],
            "config": history["config"],
            "best": history["best"],
            "evals": history["evals"],
        }
        return history

    # --- storing ----------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Adapters and heads (fp16, a few MB) and meta.json; the encoder itself is not copied."""
        artifacts.save(
            directory,
            self.model.encoder,
            self.model.heads,
            "dst-bert",
            FORMAT_VERSION,
            self.config.to_dict(),
            self.meta,
        )

    def save_meta(self, directory: Path) -> None:
        artifacts.update_meta(directory, self.meta)

    @classmethod
    def load(cls, path: str | Path, quantized: bool = False) -> BertDST:
        """Restore a saved tracker: a clear error naming the file when it is missing or damaged."""
        loaded = artifacts.load(path, "dst-bert", FORMAT_VERSION, "DST model")
        try:
            config = DSTConfig(**loaded.meta["config"])
            encoder = merged_encoder(loaded.lora, config.lora_rank, config.lora_alpha)
            model = TrackerModel(encoder, config)
            model.heads.load_state_dict(loaded.heads)
        except (KeyError, TypeError, RuntimeError, TodError) as exc:
            raise TodError(f"DST model damaged: {loaded.directory}: {exc}") from None
        model.eval()
        if quantized:
            model = quantize(model)  # type: ignore[assignment]
        return cls(model, config, loaded.meta)

    # --- predicting -------------------------------------------------------------------------

    @torch.inference_mode()
    def predict(self, features: Sequence[dict[str, Any]], before: Sequence[FrameState]) -> list[FrameState]:
        """The state after each feature's turn, from the state before it."""
        if not features:
            return []
        self.model.eval()
        table = self.table_tensor()
        # One encoder pass per distinct turn (frames of one turn share it).
        keys: dict[tuple[int, ...], int] = {}
        index = [keys.setdefault(tuple(f["input_ids"]), len(keys)) for f in features]
        firsts = {i: n for n, i in reversed(list(enumerate(index)))}
        unique = [features[firsts[i]] for i in range(len(keys))]
        batch = collate(list(features), labels=False)
        enc = collate(unique, labels=False)
        hidden = self.model.encoder(
            input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
        ).last_hidden_state[index]
        width = batch["input_ids"].shape[1]
        hidden = hidden[:, :width]
        out = self.model.heads(hidden, table, batch)
        return [self._decode(f, out, i, b) for i, (f, b) in enumerate(zip(features, before, strict=True))]

    def _decode(
        self, f: dict[str, Any], out: dict[str, torch.Tensor], i: int, before: FrameState
    ) -> FrameState:
        intents = ["NONE", *(self.schemas[f["service"]].intent_names if f["service"] in self.schemas else [])]
        n_int = len(f["intent_prev"])
        intent = intents[int(out["intent"][i, :n_int].argmax())] if len(intents) == n_int else "NONE"
        n = len(f["slots"])
        requested = tuple(
            s for s, p in zip(f["slots"], out["requested"][i, :n].tolist(), strict=True) if p > 0
        )
        values = {k: tuple(v) for k, v in before.slot_values.items()}
        status = out["status"][i, :n].argmax(-1).tolist()
        for j, name in enumerate(f["slots"]):
            st = status[j]
            new: str | None = None
            if st == DONTCARE_STATUS:
                new = DONTCARE
            elif st == ACTIVE and f["categorical"][j]:
                k = len(f["values"][j])
                if k:
                    new = f["values"][j][int(out["value"][i, j, :k].argmax())]
            elif st == ACTIVE:
                new = self._best_span(f, out["start"][i, j], out["end"][i, j])
            elif st == CARRY:
                k = len(f["candidates"][j])
                if k:
                    new = f["candidates"][j][int(out["carry"][i, j, :k].argmax())]
            if new is not None:
                values[name] = (new,)
        return FrameState(intent, requested, values)

    def _best_span(self, f: dict[str, Any], start: torch.Tensor, end: torch.Tensor) -> str | None:
        t = len(f["input_ids"])
        scores = start[:t, None] + end[None, :t]  # (T, T)
        band = torch.ones(t, t, dtype=torch.bool).triu().tril(self.config.max_span)
        scores = scores.masked_fill(~band, -1e9)
        flat = int(scores.argmax())
        return span_text(f, flat // t, flat % t)

    def features_for(
        self,
        schema: Schema,
        system: str,
        user: str,
        acts: Sequence[DialogueAct],
        history: History,
        encoded: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if schema.service not in self.schemas:
            self.schemas[schema.service] = schema
        return self.featurizer.feature(schema, system, user, acts, history, encoded)

    # --- the DST stage ----------------------------------------------------------------------

    def update(self, state: DialogueState, text: str, acts: tuple[DialogueAct, ...]) -> DialogueState:
        """The state after the user's ``text``. The services updated are those of the NLU's acts or the
        active one; on a first turn with neither, every schema's intents compete."""
        history, system, system_acts = history_of(state)
        services = [s for s in dict.fromkeys(a.service for a in acts if a.service) if s in self.schemas]
        if not services and state.active_service in self.schemas:
            services = [state.active_service]  # type: ignore[list-item]
        choose = not services
        if choose:
            services = list(self.schemas)
        if not services:
            return state
        encoded = self.featurizer.encode(system, text)
        feats = [
            self.features_for(self.schemas[s], system, text, system_acts, history, encoded) for s in services
        ]
        frames = self.predict(feats, [state.frame(s) for s in services])
        if choose:
            best = [(s, f) for s, f in zip(services, frames, strict=True) if f.active_intent != "NONE"]
            if not best:
                return state
            services, frames = [best[0][0]], [best[0][1]]
        for service, frame in zip(services, frames, strict=True):
            state = state.with_frame(service, frame)
        return state


class _WithTable(torch.nn.Module):
    """The model with the schema table bound, so the training loop can call it with a batch."""

    def __init__(self, model: TrackerModel, table: torch.Tensor) -> None:
        super().__init__()
        self.inner = model
        self.register_buffer("table", table, persistent=False)

    def forward(self, **batch: torch.Tensor) -> dict[str, Any]:
        return self.inner(self.table, **batch)


def history_of(state: DialogueState) -> tuple[History, str, tuple[DialogueAct, ...]]:
    """The running facts of a live conversation, the last system utterance and its acts."""
    history = History(states=dict(state.frames))
    system, system_acts = "", ()
    for turn in state.history:
        if turn.speaker is Speaker.SYSTEM:
            acts = tuple(
                a if a.service else DialogueAct(a.act, a.slot, a.values, f.service, a.canonical_values)
                for f in turn.frames
                for a in f.actions
            )
            history.add_system_acts(acts)
            system, system_acts = turn.utterance, acts
    return history, system, system_acts


def latency_ms(dst: BertDST, turns: Sequence[tuple[Schema, str, str]], repeat: int = 1) -> list[float]:
    """Batch-of-one time per (schema, system, user) turn, after a warm-up."""
    out = []
    for r in range(repeat + 1):
        for schema, system, user in turns:
            start = time.perf_counter()
            f = dst.features_for(schema, system, user, (), History())
            dst.predict([f], [FrameState()])
            if r:
                out.append((time.perf_counter() - start) * 1000)
    return out


@registry.register("dst", "bert")
def dst_factory(
    schemas: Sequence[Schema], backends: Mapping[str, Backend] | None = None, model: str = "dst-bert"
) -> BertDST:
    """The registry's ``bert`` tracker: the committed model, for these schemas."""
    return BertDST.load(model).with_schemas(schemas)
