"""The tracker on SGD dialogues: training features from the gold states, and tracking whole dialogues
(many at once, turn by turn, each from its own predicted states) for evaluation."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dialog.dst.features import Gold, History
from dialog.schema import Schema
from dialog.types import Dialogue, DialogueAct, Frame, FrameState, Speaker, Turn


def gold_features(
    dst: Any, dialogues: Iterable[Dialogue], keep: float = 1.0, seed: int = 0
) -> Iterator[dict[str, Any]]:
    """Labelled features of the (user turn, service) pairs, a ``keep`` fraction of them at random."""
    rng = random.Random(seed)
    for dialogue in dialogues:
        history = History()
        system = ""
        system_acts: tuple[DialogueAct, ...] = ()
        system_frames: tuple[Frame, ...] = ()
        for turn in dialogue.turns:
            if turn.speaker is Speaker.SYSTEM:
                system, system_acts, system_frames = turn.utterance, turn.acts, turn.frames
                history.add_system_acts(system_acts)
                continue
            encoded = None
            for frame in turn.frames:
                if frame.service not in dst.schemas or frame.state is None or rng.random() >= keep:
                    continue
                encoded = encoded or dst.featurizer.encode(system, turn.utterance)
                own = next((f for f in system_frames if f.service == frame.service), None)
                gold = Gold(frame.state, frame.slots, own.slots if own else (), frame.actions)
                yield dst.featurizer.feature(
                    dst.schemas[frame.service], system, turn.utterance, system_acts, history, encoded, gold
                )
            for frame in turn.frames:
                if frame.state is not None:
                    history.states[frame.service] = frame.state


@dataclass
class _Run:
    dialogue: Dialogue
    history: History = field(default_factory=History)
    position: int = 0
    system: str = ""
    system_acts: tuple[DialogueAct, ...] = ()
    turns: list[Turn] = field(default_factory=list)

    def next_user_turn(self) -> Turn | None:
        while self.position < len(self.dialogue.turns):
            turn = self.dialogue.turns[self.position]
            self.position += 1
            if turn.speaker is Speaker.SYSTEM:
                self.system, self.system_acts = turn.utterance, turn.acts
                self.history.add_system_acts(turn.acts)
                self.turns.append(turn)
                continue
            return turn
        return None


def track_dialogues(
    dst: Any, dialogues: Sequence[Dialogue], batch_frames: int = 64, progress: bool = False
) -> list[Dialogue]:
    """Each dialogue with the tracker's state in its user frames (the services of each user turn are
    given, as in the SGD evaluation; the states are the tracker's own, turn after turn)."""
    from tqdm import tqdm

    runs = [_Run(d) for d in dialogues]
    total = sum(len(f.frames) for d in dialogues for f in d.turns if f.speaker is Speaker.USER)
    bar = tqdm(total=total, desc="tracking", unit="frame", disable=not progress, leave=False)
    active = list(runs)
    while active:
        pending: list[tuple[_Run, Turn]] = []
        for run in active:
            turn = run.next_user_turn()
            if turn is not None:
                pending.append((run, turn))
        active = [run for run, _ in pending]
        for start in range(0, len(pending), batch_frames):
            chunk = pending[start : start + batch_frames]
            feats, before, where = [], [], []
            for run, turn in chunk:
                encoded = dst.featurizer.encode(run.system, turn.utterance)
                for frame in turn.frames:
                    schema: Schema | None = dst.schemas.get(frame.service)
                    if schema is None:
                        continue
                    feats.append(
                        dst.featurizer.feature(
                            schema, run.system, turn.utterance, run.system_acts, run.history, encoded
                        )
                    )
                    before.append(run.history.states.get(frame.service, FrameState()))
                    where.append((run, frame.service))
            states = dst.predict(feats, before)
            predicted: dict[int, dict[str, FrameState]] = {}
            for (run, service), state in zip(where, states, strict=True):
                predicted.setdefault(id(run), {})[service] = state
            for run, turn in chunk:
                mine = predicted.get(id(run), {})
                run.history.states.update(mine)
                frames = tuple(
                    replace(f, state=mine.get(f.service, FrameState())) if f.state is not None else f
                    for f in turn.frames
                )
                run.turns.append(replace(turn, frames=frames))
            bar.update(len(feats))
    bar.close()
    return [replace(run.dialogue, turns=tuple(run.turns)) for run in runs]


def rename_dialogue(
    dialogue: Dialogue,
    services: dict[str, str],
    slots: dict[str, dict[str, str]],
    intents: dict[str, dict[str, str]],
) -> Dialogue:
    """The dialogue with service, slot and intent names mapped (for SGD-X schema variants)."""

    def act(a: DialogueAct, service: str) -> DialogueAct:
        s = slots.get(service, {})
        values = a.values
        if a.slot == "intent" or a.act.value.endswith("_INTENT"):
            values = tuple(intents.get(service, {}).get(v, v) for v in values)
        return replace(
            a,
            slot=s.get(a.slot, a.slot) if a.slot else a.slot,
            values=values,
            service=services.get(a.service, a.service) if a.service else a.service,
            canonical_values=None,
        )

    def frame(f: Frame) -> Frame:
        svc, s, i = f.service, slots.get(f.service, {}), intents.get(f.service, {})
        state = None
        if f.state is not None:
            state = FrameState(
                i.get(f.state.active_intent, f.state.active_intent),
                tuple(s.get(x, x) for x in f.state.requested_slots),
                {s.get(k, k): v for k, v in f.state.slot_values.items()},
            )
        call = f.service_call
        if call is not None:
            call = replace(
                call,
                method=i.get(call.method, call.method),
                parameters={s.get(k, k): v for k, v in call.parameters.items()},
            )
        return replace(
            f,
            service=services.get(svc, svc),
            actions=tuple(act(a, svc) for a in f.actions),
            slots=tuple(replace(x, slot=s.get(x.slot, x.slot)) for x in f.slots),
            state=state,
            service_call=call,
        )

    return replace(
        dialogue,
        services=tuple(services.get(s, s) for s in dialogue.services),
        turns=tuple(replace(t, frames=tuple(frame(f) for f in t.frames)) for t in dialogue.turns),
    )


def variant_names(
    original: Sequence[dict[str, Any]], variant: Sequence[dict[str, Any]]
) -> tuple[dict[str, str], dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Name maps (services, slots per service, intents per service) from SGD schema JSON lists whose
    element i corresponds (SGD-X)."""
    services, slots, intents = {}, {}, {}
    for o, v in zip(original, variant, strict=True):
        name = o["service_name"]
        services[name] = v["service_name"]
        slots[name] = {a["name"]: b["name"] for a, b in zip(o["slots"], v["slots"], strict=True)}
        intents[name] = {a["name"]: b["name"] for a, b in zip(o["intents"], v["intents"], strict=True)}
    return services, slots, intents
