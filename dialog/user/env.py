"""A gymnasium environment around a simulated dialogue with the agenda user, for learning policies.

``reset`` samples a schema and a goal; the user opens; what reaches the system passes through the
error model (at a rate drawn per dialogue from ``error_rates``) and the rule tracker and the backend
lookup run (``SimulatedDialogue.hear``); the move a step takes is the system's turn
(``SimulatedDialogue.answer``), so a dialogue ends, is capped and is recorded as in evaluation. The
observation is the schema-agnostic feature vector of ``dialog.policy.features``; a step takes one
move of ``dialog.policy.actions`` (``action_masks`` says which are possible, for
``sb3_contrib.MaskablePPO``). Reward: ``turn_cost`` off every turn, ``success_reward`` when the
dialogue ends in success (the evaluator's definition). Each dialogue runs in a backend sandbox.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from dialog.backend import Backend
from dialog.conversation.agent import PipelineAgent
from dialog.conversation.session import Session
from dialog.conversation.simulation import MAX_TURNS, SimulatedDialogue, Transcript
from dialog.eval.metrics import score_dialogue
from dialog.policy.actions import ActionSpace, Move, Situation
from dialog.policy.features import SIZE, observe
from dialog.schema import Schema
from dialog.types import DialogueState
from dialog.user.agenda import AgendaUser
from dialog.user.errors import ErrorModel
from dialog.user.goals import goal_samplers


@dataclass(frozen=True)
class EnvConfig:
    error_rates: tuple[float, ...] = (0.0,)  # one drawn per dialogue
    max_turns: int = MAX_TURNS
    success_reward: float = 20.0
    turn_cost: float = 1.0
    schema_weights: Mapping[str, float] = field(default_factory=dict)  # default 1 each


class DialogueEnv(gym.Env[np.ndarray, int]):
    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium declares it so)

    def __init__(
        self,
        schemas: Sequence[Schema],
        backends: Mapping[str, Backend],
        config: EnvConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.config = config or EnvConfig()
        self.space = ActionSpace(schemas, backends)
        self.agent = PipelineAgent.from_names(
            schemas, backends, nlu="rule", dst="rule", policy="form", nlg="template"
        )
        self.user = AgendaUser(schemas, backends)
        self.errors = {
            rate: ErrorModel(rate, schemas, backends, seed) for rate in self.config.error_rates if rate > 0
        }
        self.samplers = goal_samplers(list(schemas), backends)
        self.schemas = list(schemas)
        self.weights = [self.config.schema_weights.get(s.service, 1.0) for s in self.schemas]
        self.backends = backends
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(SIZE,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(ActionSpace.n)  # type: ignore[assignment]
        self.rng = random.Random(seed)
        self._open = contextlib.ExitStack()  # the current dialogue's session
        self.dialogue: SimulatedDialogue | None = None
        self.state = DialogueState()
        self.situation: Situation | None = None

    # --- gymnasium --------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.rng = random.Random(seed)
        self.close()
        options = options or {}
        schema = options.get("schema") or self.rng.choices(self.schemas, self.weights)[0]
        rate = options.get("error_rate", self.rng.choice(self.config.error_rates))
        error_model = self.errors.get(rate) if rate > 0 else None
        if rate > 0 and error_model is None:
            error_model = self.errors[rate] = ErrorModel(rate, self.schemas, self.backends)
        goal = options.get("goal") or self.samplers[schema.service].sample(self.rng)
        session = self._open.enter_context(Session(self.agent, [self.backends[schema.service]]))
        self.dialogue = SimulatedDialogue(
            session, self.user, goal, self.rng, errors=error_model, max_turns=self.config.max_turns
        )
        self._heard(self.dialogue.hear())
        return self._observation(), {"schema": schema.service, "error_rate": rate}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        assert self.dialogue is not None and self.situation is not None, "call reset first"
        self.dialogue.answer(self.space.acts(self.situation, Move(int(action))))
        reward = -self.config.turn_cost
        if not self.dialogue.done:
            self._heard(self.dialogue.hear())
            return self._observation(), reward, False, False, {}
        score = score_dialogue(self.dialogue.transcript)
        reward += self.config.success_reward * score.success
        info = {"success": score.success, "turns": score.turns, "score": score}
        truncated = self.dialogue.capped
        self.close()
        return self._observation(), reward, not truncated, truncated, info

    def action_masks(self) -> np.ndarray:
        assert self.situation is not None, "call reset first"
        return np.asarray(self.space.mask(self.situation), dtype=bool)

    def close(self) -> None:
        """Ends the dialogue's session: what it booked is rolled back."""
        self._open.close()

    @property
    def transcript(self) -> Transcript | None:
        return self.dialogue.transcript if self.dialogue is not None else None

    # --- inside -----------------------------------------------------------------------------

    def _heard(self, state: DialogueState) -> None:
        """The state the policy acts on: the user's turn tracked and looked up."""
        self.state = state
        self.situation = self.space.situation(state)

    def _observation(self) -> np.ndarray:
        assert self.situation is not None
        return observe(self.situation, self.config.max_turns)
