"""The joint BERT NLU: learns a tiny set, survives a save/load, reads odd input, and the committed
models still load and score on a slice of their test data."""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import pytest

from dialog.common.paths import models_dir
from dialog.nlu.bert import BertNLU, _spans
from dialog.nlu.targets import Target, target_from_acts
from dialog.train.loop import TrainConfig
from dialog.types import ActType, DialogueAct, DialogueState

A = ActType
S = "Cafe"


def tiny_set(n: int, seed: int) -> list[Target]:
    rng = random.Random(seed)
    drinks = ["espresso", "latte", "mocha", "flat white", "green tea"]
    out = []
    for _ in range(n):
        drink = rng.choice(drinks)
        if rng.random() < 0.5:
            text = rng.choice(["i want a {d}", "one {d} please", "can i get a {d}"]).format(d=drink)
            acts = [
                DialogueAct(A.INFORM_INTENT, "intent", ("Order",), S),
                DialogueAct(A.INFORM, "drink", (drink,), S),
            ]
        else:
            text = rng.choice(["thanks a lot", "thank you", "cheers thanks"])
            acts = [DialogueAct(A.THANK_YOU, service=S)]
        out.append(target_from_acts(text, S, acts, ()))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[BertNLU, Path]:
    train = tiny_set(64, 0)
    config = BertNLU.labels_for(train, max_length=32)
    nlu = BertNLU.from_config(config)
    nlu.fit(train, TrainConfig(epochs=12, batch_size=16, lr=2e-3, head_lr=5e-3, warmup=0.1), progress=False)
    out = tmp_path_factory.mktemp("nlu")
    nlu.save(out)
    return nlu, out


def test_it_learns_a_tiny_set(trained: tuple[BertNLU, Path]) -> None:
    from dialog.eval.nlu import score_targets

    nlu, _ = trained
    scores = score_targets(nlu, tiny_set(40, 1))
    assert scores["intent_accuracy"] == 1.0
    assert scores["slot_f1"] >= 0.9
    assert scores["sentence_accuracy"] >= 0.9


def test_save_load_and_parse(trained: tuple[BertNLU, Path]) -> None:
    _, path = trained
    assert json.loads((path / "meta.json").read_text())["kind"] == "nlu-bert"
    assert (path / "weights.safetensors").stat().st_size < 5_000_000  # adapters and heads only
    loaded = BertNLU.load(path, quantized=False)
    acts = loaded.parse("one latte please", DialogueState())
    assert DialogueAct(A.INFORM_INTENT, "intent", ("Order",), S) in acts
    assert DialogueAct(A.INFORM, "drink", ("latte",), S) in acts
    quantized = BertNLU.load(path, quantized=True)
    assert DialogueAct(A.THANK_YOU, service=S) in quantized.parse("thank you", DialogueState())


@pytest.mark.parametrize(
    "text", ["", "   ", "🙂🙂🙂", "東京で寿司を", "<b>hi</b><script>x</script>", "'; DROP TABLE x; --", "{0}{drink}", "a " * 2500]
)  # fmt: skip
def test_odd_input_gives_a_parse(trained: tuple[BertNLU, Path], text: str) -> None:
    nlu, _ = trained
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acts = nlu.parse(text, DialogueState())
    assert isinstance(acts, tuple)


def test_long_input_is_cut_with_a_warning(trained: tuple[BertNLU, Path]) -> None:
    nlu, _ = trained
    with pytest.warns(UserWarning, match="cut to 32 tokens"):
        nlu.parse("i want a latte " * 100, DialogueState())


def test_missing_or_damaged_model_is_a_clear_error(tmp_path: Path, trained: tuple[BertNLU, Path]) -> None:
    from dialog.errors import TodError

    with pytest.raises(TodError, match="NLU model file missing"):
        BertNLU.load(tmp_path)
    _, path = trained
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "meta.json").write_text((path / "meta.json").read_text())
    (broken / "weights.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(TodError, match="NLU model damaged"):
        BertNLU.load(broken)


def test_intent_slot_table_restricts_the_tags(trained: tuple[BertNLU, Path]) -> None:
    import dataclasses

    from dialog.nlu.bert import intent_slot_table

    _, path = trained
    table = intent_slot_table(tiny_set(64, 0))
    assert table == {f"{S}:Order": ["drink"]}  # "NONE" (thank-you turns) is not restricted
    free = BertNLU.load(path)
    assert free.predict([(["one", "latte", "please"], "")])[0]["tags"][1] == "B-drink"
    # An intent whose table has no slot: the tagger may not tag anything, however sure it is.
    config = dataclasses.replace(free.config, intent_slots={f"{S}:Order": []})
    restricted = BertNLU(free.model, config)
    [pred] = restricted.predict([(["one", "latte", "please"], "")])
    assert pred["intent"] == f"{S}:Order"
    assert pred["tags"] == ["O", "O", "O"]


def test_an_ensemble_of_copies_predicts_what_one_member_does(
    tmp_path: Path, trained: tuple[BertNLU, Path]
) -> None:
    import shutil

    from dialog.errors import TodError
    from dialog.nlu.joint import JointEnsemble

    _, path = trained
    for name in ("a", "b"):
        shutil.copytree(path, tmp_path / name)
    meta = json.loads((path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "members": ["a", "b"]}))
    single, ensemble = BertNLU.load(path), BertNLU.load(tmp_path)
    assert isinstance(ensemble.model, JointEnsemble)
    items = [(t.words, t.context) for t in tiny_set(20, 3)]
    assert [p["tags"] for p in ensemble.predict(items)] == [p["tags"] for p in single.predict(items)]
    assert [p["intent"] for p in ensemble.predict(items)] == [p["intent"] for p in single.predict(items)]
    with pytest.raises(TodError, match="saved as its members"):
        ensemble.save(tmp_path / "again")
    other = json.loads((tmp_path / "b" / "meta.json").read_text())
    other["config"]["intents"] = other["config"]["intents"][::-1]  # same sizes, other meanings
    (tmp_path / "b" / "meta.json").write_text(json.dumps(other))
    with pytest.raises(TodError, match="member b has other labels"):
        BertNLU.load(tmp_path)


def test_bfloat16_encoder_reads_the_same(trained: tuple[BertNLU, Path]) -> None:
    import torch

    _, path = trained
    half = BertNLU.load(path, bf16=True)
    assert next(half.model.encoder.parameters()).dtype == torch.bfloat16
    items = [(t.words, t.context) for t in tiny_set(20, 4)]
    full = BertNLU.load(path, bf16=False)
    assert [p["tags"] for p in half.predict(items)] == [p["tags"] for p in full.predict(items)]


def test_spans_from_tags() -> None:
    tokens = [("in", 0, 2), ("San", 3, 6), ("Jose", 7, 11), ("at", 12, 14), ("7", 15, 16), ("pm", 17, 19)]
    tags = ["O", "B-city", "I-city", "O", "I-time", "I-time"]
    assert _spans(tags, tokens) == [("city", 3, 11), ("time", 15, 19)]


@pytest.mark.parametrize(
    ("name", "data", "key"),
    [("nlu-bert-snips", "snips", "snips_test"), ("nlu-bert-atis", "atis", "atis_test")],
)
def test_committed_benchmark_models_still_score(data_dir: Path, name: str, data: str, key: str) -> None:
    from dialog.data.nlu_bench import load_benchmark
    from dialog.eval.nlu import score_targets
    from dialog.nlu.targets import benchmark_targets

    path = models_dir() / name
    meta = json.loads((path / "meta.json").read_text())
    nlu = BertNLU.load(path)
    targets = list(benchmark_targets(load_benchmark(data, data_dir, "test")))[:300]
    scores = score_targets(nlu, targets)
    recorded = meta["metrics"][key]
    # A slice is noisier than the whole test set: allow a few points.
    assert scores["intent_accuracy"] >= recorded["intent_accuracy"] - 0.03
    assert scores["slot_f1"] >= recorded["slot_f1"] - 0.04


def test_committed_default_model_still_scores_on_sgd_dev(dev_dialogues) -> None:  # type: ignore[no-untyped-def]
    from dialog.data.views import nlu_examples
    from dialog.eval.nlu import score_targets
    from dialog.nlu.targets import sgd_targets

    path = models_dir() / "nlu-bert"
    recorded = json.loads((path / "meta.json").read_text())["metrics"]["sgd_dev_int8"]["seen"]
    seen = {
        "Buses_1",
        "Events_1",
        "Homes_1",
        "Hotels_1",
        "Music_1",
        "RentalCars_1",
        "RideSharing_1",
        "Travel_1",
        "Weather_1",
    }
    targets = [t for t in sgd_targets(nlu_examples(dev_dialogues[::8])) if t.service in seen][:400]
    scores = score_targets(BertNLU.load(path), targets)
    assert scores["intent_accuracy"] >= recorded["intent_accuracy"] - 0.04
    assert scores["slot_f1"] >= recorded["slot_f1"] - 0.05


def test_pipeline_agent_reads_the_showcase(showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.backend import open_backends
    from dialog.conversation.agent import create_agent

    schemas = list(showcase.values())
    agent = create_agent("pipeline", schemas, open_backends(schemas))
    reply = agent.respond("I'd like to find an italian restaurant in Porto", DialogueState())
    assert "Il Forno" in reply.text
    assert reply.trace[0].name == "bert"


def test_resume_continues_from_the_saved_model(trained: tuple[BertNLU, Path]) -> None:
    _, path = trained
    resumed = BertNLU.resume(path)
    loaded = BertNLU.load(path)
    items = [(("one", "mocha", "please"), ""), (("thank", "you"), "")]
    resumed.model.eval()
    assert resumed.predict(items) == loaded.predict(items)
    assert any(p.requires_grad for p in resumed.model.encoder.parameters())  # adapters are trainable again


def test_slot_values_carry_the_taggers_confidence(showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.backend import open_backends
    from dialog.registry import registry

    schemas = list(showcase.values())
    nlu = registry.create("nlu", "bert", schemas=schemas, backends=open_backends(schemas))
    acts = nlu.parse("I want an italian restaurant in Porto", DialogueState())
    informs = {a.slot: a.confidence for a in acts if a.act is ActType.INFORM}
    assert set(informs) >= {"cuisine", "city"}
    assert all(0.5 < c <= 1.0 for c in informs.values())  # clear words: sure
    unsure = nlu.parse("maybe qwzx blorp in the place", DialogueState())
    assert all(0.0 < a.confidence <= 1.0 for a in unsure)


def test_a_first_request_is_routed_by_the_served_schemas(showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.nlu.rule import RuleNLU

    nlu = BertNLU.load("nlu-bert")
    served = nlu.with_schemas(list(showcase.values()), fallback=RuleNLU(list(showcase.values())))
    route = served._routed("send 100 euros to Bob Smith from savings")
    assert route is not None and (route.service, route.intent) == ("BankTransfer", "TransferMoney")
    assert served._routed("thanks, bye") is None  # not a request
    assert nlu.with_schemas(list(showcase.values()), route=False)._routed("send 100 euros to Bob") is None
    acts = served.parse("I need to see a dentist in Porto", DialogueState())
    told = {(a.act, a.slot): a.values for a in acts}
    assert told[(ActType.INFORM_INTENT, "intent")] == ("FindDoctor",)
    assert told.get((ActType.INFORM, "specialty")) == ("dentistry",)  # the schema's synonym, by the rules
