from __future__ import annotations

import pytest

from dialog.errors import RegistryError
from dialog.registry import STAGES, Registry, load_builtins


def test_register_get_and_create() -> None:
    reg = Registry()

    @reg.register("nlg", "shout")
    class ShoutNLG:
        def __init__(self, suffix: str = "!") -> None:
            self.suffix = suffix

    assert reg.get("nlg", "shout") is ShoutNLG
    assert reg.create("nlg", "shout", suffix="?").suffix == "?"
    assert reg.names("nlg") == ["shout"]


def test_unknown_names_fail_loudly_and_list_what_exists() -> None:
    reg = Registry()
    reg.register("policy", "form")(object)
    reg.register("policy", "ppo")(object)
    with pytest.raises(RegistryError, match=r"unknown policy component 'dqn' \(known: form, ppo\)"):
        reg.get("policy", "dqn")
    with pytest.raises(RegistryError, match="unknown stage 'parser'"):
        reg.get("parser", "x")
    with pytest.raises(RegistryError, match="none registered yet"):
        reg.get("nlu", "bert")


def test_a_name_cannot_be_taken_twice() -> None:
    reg = Registry()
    reg.register("nlu", "rule")(int)
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("nlu", "rule")(str)


def test_builtin_registry_snapshot() -> None:
    # Grows as stages are implemented: update this snapshot together with the registrations.
    assert load_builtins().snapshot() == {
        "nlu": ["bert", "rule"],
        "dst": ["bert", "rule"],
        "policy": ["form", "ppo"],
        "nlg": ["seq2seq", "template"],
        "agent": ["form", "pipeline", "simpletod"],
        "user": ["agenda"],
    }
    assert set(STAGES) == set(load_builtins().snapshot())
