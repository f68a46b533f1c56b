"""What a value means, whatever way it is written: dates, times and amounts read out of text.

Both ways: ``iso_date`` / ``clock_time`` / ``plain_number`` write what a person said in the form a
backend stores ("half seven" → "19:30", "next Friday" → "2026-12-11", "two" → "2"), for the slots a
schema types as ``date``, ``time`` or ``number``; ``spoken`` writes a stored value as a person says it
("2026-12-01" → "December 1st", "19:30" → "7:30 pm"), for the NLGs.

"2026-12-01", "December 1st" and "1st of december" are one date; "19:30", "7:30 pm" and "half past
seven in the evening" one time; "$1,200" and "1200 dollars" one amount. Below the stages and the
evaluator, so that the same reading serves both (the faithfulness check of ``dialog.eval.faithful``
compares what a reply says with what the system knew in these terms).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

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
MORE_NUMBERS = {
    "zero": 0, "a": 1, "an": 1, "single": 1, "couple": 2, "pair": 2, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
}  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
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
    date, time or amount ("2026-12-01" and "December 1st", "tomorrow" and tomorrow's date; "19:30" and
    "7:30 pm"; "50" and "50 euros")."""
    if normal(expected) == normal(got):
        return True
    day, other_day = iso_date(expected), iso_date(got)  # "tomorrow" is today's tomorrow
    if day is not None and other_day is not None:
        return day == other_day
    for read in (dates, times, numbers):
        mine, theirs = read(expected), read(got)
        if mine:
            return bool(mine & theirs)
    return False


# --- writing what a person said in a backend's form -----------------------------------------------

_WEEKDAY = re.compile(
    r"\b(?:(next|this|coming)\s+)?(mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?\b",
    re.IGNORECASE,
)
_RELATIVE = re.compile(r"\b(today|tonight|tomorrow|day after tomorrow)\b", re.IGNORECASE)
_BARE_HOUR = re.compile(rf"\s*(?:at|around|about|by)?\s*{_H}\s*", re.IGNORECASE)
_LARGER = re.compile(
    r"\b(thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|dozen|k)s?\b",
    re.IGNORECASE,
)
_NTH = re.compile(rf"\bthe\s+{_DAY}\b", re.IGNORECASE)


def _nearest(month: int, day: int, today: dt.date) -> dt.date | None:
    """The date with this month and day nearest to today (a demo's data may lie in the past)."""
    found = []
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            found.append(dt.date(year, month, day))
        except ValueError:
            continue
    return min(found, key=lambda d: abs((d - today).days), default=None)


def iso_date(text: str, today: dt.date | None = None) -> str | None:
    """The date a person names, as YYYY-MM-DD: an ISO date, a month and day ("December 1st", "1 dec";
    the year nearest today), "today", "tomorrow", a weekday ("Friday", "next Friday": the next one
    after today) or "the 8th" (this month's, or next month's once past). None when the text names none."""
    today = today or dt.date.today()
    iso = _ISO.search(text)
    if iso:
        try:
            return dt.date(*(int(g) for g in iso.groups())).isoformat()
        except ValueError:
            return None
    found = sorted(dates(text))
    if found:
        date = _nearest(*found[0], today)
        return date.isoformat() if date else None
    relative = _RELATIVE.search(text)
    if relative:
        word = relative.group(1).lower()
        shift = {"today": 0, "tonight": 0, "tomorrow": 1}.get(word, 2)
        return (today + dt.timedelta(days=shift)).isoformat()
    weekday = _WEEKDAY.search(text)
    if weekday:
        target = next(i for i, w in enumerate(WEEKDAYS) if w.startswith(weekday.group(2).lower()[:3]))
        ahead = (target - today.weekday()) % 7 or 7  # "next Friday" too: the coming one
        return (today + dt.timedelta(days=ahead)).isoformat()
    nth = _NTH.search(text)
    if nth:
        day = int(nth.group(1))
        for month_shift in (0, 1):
            year, month = (
                today.year + (today.month + month_shift - 1) // 12,
                (today.month + month_shift - 1) % 12 + 1,
            )
            try:
                date = dt.date(year, month, day)
            except ValueError:
                continue
            if date >= today:
                return date.isoformat()
    return None


def clock_time(text: str, hints: Sequence[str] = ()) -> str | None:
    """The time of day a person names, as HH:MM. A clock without am/pm ("half seven", "at 8") has two
    readings: the one nearest the times in ``hints`` (the slot's examples and values: a restaurant's
    evening, a clinic's morning), else the afternoon for 1 to 6 and the morning for 7 to 11."""
    readings = times(text)
    bare = _BARE_HOUR.fullmatch(text)
    if not readings and bare:  # a time slot's value "at 8", "seven": an hour
        readings = _readings(_hour_of(bare.group(1)), 0, "", bare.group(1))
    if not readings:
        return None
    if len(readings) > 1:
        known = [m for h in hints if len(read := times(h)) == 1 for m in read]  # unambiguous hints
        if known:
            best = min(readings, key=lambda r: (min(abs(r - k) for k in known), r))
        else:
            best = max(readings) if min(readings) < 7 * 60 else min(readings)
    else:
        best = next(iter(readings))
    return f"{best // 60:02d}:{best % 60:02d}"


def plain_number(text: str) -> str | None:
    """A count or amount as digits: "two" → "2", "a couple" → "2", "$1,200" → "1200", "12.50" →
    "12.5". None when the text holds no number, or more than one."""
    found = numbers(text)
    if _LARGER.search(text):  # "two hundred": never read as "2"
        return None
    if not found:
        named = {**WORD_NUMBERS, **MORE_NUMBERS}
        found = {
            float(named[w])
            for w in re.findall(r"[a-z]+", text.lower())
            if w in named and w not in ("a", "an")
        }
        if not found and re.fullmatch(r"\s*(a|an)\s*", text.lower()):
            found = {1.0}
    if len(found) != 1:
        return None
    value = next(iter(found))
    return str(int(value)) if value == int(value) else str(value)


def normalised(kind: str, text: str, hints: Sequence[str] = (), today: dt.date | None = None) -> str | None:
    """``text`` in the stored form of a slot typed ``kind`` (date, time, number); text is kept as it
    is. None when a typed value cannot be read."""
    if kind == "date":
        return iso_date(text, today)
    if kind == "time":
        return clock_time(text, hints)
    if kind == "number":
        return plain_number(text)
    return text


# --- saying a stored value as a person would ------------------------------------------------------

_ISO_ONLY = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
_CLOCK_ONLY = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def spoken(value: str) -> str:
    """A value as a reply says it: "2026-12-01" → "December 1st", "19:30" → "7:30 pm", "10:00" →
    "10 am", "12:00" → "noon"; anything else as it is."""
    iso = _ISO_ONLY.match(value)
    if iso:
        _, month, day = (int(g) for g in iso.groups())
        if 1 <= month <= 12 and 1 <= day <= 31:
            return f"{MONTHS[month - 1].capitalize()} {ordinal(day)}"
        return value
    clock = _CLOCK_ONLY.match(value)
    if clock:
        hour, minutes = int(clock.group(1)), int(clock.group(2))
        if (hour, minutes) == (12, 0):
            return "noon"
        if (hour, minutes) == (0, 0):
            return "midnight"
        half = "am" if hour < 12 else "pm"
        shown = hour % 12 or 12
        return f"{shown} {half}" if minutes == 0 else f"{shown}:{minutes:02d} {half}"
    return value
