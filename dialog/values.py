"""What a value means, whatever way it is written: dates, times and amounts read out of text.

"2026-12-01", "December 1st" and "1st of december" are one date; "19:30", "7:30 pm" and "half past
seven in the evening" one time; "$1,200" and "1200 dollars" one amount. Below the stages and the
evaluator, so that the same reading serves both (the faithfulness check of ``dialog.eval.faithful``
compares what a reply says with what the system knew in these terms).
"""

from __future__ import annotations

import re

MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY = r"([12][0-9]|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_MONTH_DAY = re.compile(rf"\b{_MONTH}\.?\s+(?:the\s+)?{_DAY}\b", re.IGNORECASE)
_DAY_MONTH = re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}\b", re.IGNORECASE)
_CLOCK = re.compile(r"\b([01]?\d|2[0-3])(?::|\.|h)([0-5]\d)\s*(am|pm|a\.m\.|p\.m\.)?", re.IGNORECASE)
_HOUR_MERIDIEM = re.compile(r"\b(1[0-2]|0?[1-9])\s*(am|pm|a\.m\.|p\.m\.)", re.IGNORECASE)
WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_HALF = re.compile(
    r"\b(half|quarter)\s+(past|to)\s+(" + "|".join(WORD_NUMBERS) + r"|1[0-2]|[1-9])"
    r"(?:\s+in\s+the\s+(morning|afternoon|evening)|\s*(am|pm))?",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])\d+(?:\.\d+)?(?![\w])")


def _month(name: str) -> int:
    return next(i for i, m in enumerate(MONTHS, 1) if m.startswith(name.lower()[:3]))


def dates(text: str) -> set[tuple[int, int]]:
    """Every (month, day) the text names: ISO dates and month names with a day, either order."""
    out = {(int(m), int(d)) for _, m, d in _ISO.findall(text) if 1 <= int(m) <= 12 and 1 <= int(d) <= 31}
    out |= {(_month(m), int(d)) for m, d in _MONTH_DAY.findall(text)}
    out |= {(_month(m), int(d)) for d, m in _DAY_MONTH.findall(text)}
    return out


def _hour(hour: int, meridiem: str) -> int:
    pm = meridiem.lower().startswith("p") or meridiem.lower() in ("afternoon", "evening")
    if meridiem and hour == 12:
        return 12 if pm else 0
    return hour + 12 if pm and hour < 12 else hour


def times(text: str) -> set[int]:
    """Every time of day the text names, in minutes after midnight ("7:30 pm", "19:30", "7 pm",
    "half past seven in the evening"). A clock without am/pm is read as written."""
    out = set()
    for part, direction, h, daytime, meridiem in _HALF.findall(text):
        hour = WORD_NUMBERS.get(h.lower()) or int(h)
        minutes = 30 if part.lower() == "half" else 15
        if direction.lower() == "to":
            hour, minutes = hour - 1, 60 - minutes
        out.add(_hour(hour, daytime or meridiem) * 60 + minutes)
    rest = _HALF.sub(" ", text)  # each time read once: "half past 7 pm" is not also "7 pm"
    for h, m, meridiem in _CLOCK.findall(rest):
        out.add(_hour(int(h), meridiem) * 60 + int(m))
    for h, meridiem in _HOUR_MERIDIEM.findall(_CLOCK.sub(" ", rest)):
        out.add(_hour(int(h), meridiem) * 60)
    return out


def numbers(text: str) -> set[float]:
    """Every number written in digits ("1,200.50" is 1200.5), outside dates and clock times."""
    rest = _CLOCK.sub(" ", _ISO.sub(" ", text))
    rest = _MONTH_DAY.sub(" ", _DAY_MONTH.sub(" ", rest))
    rest = _HOUR_MERIDIEM.sub(" ", _HALF.sub(" ", rest))
    return {float(n.replace(",", "")) for n in _NUMBER.findall(rest)}


def normal(value: str) -> str:
    """A value compared as text: spaces collapsed, case folded."""
    return " ".join(str(value).split()).casefold()
