"""The learned user: what it reads, which turns it trains on, and that every value it must say is
said (by the model or, when the model cannot, by the templates)."""

from __future__ import annotations

import random

import pytest

from dialog.nlg.seq2seq import Seq2SeqNLG
from dialog.types import ActType, DialogueAct, GenerationSettings
from dialog.user.learned import LearnedUserText, UserPair, render, source, training_pairs

A = ActType
R = "RestaurantBooking"


def test_it_reads_the_acts_as_words_with_the_intents_description(showcase) -> None:  # type: ignore[no-untyped-def]
    acts = (
        DialogueAct(A.INFORM_INTENT, "intent", ("FindRestaurant",), R),
        DialogueAct(A.INFORM, "city", ("Porto",), R),
        DialogueAct(A.INFORM, "price_range", ("dontcare",), R),
        DialogueAct(A.REQUEST, "phone_number", (), R),
    )
    text, values = render(acts, showcase)
    assert text == (
        "find restaurant (Search for a restaurant in a city that serves a kind of food) ; city [city] ; "
        "any price range ; ask phone number"
    )
    assert values == {"city": "Porto"}  # the value is copied in after decoding, never read
    assert source("Where to?", text).startswith("system: Where to? user: find restaurant")
    assert render((DialogueAct(A.AFFIRM),), showcase)[0] == "affirm"


def test_training_keeps_the_turns_that_say_their_values(showcase) -> None:  # type: ignore[no-untyped-def]
    city = (DialogueAct(A.INFORM, "city", ("Porto",), R),)
    said = UserPair("1", R, city, "Which city?", "Somewhere in Porto please")
    unsaid = UserPair("2", R, city, "Which city?", "The usual place")
    pairs, skipped = training_pairs([said, unsaid], showcase)
    assert pairs == [("system: Which city? user: city [city]", "Somewhere in [city] please")] and skipped == 1


@pytest.fixture(scope="module")
def generator() -> Seq2SeqNLG:
    # The committed NLG stands in for a user model: same network, same decoding path.
    return Seq2SeqNLG.load("nlg-seq2seq")


def test_every_value_is_said_once(showcase, generator) -> None:  # type: ignore[no-untyped-def]
    user = LearnedUserText(list(showcase.values()), generator, GenerationSettings())
    acts = (
        DialogueAct(A.INFORM, "city", ("Porto",), R),
        DialogueAct(A.INFORM, "cuisine", ("italian",), R),
    )
    rng = random.Random(0)
    for system in ("Which city and what food?", "", "How can I help?"):
        text = user.realise(acts, rng, system)
        assert "Porto" in text and "italian" in text.lower(), text
    assert user.said == 3 and 0 <= user.fallbacks <= 3
    assert user.realise((), rng) == ""  # nothing to say


def test_cli_scores_the_template_user_against_real_turns(tmp_path, data_dir) -> None:  # type: ignore[no-untyped-def]
    import json
    import subprocess
    import sys

    out = tmp_path / "user.json"
    result = subprocess.run(
        [sys.executable, "-m", "dialog.cli", "eval", "user", "--model", "templates", "--n", "60",
         "--data-dir", str(data_dir), "--json", str(out), "--quiet"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    m = json.loads(out.read_text())
    assert m["n"] == 60 and m["value_error_rate"] == 0.0 and 0.5 <= m["discriminator_auc"] <= 1.0
    assert 0 < m["distinct_2"] <= 1 and m["samples"][0]["real"]


def test_evaluations_during_training_decode_afresh(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The generator remembers its greedy decodings; each evaluation while training must not read
    the replies of weights that have moved since (every evaluation once scored the first weights)."""
    from dialog.nlg.train import NLGTrainSpec, fit, start

    generator = start(NLGTrainSpec(resume="nlg-seq2seq"))
    sources = ["system: Which city? user: city [city]"] * 4
    seen: list[int] = []

    def evaluate() -> dict[str, float]:
        seen.append(len(generator.memo))
        generator.decode(sources[:1], GenerationSettings())
        return {"score": 0.0}

    spec = NLGTrainSpec(epochs=2, batch_size=2, eval_every=1, lr=1e-4)
    fit(generator, [(s, "In [city] please") for s in sources], evaluate, spec, tmp_path, progress=False)
    assert len(seen) >= 2 and set(seen) == {0}


def test_the_committed_user_model_still_talks_like_people(data_dir) -> None:  # type: ignore[no-untyped-def]
    """On SGD dev user turns: closer to the real words than the templates, and it says its values."""
    from dialog.data.sgd import read_sgd_schemas
    from dialog.user.text import UserText
    from dialog.user.train import dev_pairs, score_user

    schemas = read_sgd_schemas(data_dir, "train") + read_sgd_schemas(data_dir, "dev")
    pairs = dev_pairs(data_dir, "dev", 60, 3)
    learned = score_user(LearnedUserText(schemas, settings=GenerationSettings()), pairs)
    templates = score_user(UserText(schemas), pairs)
    assert learned["value_error_rate"] <= 0.1
    assert learned["bleu"] > templates["bleu"]
