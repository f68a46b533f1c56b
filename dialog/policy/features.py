"""Schema-agnostic observations for learned policies: a fixed-size vector that means the same on every
service, made from the tracked state, the backend's result and the history.

Per slot of the active intent (required ones first, up to ``MAX_SLOTS``): required, filled, the
confidence of the value as heard, how often the system asked for it, whether the user affirmed it, whether
it was heard in the last turn, whether the user corrected it. Then the intent, the result (count,
results left to offer, transaction outcome), the user's last acts, the system's last acts, the turn count
and signs of trouble (repeated system turns, negations, corrections).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dialog.policy.actions import Situation
from dialog.types import ActType, DialogueAct

A = ActType
MAX_SLOTS = 6
SLOT_FEATURES = 8
USER_ACTS = (
    A.INFORM_INTENT, A.NEGATE_INTENT, A.AFFIRM_INTENT, A.INFORM, A.REQUEST, A.AFFIRM, A.NEGATE,
    A.SELECT, A.REQUEST_ALTS, A.THANK_YOU, A.GOODBYE,
)  # fmt: skip
SYSTEM_ACTS = (
    A.INFORM, A.REQUEST, A.CONFIRM, A.OFFER, A.NOTIFY_SUCCESS, A.NOTIFY_FAILURE, A.INQUIRE,
    A.INFORM_COUNT, A.OFFER_INTENT, A.REQ_MORE, A.GOODBYE,
)  # fmt: skip
GLOBAL_FEATURES = 26 + len(USER_ACTS) + 1 + len(SYSTEM_ACTS)
SIZE = MAX_SLOTS * SLOT_FEATURES + GLOBAL_FEATURES


def _kinds(acts: Sequence[DialogueAct], vocabulary: Sequence[ActType]) -> list[float]:
    present = {a.act for a in acts}
    return [float(k in present) for k in vocabulary]


def _count_bucket(n: int) -> list[float]:
    return [float(n == 0), float(n == 1), float(2 <= n <= 5), float(n > 5)]


def observe(s: Situation, max_turns: int = 20) -> np.ndarray:
    """The observation vector (``SIZE`` floats in [0, 1]) for a situation."""
    state = s.state
    history = state.history
    t = s.track
    heard_now = {a.slot for a in s.user if a.act is A.INFORM and a.slot}
    values = s.frame.slot_values
    slots: list[tuple[str, bool]] = []
    if s.intent is not None:
        slots = [(x, True) for x in s.intent.required_slots] + [(x, False) for x in s.intent.optional_slots]
    vector: list[float] = []
    unconfirmed = [1.0]
    for slot, required in slots[:MAX_SLOTS]:
        filled = bool(values.get(slot))
        confidence = t.confidence.get(slot, 1.0) if filled else 0.0
        confirmed = filled and t.affirmed.get(slot) == values[slot][0]
        if filled and not confirmed:
            unconfirmed.append(confidence)
        vector += [
            1.0, float(required), float(filled), confidence, min(t.asked.get(slot, 0), 3) / 3,
            float(confirmed), float(slot in heard_now), min(t.changes.get(slot, 0), 2) / 2,
        ]  # fmt: skip
    vector += [0.0] * (MAX_SLOTS * SLOT_FEATURES - len(vector))
    intent = s.intent
    result = s.result
    heard_last = [a.confidence for a in s.user if a.act is A.INFORM]
    followups = (
        bool(s.schema.followups(intent.name)) if s.schema is not None and intent is not None else False
    )
    tx_ok = s.tx_now and result is not None and result.success
    vector += [
        float(intent is not None),
        float(intent is not None and intent.transactional),
        float(intent is not None and intent.needs_confirmation),
        float(followups),
        min(len(s.missing), 5) / 5,
        min(len(intent.required_slots), 5) / 5 if intent is not None else 0.0,
        float(result is not None),
        *_count_bucket(result.count if result is not None else 0),
        float(bool(s.fresh)),
        min(len(s.offered), 3) / 3,
        float(tx_ok),
        float(s.tx_now and not tx_ok),
        float(s.tx_done),
        float(bool(s.answers)),
        float(bool(s.frame.requested_slots)),
        float(bool(s.invalid)),
        min(unconfirmed),
        min(heard_last, default=1.0),
        min(len(heard_last), 3) / 3,
        min(len(history) / 2, max_turns) / max_turns,
        min(t.repeats, 3) / 3,
        min(t.negations, 3) / 3,
        float(bool(s.options)),
    ]
    vector += [*_kinds(s.user, USER_ACTS), float(not s.user)]
    vector += _kinds(state.last_system_acts, SYSTEM_ACTS)
    out = np.asarray(vector, dtype=np.float32)
    assert out.shape == (SIZE,), out.shape
    return out
