"""Dates, times and amounts read by meaning, whichever way they are written; written in the form a
backend stores and said back as people say them."""

from __future__ import annotations

import datetime as dt

import pytest

from dialog.common.state import canonical_value, typed_values
from dialog.common.values import (
    clock_time,
    dates,
    iso_date,
    numbers,
    plain_number,
    same_value,
    spoken,
    times,
)
from dialog.schema import Schema


@pytest.mark.parametrize(
    "text", ["2026-12-01", "December 1st", "on the 1st of december", "dec 1", "Dec. 1st, 2026"]
)
def test_one_date_many_writings(text: str) -> None:
    assert dates(text) == {(12, 1)}


def test_another_date_is_another_date() -> None:
    assert dates("The appointment is on march 1st") == {(3, 1)} != dates("2026-12-01")


@pytest.mark.parametrize(
    "text", ["19:30", "7:30 pm", "7:30 p.m.", "half past seven in the evening", "half past 7 pm"]
)
def test_one_time_many_writings(text: str) -> None:
    assert times(text) == {19 * 60 + 30}


def test_a_clock_without_am_or_pm_keeps_both_readings() -> None:
    assert times("half seven") == {7 * 60 + 30, 19 * 60 + 30} == times("at 7:30")
    assert times("07:30") == {7 * 60 + 30} and times("seven o'clock") == {7 * 60, 19 * 60}
    assert same_value("19:30", "half seven") and same_value("09:00", "9 in the morning")
    assert not same_value("19:30", "8 pm")


def test_same_value_by_meaning_or_as_text() -> None:
    assert same_value("2026-12-01", "December 1st") and not same_value("2026-12-01", "march 1st")
    assert same_value("50", "50 euros") and same_value("Maria Silva", "maria  silva")
    assert not same_value("Maria Silva", "Carlos Ortega") and not same_value("50 euros", "60 euros")


def test_times_of_the_morning_and_noon() -> None:
    assert times("9 am") == {9 * 60} and times("12 pm") == {12 * 60} and times("12 am") == {0}
    assert times("at noon") == {12 * 60} and numbers("12.50 euros") == {12.5}
    assert times("quarter to eight in the morning") == {7 * 60 + 45}


def test_numbers_outside_dates_and_times() -> None:
    assert numbers("send $1,200.50 to 3 people at 7:30 pm on 2026-12-01") == {1200.5, 3.0}
    assert numbers("12,960.00 euros") == {12960.0}
    assert numbers("no numbers here") == set()


# --- both ways: what people say → the stored form → what a reply says ------------------------------

TODAY = dt.date(2026, 12, 8)  # a Tuesday


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("December 1st", "2026-12-01"),  # the year nearest today (a demo's data may lie in the past)
        ("on the 1st of december", "2026-12-01"),
        ("2026-12-01", "2026-12-01"),
        ("jan 3", "2027-01-03"),
        ("tomorrow", "2026-12-09"),
        ("the day after tomorrow", "2026-12-10"),
        ("next Friday", "2026-12-11"),
        ("on tuesday", "2026-12-15"),  # the next Tuesday, not today
        ("the 20th", "2026-12-20"),
        ("the 3rd", "2027-01-03"),  # this month's 3rd has passed
    ],
)
def test_dates_people_say_are_stored_as_iso(text: str, iso: str) -> None:
    assert iso_date(text, TODAY) == iso


@pytest.mark.parametrize("text", ["sometime soon", "", "2026-02-30", "whenever suits"])
def test_no_date_is_invented(text: str) -> None:
    assert iso_date(text, TODAY) is None


@pytest.mark.parametrize(
    ("text", "hints", "clock"),
    [
        ("half seven", ["19:00", "8 pm", "half past seven"], "19:30"),  # a restaurant's evening
        ("half past ten", ["09:00", "10:30", "half past four"], "10:30"),  # a clinic's morning
        ("7 pm", [], "19:00"),
        ("quarter to nine in the evening", [], "20:45"),
        ("at 3", [], "15:00"),  # no hints: 1 to 6 in the afternoon
        ("at 8", [], "08:00"),  # 7 to 11 in the morning
        ("noon", [], "12:00"),
        ("19:30", [], "19:30"),
    ],
)
def test_times_people_say_are_stored_as_a_24_hour_clock(text: str, hints: list[str], clock: str) -> None:
    assert clock_time(text, hints) == clock


@pytest.mark.parametrize(
    ("text", "number"), [("two", "2"), ("for two people", "2"), ("a couple", "2"), ("$1,200", "1200")]
)
def test_numbers_people_say(text: str, number: str) -> None:
    assert plain_number(text) == number


@pytest.mark.parametrize("text", ["two hundred euros", "3 or 4", "fifty", "lots"])
def test_a_number_not_read_for_sure_is_not_read(text: str) -> None:
    assert plain_number(text) is None  # "two hundred" must never become 2


@pytest.mark.parametrize(
    ("stored", "said"),
    [("2026-12-01", "December 1st"), ("2026-12-22", "December 22nd"), ("19:30", "7:30 pm"),
     ("10:00", "10 am"), ("12:00", "noon"), ("09:05", "9:05 am"), ("Lisbon", "Lisbon")],
)  # fmt: skip
def test_replies_say_stored_values_as_people_do_and_the_evaluator_agrees(stored: str, said: str) -> None:
    assert spoken(stored) == said
    assert same_value(stored, said)  # the evaluator's reading of the reply finds the stored value


def test_typed_slots_normalise_in_the_state_and_untyped_ones_do_not() -> None:
    schema = Schema.model_validate(
        {
            "version": 1,
            "service": "Clinic_1",
            "description": "Appointments",
            "slots": [
                {"name": "date", "description": "Day", "type": "date"},
                {"name": "time", "description": "Time", "type": "time", "examples": ["09:00", "10:30"]},
                {"name": "size", "description": "People", "type": "number", "categorical": True,
                 "values": ["1", "2", "3"]},
                {"name": "note", "description": "A note"},
            ],
            "intents": [{"name": "Book", "description": "Book", "required_slots": ["date"]}],
        }
    )  # fmt: skip
    assert canonical_value(schema, "time", "half past ten") == "10:30"
    assert canonical_value(schema, "size", "two") == "2"
    assert canonical_value(schema, "size", "nine") is None  # not a value of the slot
    assert canonical_value(schema, "date", "whenever") is None
    assert canonical_value(schema, "note", "half past ten") == "half past ten"
    before = {"date": ("2026-12-01",)}
    after = typed_values(schema, {"date": ("whenever",), "time": ("at 9",), "note": ("hi",)}, before)
    assert after == {"date": ("2026-12-01",), "time": ("09:00",), "note": ("hi",)}  # unreadable: as before
    untyped = Schema.model_validate(
        {**schema.model_dump(), "slots": [{"name": "date", "description": "Day"}]}
    )
    assert "type" not in untyped.model_dump(exclude_defaults=True)["slots"][0]


def test_nlg_says_dates_and_times_as_people_do() -> None:
    from dialog.nlg.template import TemplateNLG
    from dialog.types import ActType, DialogueAct, DialogueState

    schema = Schema.model_validate(
        {
            "version": 1,
            "service": "Clinic_1",
            "description": "Appointments",
            "slots": [{"name": "date", "description": "Day"}, {"name": "time", "description": "Time"}],
            "intents": [{"name": "Book", "description": "Book", "required_slots": ["date"]}],
            "templates": {"CONFIRM": "On {date} at {time}?"},
        }
    )
    acts = (
        DialogueAct(ActType.CONFIRM, "date", ("2026-12-01",), "Clinic_1"),
        DialogueAct(ActType.CONFIRM, "time", ("19:30",), "Clinic_1"),
    )
    assert TemplateNLG([schema]).generate(acts, DialogueState()) == "On December 1st at 7:30 pm?"
