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


def test_the_committed_human_likeness_model_still_scores(tmp_path, data_dir) -> None:  # type: ignore[no-untyped-def]
    """On SGD dev turns it never saw: real replies are mostly taken for human, template replies to the
    same acts almost never, as its meta records."""
    import random

    from dialog.data.sgd import load_dialogues, read_sgd_schemas
    from dialog.data.views import nlg_pairs
    from dialog.errors import TodError
    from dialog.eval.humanlike import HumanLikeness
    from dialog.nlg.template import TemplateNLG
    from dialog.types import DialogueState

    model = HumanLikeness.load()
    recorded = model.meta["validation"]
    pairs = [
        p for p in nlg_pairs(load_dialogues(data_dir, "dev", limit=200)) if p.acts and p.utterance.strip()
    ]
    pairs = random.Random(5).sample(pairs, 150)
    template = TemplateNLG(read_sgd_schemas(data_dir, "dev"))
    real = model.human([p.utterance for p in pairs])
    generated = model.human([template.generate(p.acts, DialogueState()) for p in pairs])
    assert real is not None and generated is not None
    assert abs(real - recorded["real_taken_for_human"]) < 0.12 and generated < 0.1
    # save / load keeps the scores; a folder that is not one is a clear error
    model.save(tmp_path / "m")
    again = HumanLikeness.load(tmp_path / "m")
    assert again.human([p.utterance for p in pairs]) == pytest.approx(real, abs=0.02)
    (tmp_path / "bad").mkdir()
    with pytest.raises(TodError, match="cannot read the human-likeness model"):
        HumanLikeness.load(tmp_path / "bad")
