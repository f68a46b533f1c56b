"""The label lists that do not depend on a schema: user act types and the values that are not spans.
Light (no dependency beyond ``dialog.types``), so that a bare training machine can import it."""

from __future__ import annotations

from dialog.types import DONTCARE, ActType

A = ActType
#: User act types the acts head predicts (INFORM, REQUEST and INFORM_INTENT come from other heads).
ACT_LABELS = [
    a.value
    for a in (
        A.AFFIRM,
        A.NEGATE,
        A.AFFIRM_INTENT,
        A.NEGATE_INTENT,
        A.SELECT,
        A.REQUEST_ALTS,
        A.THANK_YOU,
        A.GOODBYE,
    )
]
SPECIAL_VALUES = (DONTCARE, "True", "False")

__all__ = ["ACT_LABELS", "SPECIAL_VALUES"]
