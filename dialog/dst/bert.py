"""BertDST (registry name ``bert``): the schema-guided tracker behind the DST protocol.

``from_config`` builds a new model; ``fit`` trains it with the shared loop; ``save`` writes the adapters,
the heads and ``meta.json``; ``load`` restores it (adapters merged into the encoder). ``predict`` reads
a batch of features (turns of many dialogues at once) and returns each frame's new state; one encoder
pass serves all the frames of a turn. ``update`` is the stage verb used by ``PipelineAgent``.
"""

from __future__ import annotations

import copy
import logging
import re
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from dialog.backend import Backend
from dialog.common.state import canonical_value, typed_values
from dialog.dst.features import (
    ACTIVE,
    CARRY,
    DONTCARE_STATUS,
    Featurizer,
    History,
    span_text,
)
from dialog.dst.model import DSTConfig, TrackerModel, collate, tracker_loss
from dialog.dst.rule import RuleDST, accepts_offer, offered_values, take_offer
from dialog.infra import artifacts
from dialog.infra.elements import ElementEmbeddings
from dialog.infra.encoder import add_lora, load_encoder, load_tokenizer
from dialog.registry import registry
from dialog.schema import Schema
from dialog.train.loop import TrainConfig, WithTable, summary, train
from dialog.types import DONTCARE, ActType, DialogueAct, DialogueState, FrameState, Speaker

FORMAT_VERSION = 1
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DSTInference:
    """How the tracker works in an agent (``BertDST.configured`` changes it, as a new component).

    ``fuse_nlu``: also take the NLU's informed values (see ``fuse``); ``take_offers``: with it, an
    offer the NLU heard accepted fills the booking; ``snap_values``: new free-form values checked
    against what the system said (``snap``). Off by default is the tracker alone (SGD evaluation);
    the registry's ``bert`` DST turns fusing on."""

    fuse_nlu: bool = False
    take_offers: bool = True
    snap_values: bool = True


class BertDST(artifacts.AdapterModel):
    """The schema-guided tracker. Create with ``from_config`` (new) or ``load`` (trained), then
    ``with_schemas`` for the services it tracks and ``configured`` for how it works in an agent:
    each returns a new tracker (the network and the cache of schema texts shared)."""

    KIND = "dst-bert"
    WHAT = "DST model"
    VERSION = FORMAT_VERSION
    CONFIG = DSTConfig
    NETWORK = TrackerModel

    def __init__(self, model: TrackerModel, config: DSTConfig, meta: dict[str, Any] | None = None) -> None:
        self.model = model
        self.config = config
        self.meta = meta or {}
        self.tokenizer = load_tokenizer()
        self.elements = ElementEmbeddings(self.tokenizer, config.hidden)  # shared by with_schemas copies
        self.schemas: dict[str, Schema] = {}
        self.inference = DSTInference()
        self._serve({})

    # --- making -----------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: DSTConfig) -> BertDST:
        encoder = add_lora(load_encoder(), config.lora_rank, config.lora_alpha, dropout=0.0)
        for module in encoder.modules():  # the heads regularise; dropout in the frozen encoder costs time
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        return cls(TrackerModel(encoder, config), config)

    def _serve(self, schemas: dict[str, Schema]) -> None:
        self.schemas = schemas
        self.featurizer = Featurizer(
            self.tokenizer,
            self.elements.table,
            self.schemas,
            self.config.max_length,
            self.config.max_candidates,
        )
        self.acts_only = RuleDST(())  # turns with no words (act level): their acts applied
        self.acts_only.schemas = self.schemas

    def with_schemas(self, schemas: Sequence[Schema]) -> BertDST:
        """A tracker of these services as well as those it tracks (their texts are embedded once, in
        the cache the trackers share)."""
        made = copy.copy(self)
        made._serve({**self.schemas, **{s.service: s for s in schemas}})
        return made

    def configured(self, **changes: Any) -> BertDST:
        """This tracker working with ``changes`` to its ``DSTInference``."""
        made = copy.copy(self)
        made.inference = replace(self.inference, **changes)
        return made

    def table_tensor(self) -> torch.Tensor:
        """(N, D) embeddings of every schema text the featurizer has indexed so far."""
        return self.elements.tensor()

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

        model = WithTable(self.model, table)
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
        self.meta["training"] = summary(history, len(features))
        return history

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
        index: list[int] = []  # each feature's distinct turn
        unique: list[int] = []  # the first feature of each distinct turn
        for n, f in enumerate(features):
            key = tuple(f["input_ids"])
            if key not in keys:
                keys[key] = len(unique)
                unique.append(n)
            index.append(keys[key])
        batch = collate(list(features), labels=False)
        hidden = self.model.encoder(
            input_ids=batch["input_ids"][unique], attention_mask=batch["attention_mask"][unique]
        ).last_hidden_state[index]
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
        spans: list[tuple[float, int, int, int]] = []  # (score, slot, start, end) of active free slots
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
                spans.append((*self._best_span(f, out["start"][i, j], out["end"][i, j]), j))
            elif st == CARRY:
                new = self._carried(f, out, i, j)
            if new is not None:
                values[name] = (new,)
        # One stretch of words fills one slot: the most confident slot takes it; a slot that loses it
        # takes its best earlier value (carry-over), or keeps what it had.
        taken: list[tuple[int, int]] = []
        for _score, start, end, j in sorted(spans, key=lambda x: -x[0]):
            text = span_text(f, start, end)
            if text is not None and all(end < a or start > b for a, b in taken):
                taken.append((start, end))
                values[f["slots"][j]] = (text,)
            else:
                carried = self._carried(f, out, i, j)
                if carried is not None:
                    values[f["slots"][j]] = (carried,)
        return FrameState(intent, requested, values)

    @staticmethod
    def _carried(f: dict[str, Any], out: dict[str, torch.Tensor], i: int, j: int) -> str | None:
        k = len(f["candidates"][j])
        return f["candidates"][j][int(out["carry"][i, j, :k].argmax())] if k else None

    def _best_span(self, f: dict[str, Any], start: torch.Tensor, end: torch.Tensor) -> tuple[float, int, int]:
        """(score, first token, last token) of the best span no longer than ``max_span`` tokens."""
        t = len(f["input_ids"])
        scores = start[:t, None] + end[None, :t]  # (T, T)
        band = torch.ones(t, t, dtype=torch.bool).triu().tril(self.config.max_span)
        scores = scores.masked_fill(~band, -1e9)
        flat = int(scores.argmax())
        return float(scores.view(-1)[flat]), flat // t, flat % t

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
        active one; on a first turn with neither, every schema's intents compete. With no text (act-level
        simulations) the acts are applied as the rule DST applies them."""
        if not text.strip():  # no words to read: the acts, as the rule DST takes them
            return self.acts_only.update(state, text, acts)
        history, system, system_acts = history_of(state)
        services = [s for s in dict.fromkeys(a.service for a in acts if a.service) if s in self.schemas]
        if not services and state.active_service in self.schemas:
            services = [state.active_service]
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
            schema, before = self.schemas[service], state.frame(service)
            heard = [a for a in acts if a.service == service]
            read = {a.slot for a in heard if a.act is ActType.INFORM and a.slot}
            if self.inference.fuse_nlu:
                frame = fuse(schema, frame, heard, before)
            took_offer = accepts_offer(schema, heard, before.active_intent)
            if self.inference.snap_values:
                frame = checked(state, schema, frame, heard, text, read, took_offer)
            if self.inference.fuse_nlu and self.inference.take_offers and took_offer:
                # the user took the offer: what the booking needs is the offer's, unless the NLU read it
                guessed = {s for s, v in frame.slot_values.items() if v != before.slot_values.get(s)} - read
                offered = offered_values(state, service)
                values = take_offer(schema, frame.active_intent, frame.slot_values, offered, guessed)
                frame = FrameState(frame.active_intent, frame.requested_slots, values)
            values = typed_values(schema, frame.slot_values, before.slot_values)
            state = state.with_frame(service, FrameState(frame.active_intent, frame.requested_slots, values))
        return state


def checked(
    state: DialogueState,
    schema: Schema,
    frame: FrameState,
    heard: Sequence[DialogueAct],
    text: str,
    read: Collection[str],
    took_offer: bool,
) -> FrameState:
    """``snap`` with what it needs read from the state: the values the system said for this service,
    those it proposed (only when the user's acts ``heard`` take a proposal: an accepted offer, "yes"),
    the values the other services hold."""
    service, before = schema.service, state.frame(schema.service)
    took = took_offer or any(a.act is ActType.AFFIRM for a in heard)
    proposed = system_said(state, service, PROPOSALS if took else ())
    carried = {
        v for s, f in state.frames.items() if s != service for vs in f.slot_values.values() for v in vs
    }
    return snap(schema, frame, before, system_said(state, service), text, read, proposed, carried)


SPELLED = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
NUMBER_WORDS = {str(k): w for k, w in enumerate(SPELLED)}  # "2" → "two"
DETERMINER = re.compile(r"^(?:the|a|an)\s+(?=\S)", re.IGNORECASE)  # "the tomorrow" → "tomorrow"


def words_of(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


PROPOSALS = frozenset({ActType.OFFER, ActType.CONFIRM})  # values the system put to the user to take


def system_said(
    state: DialogueState, service: str, kinds: Collection[ActType] | None = None
) -> list[tuple[str, str]]:
    """(slot, value) of every value the system said for ``service`` (informed, offered, confirmed,
    or given as a REQUEST's options; with ``kinds``, by those acts only), most recent first."""
    out = []
    for turn in reversed(state.history):
        if turn.speaker is Speaker.SYSTEM:
            for frame in turn.frames:
                for act in frame.actions:
                    if kinds is not None and act.act not in kinds:
                        continue
                    if (act.service or frame.service) == service and act.slot and act.slot != "intent":
                        out += [(act.slot, v) for v in act.values]
    return out


def snap(
    schema: Schema,
    frame: FrameState,
    before: FrameState,
    said: Sequence[tuple[str, str]],
    text: str = "",
    read: Collection[str] = (),
    proposed: Sequence[tuple[str, str]] | None = None,
    carried: Collection[str] = (),
) -> FrameState:
    """The values new this turn checked against what the system said for this service (``said``,
    see ``system_said``; ``proposed``: those it offered or confirmed, by default all of ``said``),
    what the user said (``text``; ``read``: the slots the NLU read) and the values of the other
    services (``carried``).

    A free-form value that is part of one said for the same slot becomes it ("Dr." or "Pereira" → "Dr.
    Tomás Pereira", the most recent first), or that holds one whole becomes that one ("Dr. Inês Costa
    (specialty dermatology)" → "Dr. Inês Costa"), else loses a leading article ("the tomorrow") unless the
    NLU read it so ("the 8th"); a piece of a value said for another slot, when the user's words hold that
    value whole, is not taken ("Costa" as a city after "I'd like Dr. Inês Costa"); nor a value said for
    another slot only ("the clinic name is Smile Studio" → patient_name), a value with no word in it (".")
    or one that lists the options the system gave ("Lisbon or Madrid"), nor one holding a word of a slot's
    name that neither the NLU read nor the system said ("the doctor" from "the doctor name doesn't
    matter", "any time is fine. Any patient"). Every new value needs evidence: the NLU read the slot, its
    words are the user's, the system proposed it for this slot, or another service holds it; not a value
    for a slot the user asks about this turn (unless the NLU read one), not a value the system only
    informed ("the price range is expensive" answers a question, it is not the user's wish) or listed as
    an option the user did not take (``cuisine=seafood`` after "Find one in Lisbon"). Yes/no is exempt, as
    it is rarely said as such, and a number may be said in words ("for two"). A rejected value leaves the
    slot as it was."""
    own: dict[str, list[str]] = {}  # slot → values said for it
    owners: dict[str, set[str]] = {}  # value → the slots it was said for
    spelled: dict[str, set[str]] = {}  # value → its words
    for slot, value in said:
        own.setdefault(slot, []).append(value)
        owners.setdefault(value.casefold(), set()).add(slot)
        spelled.setdefault(value, set(words_of(value)))
    proposals = {(slot, v.casefold()) for slot, v in (said if proposed is None else proposed)}
    elsewhere_held = {v.casefold() for v in carried}
    values = dict(frame.slot_values)
    heard = set(words_of(text))
    slot_words = {w for name in schema.slot_names for w in name.casefold().split("_")}

    def evident(slot: str, value: str, tokens: list[str]) -> bool:
        return (
            slot in read
            or set(tokens) <= heard
            or (slot, value.casefold()) in proposals
            or value.casefold() in elsewhere_held
        )

    for slot, current in frame.slot_values.items():
        if not current or current == before.slot_values.get(slot) or current[0] == DONTCARE:
            continue
        if slot not in schema.slot_names:
            continue
        value, tokens = current[0], words_of(current[0])
        if slot in frame.requested_slots and slot not in read:
            wrong = True  # "How expensive is it?" asks for the price range, it does not give one
        elif schema.slot(slot).categorical:
            generic = value.casefold() in ("true", "false")  # rarely said as such
            said_number = NUMBER_WORDS.get(value) in heard  # "for two" → 2 (the digit: its words, below)
            wrong = not generic and not said_number and not evident(slot, value, tokens)
        else:
            elsewhere = owners.get(value.casefold(), set())
            options = [
                v for v in own.get(slot, []) if re.search(rf"(?<!\w){re.escape(v)}(?!\w)", value, re.I)
            ]
            listed = len(set(options)) > 1 and not elsewhere  # "Lisbon or Madrid": the options
            # "Costa" from "I'd like Dr. Inês Costa" is a piece of the doctor's name, not a city
            pieces = [
                v
                for other, said_values in own.items()
                if other != slot
                for v in said_values
                if set(tokens) < spelled[v] <= heard
            ]
            # part of a value said for the slot completes to it, but not to the slot's current value:
            # "Madrid" after "Please confirm: Madrid city" corrects it
            earlier = {v.casefold() for v in before.slot_values.get(slot, ())}
            whole = next(
                (v for v in own.get(slot, []) if set(tokens) <= spelled[v] and v.casefold() not in earlier),
                None,
            )
            # "Dr. Inês Costa (specialty …)" → the doctor; but "Washington D.C." after "Please confirm:
            # Washington" corrects the value, it is not cut back to it
            held = {v for v in options if v.casefold() not in earlier}
            inside = held.pop() if len(held) == 1 and len(set(options)) == 1 else None
            # "the tomorrow" (a span's stray article) → "tomorrow"; not what the NLU read: "the 8th" is a date
            bare = value if slot in read else DETERMINER.sub("", value)
            value = whole or inside or bare or value
            # said for another slot only; a number may be both ("3": rooms or nights)
            foreign = bool(elsewhere) and slot not in elsewhere and not value.isdigit()
            # "The doctor name doesn't matter" → doctor_name="doctor": the user names a slot, not a value
            naming = slot not in read and not elsewhere and bool(set(words_of(value)) & slot_words)
            wrong = (
                not tokens or listed or foreign or naming or bool(pieces) or not evident(slot, value, tokens)
            )
        if wrong:
            if slot in before.slot_values:
                values[slot] = before.slot_values[slot]
            else:
                del values[slot]
        else:
            values[slot] = (value,)
    return FrameState(frame.active_intent, frame.requested_slots, values)


def fuse(
    schema: Schema, frame: FrameState, acts: Sequence[DialogueAct], before: FrameState | None = None
) -> FrameState:
    """The tracker's frame with this turn's NLU evidence added: values the NLU read as INFORM (in the
    schema's spelling) win, and a value the NLU gave to one slot is not also taken by another slot
    the tracker changed this turn; the intent the NLU heard (informed or an offered one affirmed)
    wins, and without one the tracker may set the first intent but not switch an active one (after
    "yes" to a confirmation of a search, SGD taught it the booking follows); requested slots are
    the union."""
    before = before or FrameState()
    values = dict(frame.slot_values)
    intent, requested = frame.active_intent, list(frame.requested_slots)
    read: dict[str, str] = {}
    named: str | None = None  # the intent the NLU heard
    for act in acts:
        if act.act is ActType.INFORM and act.slot in schema.slot_names and act.values:
            value = canonical_value(schema, act.slot, act.values[0])
            if value is not None:
                read[act.slot] = value
        elif act.act in (ActType.INFORM_INTENT, ActType.AFFIRM_INTENT) and act.values:
            named = act.values[0] if act.values[0] in schema.intent_names else named
        elif act.act is ActType.REQUEST and act.slot in schema.slot_names and act.slot not in requested:
            requested.append(act.slot)
    claimed = {v.casefold(): slot for slot, v in read.items() if v != DONTCARE}
    for slot, current in list(values.items()):
        owner = claimed.get(current[0].casefold()) if current else None
        if owner is not None and owner != slot and current != before.slot_values.get(slot):
            if slot in before.slot_values:
                values[slot] = before.slot_values[slot]
            else:
                del values[slot]
    values.update({slot: (v,) for slot, v in read.items()})
    asked = {a.slot for a in acts if a.act is ActType.REQUEST}
    requested = [s for s in requested if s not in read or s in asked]  # "The genre should be Romance"
    if named is not None:
        intent = named
    elif before.active_intent != "NONE":  # no switch the NLU did not hear ("yes" is not "book it")
        intent = before.active_intent
    return FrameState(intent, tuple(requested), values)


def history_of(state: DialogueState) -> tuple[History, str, tuple[DialogueAct, ...]]:
    """The running facts of a live conversation, the last system utterance and its acts."""
    history = History(states=dict(state.frames))
    system, system_acts = "", tuple[DialogueAct, ...]()
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
    schemas: Sequence[Schema],
    backends: Mapping[str, Backend] | None = None,
    model: str = "dst-bert",
    fuse_nlu: bool = True,
    take_offers: bool = True,
    snap_values: bool = True,
) -> BertDST:
    """The registry's ``bert`` tracker: the committed model, for these schemas; in an agent it also
    takes the values its NLU read (``fuse_nlu``) and the offer the NLU heard accepted
    (``take_offers``), and checks new free-form values against what the system said (``snap_values``)."""
    dst = BertDST.load(model).with_schemas(schemas)
    return dst.configured(fuse_nlu=fuse_nlu, take_offers=take_offers, snap_values=snap_values)
