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
WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_H = r"(" + "|".join(WORD_NUMBERS) + r"|1[0-2]|0?[1-9])"
_WHEN = r"(am|pm|a\.m\.|p\.m\.|in\s+the\s+morning|in\s+the\s+afternoon|in\s+the\s+evening|at\s+night|tonight)"
_HALF = re.compile(rf"\b(half|quarter)\s+(past|to)\s+{_H}\b(?:\s*{_WHEN})?", re.IGNORECASE)
_HALF_UK = re.compile(rf"\bhalf\s+{_H}\b(?:\s*{_WHEN})?", re.IGNORECASE)  # "half seven": 7:30
_CLOCK = re.compile(rf"\b([01]?\d|2[0-3])(?::|h)([0-5]\d)\b(?:\s*{_WHEN})?", re.IGNORECASE)
_HOUR_WHEN = re.compile(rf"\b{_H}(?:\s*o'?clock)?\s*{_WHEN}", re.IGNORECASE)
_OCLOCK = re.compile(rf"\b{_H}\s*o'?clock\b", re.IGNORECASE)
_NOON = re.compile(r"\b(noon|midday|midnight)\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])\d+(?:\.\d+)?(?![\w])")


def _month(name: str) -> int:
    return next(i for i, m in enumerate(MONTHS, 1) if m.startswith(name.lower()[:3]))


def dates(text: str) -> set[tuple[int, int]]:
    """Every (month, day) the text names: ISO dates and month names with a day, either order."""
    out = {(int(m), int(d)) for _, m, d in _ISO.findall(text) if 1 <= int(m) <= 12 and 1 <= int(d) <= 31}
    out |= {(_month(m), int(d)) for m, d in _MONTH_DAY.findall(text)}
    out |= {(_month(m), int(d)) for d, m in _DAY_MONTH.findall(text)}
    return out


def _hour_of(word: str) -> int:
    return WORD_NUMBERS.get(word.lower()) or int(word)


def _readings(hour: int, minutes: int, when: str, written: str) -> set[int]:
    """Minutes after midnight. Without am/pm a clock of 1 to 11 (not written "07:30") may mean
    either half of the day ("half seven", "at 7:30"): both readings are kept."""
    when = when.lower()
    if when:
        pm = when.startswith("p") or any(w in when for w in ("afternoon", "evening", "night"))
        hour = hour % 12 + (12 if pm else 0)
        return {hour * 60 + minutes}
    if 1 <= hour <= 11 and not written.startswith("0"):
        return {hour * 60 + minutes, (hour + 12) * 60 + minutes}
    return {hour * 60 + minutes}


def times(text: str) -> set[int]:
    """Every time of day the text names, in minutes after midnight: "19:30", "7:30 pm", "7 pm",
    "half past seven in the evening", "half seven", "noon". Each stretch of text is read once."""
    out: set[int] = set()
    rest = text
    for part, direction, h, when in _HALF.findall(rest):
        hour, minutes = _hour_of(h), (30 if part.lower() == "half" else 15)
        if direction.lower() == "to":
            hour, minutes = hour - 1, 60 - minutes
        out |= _readings(hour, minutes, when, h)
    rest = _HALF.sub(" ", rest)
    for h, when in _HALF_UK.findall(rest):
        out |= _readings(_hour_of(h), 30, when, h)
    rest = _HALF_UK.sub(" ", rest)
    for h, m, when in _CLOCK.findall(rest):
        out |= _readings(int(h), int(m), when, h)
    rest = _CLOCK.sub(" ", rest)
    for h, when in _HOUR_WHEN.findall(rest):
        out |= _readings(_hour_of(h), 0, when, h)
    rest = _HOUR_WHEN.sub(" ", rest)
    for h in _OCLOCK.findall(rest):
        out |= _readings(_hour_of(h), 0, "", h)
    out |= {0 if w.lower() == "midnight" else 720 for w in _NOON.findall(rest)}
    return out


def numbers(text: str) -> set[float]:
    """Every number written in digits ("1,200.50" is 1200.5), outside dates and clock times."""
    rest = _CLOCK.sub(" ", _ISO.sub(" ", text))
    rest = _MONTH_DAY.sub(" ", _DAY_MONTH.sub(" ", rest))
    rest = _HOUR_WHEN.sub(" ", _HALF_UK.sub(" ", _HALF.sub(" ", rest)))
    return {float(n.replace(",", "")) for n in _NUMBER.findall(rest)}


def normal(value: str) -> str:
    """A value compared as text: spaces collapsed, case folded."""
    return " ".join(str(value).split()).casefold()


def same_value(expected: str, got: str) -> bool:
    """Whether two writings name the same value: as text (case- and space-blind), or as the same
    date, time or amount ("2026-12-01" and "December 1st"; "19:30" and "7:30 pm"; "50" and
    "50 euros")."""
    if normal(expected) == normal(got):
        return True
    for read in (dates, times, numbers):
        mine, theirs = read(expected), read(got)
        if mine:
            return bool(mine & theirs)
    return False
