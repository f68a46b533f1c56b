from __future__ import annotations

import random

from dialog.types import ActType, DialogueAct
from dialog.user.corpus import fill, mine_templates, signature
from dialog.user.text import UserText

A = ActType


def test_mined_templates_put_values_back(dev_dialogues, showcase) -> None:  # type: ignore[no-untyped-def]
    corpus = mine_templates(dev_dialogues[:300])
    key = signature([DialogueAct(A.INFORM, "city", ("x",))])
    assert key == ("INFORM(city)",) and corpus.get(key)
    assert all("{city}" in t for t in corpus[key])
    text = UserText(list(showcase.values()), corpus)
    said = text.realise([DialogueAct(A.INFORM, "city", ("Porto",), "RestaurantBooking")], random.Random(0))
    assert "Porto" in said and "{" not in said
    # Acts with no mined template fall back to tod's own templates.
    odd = [DialogueAct(A.INFORM, "cuisine", ("thai",), "RestaurantBooking"), DialogueAct(A.SELECT)]
    assert "thai" in text.realise(odd, random.Random(0))


def test_signature_and_fill() -> None:
    acts = [
        DialogueAct(A.REQUEST, "phone_number"),
        DialogueAct(A.INFORM, "price_range", ("dontcare",)),
        DialogueAct(A.AFFIRM),
    ]
    assert signature(acts) == ("AFFIRM", "INFORM(price_range=dontcare)", "REQUEST(phone_number)")
    assert fill("in {city} at {time}", {"city": "Rome", "time": "7"}) == "in Rome at 7"
    assert fill("in {city}", {}) is None
