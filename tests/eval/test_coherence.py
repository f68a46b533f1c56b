"""The coherence scorer: negatives of each kind, AUC on known cases, a tiny training run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dialog.common.paths import models_dir
from dialog.eval.coherence import (
    NEGATIVES,
    CoherenceConfig,
    CoherenceNet,
    CoherenceScorer,
    Example,
    auc_by_kind,
    examples,
)


def test_negatives_are_of_the_kind_they_claim(dev_dialogues) -> None:  # type: ignore[no-untyped-def]
    dialogues = dev_dialogues[:200]
    data = examples(dialogues, 60, seed=1, all_negatives=True)
    real = [e for e in data if e.kind == "real"]
    assert len(real) == 60 and {e.kind for e in data} == {"real", *NEGATIVES}
    by_text = {}
    for d in dialogues:
        for turn in d.turns:
            by_text.setdefault(turn.utterance, set()).add(
                (d.dialogue_id, d.services[0] if d.services else "")
            )
    for e in data:
        if e.kind == "same_service":
            assert any(service == e.service for _, service in by_text[e.reply])
        assert e.label == (e.kind == "real")
    contexts = {e.context for e in real}
    assert all(e.context in contexts for e in data)  # each negative shares a real example's context


def test_auc_by_kind_known_answers() -> None:
    data = [
        Example("c", "r", 1, "real", "s"),
        Example("c", "x", 0, "random", "s"),
        Example("c", "y", 0, "shuffled", "s"),
    ]
    assert auc_by_kind([0.9, 0.1, 0.95], data) == {"random": 1.0, "shuffled": 0.0, "all": 0.5}


def test_a_few_steps_learn_to_prefer_the_real_reply(tmp_path: Path) -> None:
    from dialog.train.loop import TrainConfig, train

    torch.manual_seed(0)
    scorer = CoherenceScorer.from_config(CoherenceConfig(lora_rank=4, lora_alpha=8, max_length=48))
    pairs = [
        ("user: find me a restaurant in porto", "how about il forno?", 1),
        ("user: find me a restaurant in porto", "your transfer is done.", 0),
        ("user: send 50 euros to maria", "from which account?", 1),
        ("user: send 50 euros to maria", "how about il forno?", 0),
    ] * 4
    features = scorer.features([(c, r) for c, r, _ in pairs], [y for *_, y in pairs])
    train(scorer.model, features, CoherenceScorer.collate, CoherenceNet.loss,
          TrainConfig(epochs=15, batch_size=16, lr=3e-3, head_lr=1e-2, warmup=0.0), progress=False)  # fmt: skip
    real, fake = scorer.score([(pairs[0][0], pairs[0][1]), (pairs[1][0], pairs[1][1])])
    assert real > 0.5 > fake
    scorer.save(tmp_path / "c")
    again = CoherenceScorer.load(tmp_path / "c")
    assert again.score([(pairs[0][0], pairs[0][1])])[0] == pytest.approx(real, abs=1e-2)


@pytest.mark.skipif(not (models_dir() / "coherence-bert").exists(), reason="no committed scorer yet")
def test_committed_scorer_still_separates_real_replies(dev_dialogues) -> None:  # type: ignore[no-untyped-def]
    from dialog.eval.coherence import validate

    scorer = CoherenceScorer.load("coherence-bert")
    recorded = scorer.meta["metrics"]["sgd_dev"]["learned"]
    scores = validate(scorer, dev_dialogues, 150, seed=5)
    assert scores["random"] >= recorded["random"] - 0.05
    assert scores["same_service"] >= recorded["same_service"] - 0.07
