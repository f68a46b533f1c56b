"""A gymnasium environment around the dialogue runner and the agenda user, for learning policies.

``reset`` samples a schema and a goal; the user opens; what reaches the system passes through the
error model (at a rate drawn per dialogue from ``error_rates``) and the rule tracker and the backend
lookup run. The observation is the schema-agnostic feature vector of ``dialog.policy.features``;
a step takes one move of ``dialog.policy.actions`` (``action_masks`` says which are possible, for
``sb3_contrib.MaskablePPO``). Reward: ``turn_cost`` off every turn, ``success_reward`` when the dialogue
ends in success (the evaluator's definition). Each dialogue runs in a backend sandbox.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from dialog.agent import PipelineAgent
from dialog.backend import Backend
from dialog.eval.metrics import score_dialogue
from dialog.eval.runner import MAX_TURNS, Transcript, TurnRecord
from dialog.policy.actions import ActionSpace, Move, Situation
from dialog.policy.features import SIZE, observe
from dialog.schema import Schema
from dialog.types import ActType, DialogueAct, DialogueState
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
        self._sandbox = contextlib.ExitStack()
        self.transcript: Transcript | None = None
        self.situation: Situation | None = None

    # --- gymnasium --------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.rng = random.Random(seed)
        self._sandbox.close()
        options = options or {}
        schema = options.get("schema") or self.rng.choices(self.schemas, self.weights)[0]
        rate = options.get("error_rate", self.rng.choice(self.config.error_rates))
        self.error_model = self.errors.get(rate) if rate > 0 else None
        if rate > 0 and self.error_model is None:
            self.error_model = self.errors[rate] = ErrorModel(rate, self.schemas, self.backends)
        goal = options.get("goal") or self.samplers[schema.service].sample(self.rng)
        self._sandbox = contextlib.ExitStack()
        self._sandbox.enter_context(self.backends[schema.service].sandbox())
        self.transcript = Transcript(goal)
        self.user_state, acts = self.user.start(goal, self.rng)
        self._hear(acts, DialogueState())
        return self._observation(), {"schema": schema.service, "error_rate": rate}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        assert self.transcript is not None and self.situation is not None, "call reset first"
        acts = self.space.acts(self.situation, Move(int(action)))
        reply = self.agent.conclude(self.state, self.result, acts, self.trace, None, speak=False)
        belief = self.user.belief(self.user_state)
        self.user_state, user_acts = self.user.reply(self.user_state, reply.acts, self.rng)
        satisfaction = self.user.satisfaction(self.user_state)
        self.transcript.turns.append(
            TurnRecord(self.user_acts, self.heard, "", reply, 0.0, belief, satisfaction)
        )
        reward = -self.config.turn_cost
        ended = any(a.act is ActType.GOODBYE for a in reply.acts) or (self.user_state.done and not user_acts)
        truncated = not ended and len(self.transcript.turns) >= self.config.max_turns
        info: dict[str, Any] = {}
        if ended or truncated:
            self.transcript.end_reason = self.user_state.end_reason or ("turn cap" if truncated else "")
            if truncated:
                self.user_state.abandoned = self.user_state.abandoned or self.user_state.current is not None
            self.transcript.user = self.user_state
            score = score_dialogue(self.transcript)
            reward += self.config.success_reward * score.success
            info = {"success": score.success, "turns": score.turns, "score": score}
            self._sandbox.close()
            return self._observation(), reward, ended, truncated, info
        self._hear(user_acts, reply.state)
        return self._observation(), reward, False, False, info

    def action_masks(self) -> np.ndarray:
        assert self.situation is not None, "call reset first"
        return np.asarray(self.space.mask(self.situation), dtype=bool)

    def close(self) -> None:
        self._sandbox.close()

    # --- inside -----------------------------------------------------------------------------

    def _hear(self, acts: tuple[DialogueAct, ...], state: DialogueState) -> None:
        self.user_acts = acts
        self.heard = self.error_model.corrupt(acts, self.rng) if self.error_model is not None else acts
        self.trace: list[Any] = []
        self.state, self.result = self.agent.perceive("", self.heard, state, self.trace)
        self.situation = self.space.situation(self.state)

    def _observation(self) -> np.ndarray:
        assert self.situation is not None
        return observe(self.situation, self.config.max_turns)
