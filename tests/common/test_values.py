"""Dates, times and amounts read by meaning, whichever way they are written."""

from __future__ import annotations

import pytest

from dialog.common.values import dates, numbers, same_value, times


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
