"""Text utilities every layer shares: names read as words, lists joined as people say them, and
WordPiece's decoding spaces undone. Nothing here knows a stage."""

from __future__ import annotations

import re
from collections.abc import Sequence

MAX_INPUT_CHARS = 5000  # what an agent reads of one utterance (the rest is cut off)


def words(name: str) -> str:
    """``restaurant_name`` → "restaurant name", ``FindRestaurants`` → "find restaurants"."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ")
    return spaced.lower().strip()


def join(items: Sequence[str], last: str = "and") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


def tidy(text: str) -> str:
    """WordPiece's decoding spaces, undone: ``[ restaurant _ name ]``, ``7 : 30``, ``2026 - 12 - 01``,
    ``120. 5``, ``$ 30``."""
    text = re.sub(r"\[ ([a-z0-9_ ]+?) \]", lambda m: "[" + m.group(1).replace(" ", "") + "]", text)
    text = re.sub(r"(?<=\d) ([:/-]) (?=\d)", r"\1", text)
    text = re.sub(r"(?<=\d)\. (?=\d)", ".", text)
    text = re.sub(r" ([:;]) ", r"\1 ", text)  # "details : the" → "details: the"
    return re.sub(r"([$#]) (\d)", r"\1\2", text)
