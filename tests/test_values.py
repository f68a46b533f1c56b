"""Dates, times and amounts read by meaning, whichever way they are written."""

from __future__ import annotations

import pytest

from dialog.values import dates, numbers, times


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


def test_times_of_the_morning_and_noon() -> None:
    assert times("9 am") == {9 * 60} and times("12 pm") == {12 * 60} and times("12 am") == {0}
    assert times("quarter to eight in the morning") == {7 * 60 + 45}


def test_numbers_outside_dates_and_times() -> None:
    assert numbers("send $1,200.50 to 3 people at 7:30 pm on 2026-12-01") == {1200.5, 3.0}
    assert numbers("12,960.00 euros") == {12960.0}
    assert numbers("no numbers here") == set()
