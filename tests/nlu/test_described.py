"""The described NLU: labels come from the served schema (tags named by its slots, intents by its
intents), it learns a tiny set, tags a service it never saw by its descriptions, survives a save/load,
and the training loop gives the heads their own learning rate inside a wrapper."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from dialog.nlu.described import DescribedNLU, domain, load_nlu
from dialog.nlu.described_net import DescribedConfig, collate, described_loss
from dialog.nlu.targets import Target, target_from_acts
from dialog.schema import Schema
from dialog.train.loop import TrainConfig, WithTable, train
from dialog.types import ActType, DialogueAct, DialogueState

A = ActType


def schema(service: str, description: str, slots: dict[str, str], intents: dict[str, str]) -> Schema:
    return Schema.model_validate(
        {
            "version": 1,
            "service": service,
            "description": description,
            "slots": [{"name": n, "description": d} for n, d in slots.items()],
            "intents": [
                {"name": n, "description": d, "required_slots": list(slots)} for n, d in intents.items()
            ],
        }
    )


CAFE = schema(
    "Cafe_1", "Order coffee and drinks", {"drink": "The drink to order"}, {"OrderDrink": "Order a drink"}
)
CINEMA = schema(
    "Cinema_1", "Buy tickets for films", {"film": "Title of the film"}, {"BuyTicket": "Buy a movie ticket"}
)
#: Never trained on: another name for a drink slot, another intent name.
TEAHOUSE = schema(
    "Teahouse_9",
    "Order tea and drinks",
    {"beverage": "The drink the user wants"},
    {"GetTea": "Order a drink"},
)


def tiny_set(n: int, seed: int) -> list[Target]:
    rng = random.Random(seed)
    drinks = ["espresso", "latte", "mocha", "green tea"]
    films = ["dune", "heat", "alien", "up"]
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            drink = rng.choice(drinks)
            text = rng.choice(["i want a {x}", "one {x} please", "can i get a {x}"]).format(x=drink)
            acts = [
                DialogueAct(A.INFORM_INTENT, "intent", ("OrderDrink",), "Cafe_1"),
                DialogueAct(A.INFORM, "drink", (drink,), "Cafe_1"),
            ]
            out.append(target_from_acts(text, "Cafe_1", acts, ()))
        else:
            film = rng.choice(films)
            text = rng.choice(["tickets for {x}", "i want to see {x}", "two seats for {x}"]).format(x=film)
            acts = [
                DialogueAct(A.INFORM_INTENT, "intent", ("BuyTicket",), "Cinema_1"),
                DialogueAct(A.INFORM, "film", (film,), "Cinema_1"),
            ]
            out.append(target_from_acts(text, "Cinema_1", acts, ()))
    return out


SCHEMAS = {s.service: s for s in (CAFE, CINEMA)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[DescribedNLU, Path]:
    nlu = DescribedNLU.from_config(DescribedConfig(max_length=32, negatives=1))
    features = nlu.training_features(tiny_set(96, 0), SCHEMAS, seed=0)
    nlu.fit(
        features, TrainConfig(epochs=10, batch_size=16, lr=2e-3, head_lr=5e-3, warmup=0.1), progress=False
    )
    out = tmp_path_factory.mktemp("described")
    nlu.save(out)
    return nlu, out


def test_labels_are_the_served_schemas_slots_and_intents() -> None:
    nlu = DescribedNLU.from_config(DescribedConfig(max_length=32, negatives=1))
    [target] = [t for t in tiny_set(20, 1) if t.service == "Cafe_1"][:1]
    f = nlu.featurizer.feature(target.words, target.context, CAFE, [CAFE, CINEMA], target)
    assert f["slots"] == ["drink"]
    assert f["intent_names"] == ["Cafe_1:OrderDrink", "Cinema_1:BuyTicket"]
    assert f["intent"] == 1  # 0 is "no intent"
    word_tags = [t for t in f["tags"] if t != -100]
    assert word_tags == [{"O": 0, "B-drink": 1, "I-drink": 2}[t] for t in target.tags]
    batch = collate([f, nlu.featurizer.feature(("thanks",), "", CINEMA, [CINEMA])])
    assert batch["slot_mask"].tolist() == [[True], [True]]
    assert batch["intent_mask"].tolist() == [[True, True, True], [True, True, False]]


def test_negatives_come_from_other_domains() -> None:
    assert domain("Restaurants_11") == domain("Restaurants_2") == "restaurants"
    nlu = DescribedNLU.from_config(DescribedConfig(max_length=32, negatives=2))
    twin = schema("Cafe_2", "Coffee shops", {"drink": "Drink"}, {"Order": "Order"})
    features = nlu.training_features(tiny_set(30, 2), {**SCHEMAS, "Cafe_2": twin}, seed=0)
    for f in features:
        own, *others = dict.fromkeys(name.partition(":")[0] for name in f["intent_names"])
        assert others and all(domain(o) != domain(own) for o in others)  # a same-domain twin never is


def test_learns_and_reads_a_service_it_never_saw(trained: tuple[DescribedNLU, Path]) -> None:
    nlu, _ = trained
    served = nlu.with_schemas([CAFE, CINEMA])
    [cafe, cinema] = served.predict([(("one", "latte", "please"), ""), (("tickets", "for", "heat"), "")])
    assert cafe["intent"] == "Cafe_1:OrderDrink" and cafe["tags"] == ["O", "B-drink", "O"]
    assert cinema["intent"] == "Cinema_1:BuyTicket" and cinema["tags"] == ["O", "O", "B-film"]
    # A new schema: its own slot and intent names come out, read from its descriptions.
    new = nlu.with_schemas([TEAHOUSE, CINEMA])
    [tea] = new.predict([(("one", "mocha", "please"), "")], ["Teahouse_9"])
    assert tea["intent"] == "Teahouse_9:GetTea"
    assert tea["tags"] == ["O", "B-beverage", "O"]
    acts = new.parse("one mocha please", DialogueState(active_service="Teahouse_9"))
    assert DialogueAct(A.INFORM, "beverage", ("mocha",), "Teahouse_9") in [
        DialogueAct(a.act, a.slot, a.values, a.service) for a in acts
    ]


def test_save_load_and_kind(trained: tuple[DescribedNLU, Path]) -> None:
    nlu, out = trained
    loaded = load_nlu(out)
    assert isinstance(loaded, DescribedNLU)
    items = [(("i", "want", "a", "mocha"), ""), (("two", "seats", "for", "dune"), "")]
    before = nlu.with_schemas([CAFE, CINEMA]).predict(items)
    after = loaded.with_schemas([CAFE, CINEMA]).predict(items)
    assert [(p["intent"], p["tags"]) for p in before] == [(p["intent"], p["tags"]) for p in after]


@pytest.mark.parametrize("text", ["", "   ", "ok " * 400, "我想要一杯拿铁", "'; DROP TABLE users; --"])
def test_odd_input(trained: tuple[DescribedNLU, Path], text: str) -> None:
    nlu = trained[0].with_schemas([CAFE, CINEMA])
    for state in (DialogueState(), DialogueState(active_service="Cafe_1")):
        acts = nlu.parse(text, state)
        assert all(a.service in (None, "Cafe_1", "Cinema_1") for a in acts)


def test_heads_learn_at_their_own_rate_inside_a_wrapper() -> None:
    nlu = DescribedNLU.from_config(DescribedConfig(max_length=32, negatives=1))
    features = nlu.training_features(tiny_set(8, 3), SCHEMAS, seed=0)
    model = WithTable(nlu.model, nlu.elements.tensor())
    adapters = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad and "lora" in n}
    heads = {n: p.detach().clone() for n, p in model.named_parameters() if ".heads." in n}
    train(
        model,
        features,
        collate,
        described_loss,
        TrainConfig(epochs=1, batch_size=8, lr=0.0, head_lr=1e-2, warmup=0.0),
        progress=False,
    )
    after = dict(model.named_parameters())
    assert adapters and all(torch.equal(after[n], p) for n, p in adapters.items())
    assert any(not torch.equal(after[n], p) for n, p in heads.items())


def test_schemas_without_descriptions_or_with_a_thousand_values_are_read() -> None:
    bare = Schema.model_validate(
        {
            "version": 1,
            "service": "Shop_1",
            "description": "",
            "slots": [
                {"name": "item", "description": ""},
                {
                    "name": "colour",
                    "description": "",
                    "categorical": True,
                    "values": [f"c{i}" for i in range(1000)],
                },
            ],
            "intents": [{"name": "BuyItem", "description": "", "required_slots": ["item"]}],
        }
    )
    nlu = DescribedNLU.from_config(DescribedConfig(max_length=32)).with_schemas([bare, CAFE])
    for service in ("Shop_1", None):
        [pred] = nlu.predict([(("buy", "a", "red", "lamp"), "")], [service])
        assert len(pred["tags"]) == 4
        assert pred["intent"] in ("NONE", "Shop_1:BuyItem", "Cafe_1:OrderDrink")
    acts = nlu.parse("buy a lamp and a latte", DialogueState())  # two services in one breath
    assert {a.service for a in acts} <= {"Shop_1", "Cafe_1", None}


def test_committed_model_still_reads_unseen_services_on_sgd_dev(dev_dialogues, data_dir) -> None:  # type: ignore[no-untyped-def]
    import json

    from dialog.common.paths import models_dir
    from dialog.data.sgd import read_sgd_schemas
    from dialog.data.views import nlu_examples
    from dialog.eval.nlu import score_targets
    from dialog.nlu.targets import sgd_targets

    path = models_dir() / "nlu-described"
    recorded = json.loads((path / "meta.json").read_text())["metrics"]["sgd_dev"]["unseen"]
    schemas = read_sgd_schemas(data_dir, "dev")
    seen = {s.service for s in read_sgd_schemas(data_dir, "train")}
    targets = [t for t in sgd_targets(nlu_examples(dev_dialogues[::8])) if t.service not in seen][:400]
    scores = score_targets(load_nlu(path).with_schemas(schemas), targets)
    assert scores["intent_accuracy"] >= recorded["intent_accuracy"] - 0.04
    assert scores["slot_f1"] >= recorded["slot_f1"] - 0.06
