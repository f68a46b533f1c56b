from __future__ import annotations

from dialog.backend import open_backends
from dialog.data.views import nlu_examples
from dialog.nlu.targets import context_text, sgd_targets, target_from_acts
from dialog.nlu.train import simulated_targets
from dialog.types import ActType, DialogueAct

A = ActType


def test_a_schema_alone_gives_varied_labelled_utterances(showcase) -> None:  # type: ignore[no-untyped-def]
    schemas = list(showcase.values())
    targets = simulated_targets(schemas, open_backends(schemas), n_per_schema=40, seed=1)
    assert len(targets) >= 120
    assert len({" ".join(t.words) for t in targets}) > 60  # varied
    intents = {t.intent for t in targets}
    assert "RestaurantBooking:FindRestaurant" in intents and "BankTransfer:TransferMoney" in intents
    tagged = [t for t in targets if any(tag != "O" for tag in t.tags)]
    assert len(tagged) > 40
    for t in tagged[:20]:
        assert len(t.words) == len(t.tags)


def test_values_found_in_text_become_spans_and_others_specials() -> None:
    acts = [
        DialogueAct(A.INFORM, "cuisine", ("Italian",), "R"),
        DialogueAct(A.INFORM, "price_range", ("dontcare",), "R"),
        DialogueAct(A.REQUEST, "phone_number", (), "R"),
        DialogueAct(A.THANK_YOU, service="R"),
    ]
    target = target_from_acts("thanks, something italian, any price. phone?", "R", acts, ())
    assert target.tags[target.words.index("italian")] == "B-cuisine"
    assert target.specials == ("price_range=dontcare",)
    assert target.requested == ("phone_number",) and target.acts == ("THANK_YOU",)
    assert context_text("Restaurants_1", [DialogueAct(A.REQUEST, "city")]) == "restaurants : request city"


def test_sgd_targets_keep_the_given_spans(dev_dialogues) -> None:  # type: ignore[no-untyped-def]
    targets = list(sgd_targets(nlu_examples(dev_dialogues[:1])))
    second = targets[1]
    assert second.tags[second.words.index("San")] == "B-location"
    assert second.context.startswith("restaurants : request")
