"""The fluency language model: known answers on a hand-made corpus, saving, and the committed model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dialog.common.paths import models_dir
from dialog.errors import TodError
from dialog.eval.fluency import NgramLM, tokens

CORPUS = [
    "is there anything else i can help you with?",
    "how about [restaurant_name] in [city]?",
    "how about [restaurant_name]? it is a nice place.",
    "your table is booked.",
] * 5


def test_tokens_keep_placeholders_and_contractions() -> None:
    assert tokens("How about [restaurant_name]? It's nice.") == [
        "how",
        "about",
        "[restaurant_name]",
        "?",
        "it's",
        "nice",
        ".",
    ]


def test_probabilities_are_a_distribution_and_order_is_learned(tmp_path: Path) -> None:
    lm = NgramLM().fit(CORPUS)
    vocabulary = [*sorted(lm.vocabulary - {"<s>"}), "never-seen"]
    for context in (("how", "about"), ("<s>", "<s>"), ("zzz", "yyy")):
        total = sum(lm.prob(*context, w) for w in vocabulary)
        assert 0.95 < total <= 1.0 + 1e-9  # nearly all the mass; the rest is for other unseen words
    assert lm.perplexity("how about [restaurant_name] in [city]?") < lm.perplexity(
        "[city] in about how [restaurant_name]?"
    )
    assert lm.perplexity("your table is booked.") < lm.perplexity("booked your is table.")
    log_prob, n = lm.log_prob("your table is booked.")
    assert n == 6 and math.isclose(lm.perplexity("your table is booked."), math.exp(-log_prob / n))
    lm.save(tmp_path / "lm.json.gz")
    again = NgramLM.load(tmp_path / "lm.json.gz")
    assert again.perplexity("how about [city]?") == pytest.approx(lm.perplexity("how about [city]?"))


def test_missing_or_damaged_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TodError, match="missing"):
        NgramLM.load(tmp_path / "none.json.gz")
    (tmp_path / "bad.json.gz").write_bytes(b"not gzip")
    with pytest.raises(TodError, match="cannot read"):
        NgramLM.load(tmp_path / "bad.json.gz")


def test_committed_model_prefers_real_replies() -> None:
    lm = NgramLM.load(models_dir() / "fluency-ngram" / "lm.json.gz")
    real = [
        "Is there anything else I can help you with?",
        "I found [count] restaurants. How about [restaurant_name]?",
    ]
    for text in real:
        words = text.split()
        assert lm.perplexity(text) < lm.perplexity(" ".join(reversed(words)))
