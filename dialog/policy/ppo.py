"""The learned dialogue policy (registry name ``ppo``): a MaskablePPO actor over schema-agnostic
features and moves (``features.py``, ``actions.py``), trained against the simulated user
(``tod train policy``, see ``train.py``). One policy serves every schema, including new ones.

A trained policy is a directory under ``policies/``: ``model.zip`` (stable-baselines3) and
``meta.yaml`` (config, the training schemas' hashes, metrics, curves).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from dialog.backend import Backend
from dialog.common.paths import project_root
from dialog.errors import TodError
from dialog.policy.actions import ActionSpace, Move
from dialog.policy.features import SIZE, observe
from dialog.registry import registry
from dialog.schema import Schema
from dialog.types import DialogueAct, DialogueState

FORMAT_VERSION = 1
MODEL_FILE = "model.zip"
META_FILE = "meta.yaml"


def policy_file(name_or_path: str) -> Path:
    """The model file of a policy: a ``.zip``, a directory holding ``model.zip``, or the name of a
    committed policy (``policies/<name>``)."""
    path = Path(name_or_path)
    if path.suffix == ".zip" and path.parent.is_dir():
        return path
    for directory in (path, project_root() / "policies" / name_or_path):
        if directory.is_dir():
            return directory / MODEL_FILE
    raise TodError(f"no trained policy {name_or_path!r} (a directory, a .zip, or a name under policies/)")


def load_actor(path: Path) -> Any:
    """The MaskablePPO model in ``path``; a clear error when it is missing or broken."""
    from sb3_contrib import MaskablePPO

    if not path.is_file():
        raise TodError(f"{path}: the policy file is missing (train one with `tod train policy`)")
    try:
        model = MaskablePPO.load(str(path), device="cpu")
    except Exception as exc:  # a zip that SB3 cannot read: name the file, not a traceback
        raise TodError(f"{path}: cannot load the policy: {exc}") from None
    if model.observation_space.shape != (SIZE,) or getattr(model.action_space, "n", None) != ActionSpace.n:
        raise TodError(f"{path}: the policy was trained for other features or moves (retrain it)")
    return model


class PPOPolicy:
    """Chooses a move with the trained actor (the most likely possible one) and writes its acts.
    ``load`` reads a trained policy for some schemas; the constructor takes what it needs."""

    def __init__(self, actor: Any, space: ActionSpace, meta: dict[str, Any] | None = None) -> None:
        self.actor = actor
        self.space = space
        self.meta = meta or {}

    @classmethod
    def load(
        cls, schemas: Sequence[Schema], backends: Mapping[str, Backend] | None = None, model: str = "ppo"
    ) -> PPOPolicy:
        """The policy ``model`` (a name in policies/ or a directory) acting in these schemas."""
        path = policy_file(model)
        meta_path = path.parent / META_FILE
        meta = yaml.safe_load(meta_path.read_text()) if meta_path.is_file() else {}
        return cls(load_actor(path), ActionSpace(schemas, backends), meta)

    def choose(self, observation: np.ndarray, mask: np.ndarray) -> Move:
        with torch.no_grad():
            obs = torch.as_tensor(observation[None])
            dist = self.actor.policy.get_distribution(obs, action_masks=mask[None])
            return Move(int(dist.distribution.probs.argmax(-1)[0]))

    def act(self, state: DialogueState) -> tuple[DialogueAct, ...]:
        situation = self.space.situation(state)
        mask = np.asarray(self.space.mask(situation), dtype=bool)
        return self.space.acts(situation, self.choose(observe(situation), mask))


registry.register("policy", "ppo")(PPOPolicy.load)
