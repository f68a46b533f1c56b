"""Delexicalisation: the values of acts replaced by ``[slot]`` placeholders and put back, and the
slot errors of a delexicalised reply. Shared by the NLG, SimpleTOD, the learned user and the
evaluators (BLEU and slot errors are counted on delexicalised text)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace

from dialog.common.text import join
from dialog.common.values import spoken
from dialog.types import ActType, DialogueAct

A = ActType


PLACEHOLDER = re.compile(r"\[([a-z0-9_]+)\]")


LITERAL = {"true", "false", "dontcare"}  # values said in words, not copied


def placeholder(slot: str) -> str:
    return f"[{slot}]"


def delexicalise(acts: Sequence[DialogueAct]) -> tuple[tuple[DialogueAct, ...], dict[str, str]]:
    """The acts with each copied value replaced by its placeholder, and placeholder → value."""
    values: dict[str, str] = {}
    out = []
    for act in acts:
        copy = (
            act.slot
            and act.slot != "intent"
            and len(act.values) == 1
            and act.values[0].casefold() not in LITERAL
            and act.act is not A.REQUEST
        )
        if copy:
            assert act.slot is not None
            values.setdefault(act.slot, act.values[0])
            out.append(DialogueAct(act.act, act.slot, (placeholder(act.slot),), act.service))
        else:
            out.append(act)
    return tuple(out), values


def delexicalise_text(text: str, values: Mapping[str, str]) -> str | None:
    """``text`` with each value replaced by its placeholder; None when a value is not in the text."""
    out = text
    for slot, value in sorted(values.items(), key=lambda kv: -len(kv[1])):
        pattern = re.compile(rf"(?<!\w){re.escape(value)}(?!\w)", re.IGNORECASE)
        out, n = pattern.subn(placeholder(slot), out)
        if n == 0:
            return None
    return out


def spoken_acts(acts: Sequence[DialogueAct]) -> tuple[DialogueAct, ...]:
    """The acts with their values as a reply says them ("2026-12-01" → "December 1st", "19:30" →
    "7:30 pm"; ``dialog.common.values.spoken``): what every NLG realises."""
    return tuple(replace(a, values=tuple(spoken(v) for v in a.values)) if a.values else a for a in acts)


def literals(acts: Sequence[DialogueAct]) -> list[str]:
    """Values that stay words in the input (the options of a REQUEST, the values of a multi-valued act):
    the reply must say each of them as it is."""
    return [
        v
        for act in acts
        if act.slot and act.slot != "intent" and (len(act.values) > 1 or act.act is A.REQUEST)
        for v in act.values
        if v.casefold() not in LITERAL
    ]


def options_clause(acts: Sequence[DialogueAct], text: str) -> str | None:
    """ "For example a, b or c." for the REQUESTs whose options ``text`` leaves out; None when a word it
    leaves out is not a REQUEST's option (the values of a multi-valued act), which no clause mends."""
    lowered = text.casefold()
    clauses = []
    for act in acts:
        said = [v.casefold() in lowered for v in act.values if v.casefold() not in LITERAL]
        if not act.slot or act.slot == "intent" or all(said):
            continue
        if act.act is not A.REQUEST:
            return None
        options = [v for v in act.values if v.casefold() not in LITERAL]
        clauses.append(f"For example {join(options, 'or')}.")
    return " ".join(clauses) or None


def slot_errors(text: str, expected: Sequence[str], words: Sequence[str] = ()) -> tuple[int, int]:
    """(missing, redundant) placeholders of a delexicalised reply: each expected slot once; each of
    ``words`` (see ``literals``) must be in it too."""
    said = Counter(PLACEHOLDER.findall(text))
    lowered = text.casefold()
    missing = sum(1 for s in set(expected) if said[s] == 0)
    missing += sum(1 for w in dict.fromkeys(words) if w.casefold() not in lowered)
    redundant = sum(n for s, n in said.items() if s not in expected) + sum(
        n - 1 for s, n in said.items() if s in expected and n > 1
    )
    return missing, redundant


def lexicalise(text: str, values: Mapping[str, str]) -> str:
    """The reply with its values; the uncased model's "i" written "I" (before the values go in)."""
    text = re.sub(r"(?<![\w'])i(?=$|[\s?.!,]|'(?:m|ll|d|ve)\b)", "I", text)
    filled = PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
    filled = re.sub(r"\s+([?.!,])", r"\1", filled)
    sentences = re.split(r"(?<=[.?!])\s+", filled.strip())
    return " ".join(s[:1].upper() + s[1:] for s in sentences if s)
