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
