"""Every committed training config still reads with its trainer's spec (unknown keys are errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "data" / "configs").glob("*/*.yaml"))
POLICY_CONFIGS = sorted((ROOT / "policies").glob("*.yaml"))  # beside each trained policy's folder


def _reader(kind: str):  # type: ignore[no-untyped-def]
    if kind == "coherence":
        from dialog.eval.coherence import CoherenceTrainSpec
        from dialog.train.spec import read_spec

        return lambda path: read_spec(path, CoherenceTrainSpec)
    module = {
        "nlu": "nlu",
        "dst": "dst",
        "nlg": "nlg",
        "policy": "policy",
        "simpletod": "e2e",
        "user": "user",
    }[kind]
    import importlib

    return importlib.import_module(f"dialog.{module}.train").load_spec


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_config_reads(path: Path) -> None:
    spec = _reader(path.parent.name)(path)
    assert spec.seed >= 0


@pytest.mark.parametrize("path", POLICY_CONFIGS, ids=lambda p: f"policies/{p.name}")
def test_committed_policy_config_reads(path: Path) -> None:
    spec = _reader("policy")(path)
    assert spec.seeds and spec.timesteps > 0


def test_every_config_is_read() -> None:
    """No YAML config sits where the tests above do not look."""
    found = {p for p in (ROOT / "data" / "configs").rglob("*.yaml")} | {
        p for p in (ROOT / "policies").rglob("*.yaml") if p.name != "meta.yaml"
    }
    assert found == set(CONFIGS) | set(POLICY_CONFIGS)
    assert POLICY_CONFIGS, "policies/ppo.yaml is the PPO policy's training config"


def test_a_config_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    from dialog.e2e.train import load_spec
    from dialog.errors import TodError

    bad = tmp_path / "bad.yaml"
    bad.write_text("synthetic_schemas: ['schemas/showcase/*.yaml']\nsynthetic_per_dialogue: 3\n")
    with pytest.raises(TodError, match="synthetic_per_dialogue"):
        load_spec(bad)
