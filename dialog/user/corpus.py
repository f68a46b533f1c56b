"""User templates mined from real SGD user turns, so that a text-level simulation speaks the way
SGD users do (and not only in tod's own templates).

Each user turn whose INFORM values are all found as spans becomes a template: the values are
replaced by ``{slot}``, and the turn is keyed by its acts without values, e.g.
``INFORM(city) INFORM(date) REQUEST(phone_number)``. Turns that state an intent are keyed by the
intent too, since their wording names it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

from dialog.types import ActType, Dialogue, DialogueAct, Speaker

A = ActType
Key = tuple[str, ...]


def signature(acts: Sequence[DialogueAct]) -> Key:
    """The acts without their values (intents kept), sorted: the key of a template."""
    parts = set()
    for act in acts:
        if act.act is A.INFORM_INTENT and act.values:
            parts.add(f"INFORM_INTENT({act.values[0]})")
        elif act.act in (A.AFFIRM_INTENT, A.NEGATE_INTENT):
            parts.add(act.act.value)
        elif act.slot and act.act in (A.INFORM, A.REQUEST):
            value = act.values[0] if act.values else ""
            parts.add(
                f"{act.act.value}({act.slot}{'=' + value if value in ('dontcare', 'True', 'False') else ''})"
            )
        else:
            parts.add(act.act.value)
    return tuple(sorted(parts))


def mine_templates(dialogues: Iterable[Dialogue], min_length: int = 2) -> dict[Key, list[str]]:
    """Templates per act signature from the user turns of ``dialogues`` (single-frame turns only)."""
    out: dict[Key, dict[str, None]] = defaultdict(dict)
    for dialogue in dialogues:
        for turn in dialogue.turns:
            if turn.speaker is not Speaker.USER or len(turn.frames) != 1:
                continue
            frame = turn.frames[0]
            text = turn.utterance
            spans = sorted(frame.slots, key=lambda s: s.start, reverse=True)
            informs = [a for a in frame.actions if a.act is A.INFORM and a.values]
            spanned = {s.slot for s in spans}
            special = {"dontcare", "True", "False"}
            if any(a.slot not in spanned and a.values[0] not in special for a in informs):
                continue  # a value said in words we cannot put back (e.g. "four" for 4)
            if "{" in text or "}" in text:
                continue
            for span in spans:  # right to left, so offsets stay valid
                text = text[: span.start] + "{" + span.slot + "}" + text[span.end :]
            if len(text.split()) >= min_length:
                out[signature(frame.actions)][text] = None
    return {key: list(templates) for key, templates in out.items()}


_FIELD = re.compile(r"\{(\w+)\}")


def fill(template: str, values: dict[str, str]) -> str | None:
    """The template with the acts' values, or None if it names a slot the acts do not give."""
    names = _FIELD.findall(template)
    if any(n not in values for n in names):
        return None
    return _FIELD.sub(lambda m: values[m.group(1)], template)
