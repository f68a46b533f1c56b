"""The real-vs-generated discriminator: it tells apart what differs, and cannot tell apart what does not."""

from __future__ import annotations

import random

import pytest

from dialog.eval.humanlike import discriminator_auc

CITIES = ["Porto", "Lisbon", "Madrid", "Paris", "Rome", "Oslo", "Vienna", "Prague", "Dublin", "Athens"]


def test_templated_text_is_told_from_varied_text() -> None:
    rng = random.Random(0)
    varied = [
        f"{rng.choice(['hey', 'um', 'ok so', 'right'])} somewhere in {c} i guess {i}"
        for i, c in enumerate(CITIES * 6)
    ]
    templated = [f"The city should be {c}." for c in CITIES * 6]
    assert discriminator_auc(varied, templated) > 0.95


def test_two_samples_of_one_kind_cannot_be_told_apart() -> None:
    rng = random.Random(1)
    texts = [
        f"I would like {rng.choice(['a table', 'a room', 'a car'])} in {rng.choice(CITIES)}"
        for _ in range(200)
    ]
    assert abs(discriminator_auc(texts[:100], texts[100:]) - 0.5) < 0.15


def test_too_few_texts_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 5"):
        discriminator_auc(["a", "b"], ["c", "d"])
