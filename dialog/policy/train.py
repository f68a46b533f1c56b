"""`tod train policy`: behaviour cloning of the form policy, then MaskablePPO against the simulated
user, for several seeds; the best checkpoint of each seed by validation success is kept, and the best
seed becomes ``model.zip``. Validation uses the training schemas with fixed goals; held-out schemas
are for ``tod eval dialogues`` only.

The recipe is ConvLab's (supervised warm start, then PPO), with a reward for success and a cost per
turn, and user errors at several rates so that the policy learns what the form ignores: how sure the
system was of what it heard.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field

from dialog.backend import open_backends
from dialog.common import paths
from dialog.errors import TodError
from dialog.policy.actions import MOVE_NAMES, Move
from dialog.policy.ppo import FORMAT_VERSION, META_FILE, MODEL_FILE, load_actor
from dialog.registry import load_builtins
from dialog.schema import Schema, expand_paths, load_schemas
from dialog.train.spec import read_spec
from dialog.user.env import DialogueEnv, EnvConfig


class PolicyTrainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schemas: list[str] = Field(default_factory=lambda: ["schemas/sgd/*.yaml"])
    exclude: list[str] = Field(default_factory=list, description="Services held out of training.")
    error_rates: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3])
    success_reward: float = 20.0
    turn_cost: float = 1.0
    max_turns: int = 20
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    bc_dialogues: int = 3000  # form-policy dialogues for behaviour cloning (0: no warm start)
    bc_epochs: int = 10
    bc_smoothing: float = 0.2  # share of the cloning target spread over every possible move
    timesteps: int = 100_000  # PPO steps per seed
    n_steps: int = 2048
    batch_size: int = 256
    n_epochs: int = 5
    lr: float = 3e-4
    gamma: float = 0.95
    ent_coef: float = 0.01
    net_arch: list[int] = Field(default_factory=lambda: [128, 128])
    eval_every: int = 10_000
    eval_dialogues: int = 300  # per error rate in ``eval_rates``
    eval_rates: list[float] = Field(default_factory=lambda: [0.0, 0.2])
    threads: int = 1  # torch threads per seed
    workers: int = 2  # seeds trained side by side (processes, each on its own copy of the databases)


def load_spec(path: Path | None) -> PolicyTrainSpec:
    return read_spec(path, PolicyTrainSpec)


def training_schemas(spec: PolicyTrainSpec) -> list[Schema]:
    load_builtins()
    schemas = [s for s in load_schemas(expand_paths(spec.schemas)) if s.service not in set(spec.exclude)]
    if not schemas:
        raise TodError("no training schemas left (check `schemas` and `exclude` in the config)")
    return schemas


def make_env(spec: PolicyTrainSpec, schemas: Sequence[Schema], backends: Any, seed: int) -> DialogueEnv:
    config = EnvConfig(
        error_rates=tuple(spec.error_rates),
        max_turns=spec.max_turns,
        success_reward=spec.success_reward,
        turn_cost=spec.turn_cost,
    )
    return DialogueEnv(schemas, backends, config, seed=seed)


Chooser = Callable[[DialogueEnv, np.ndarray], int]


def form_chooser(env: DialogueEnv, _obs: np.ndarray) -> int:
    """The move that the form policy would make (REQ_MORE when no move writes its acts)."""
    assert env.situation is not None
    label = env.space.label(env.situation, env.space.form.act(env.state))
    return int(Move.REQ_MORE) if label is None else label


def actor_chooser(model: Any) -> Chooser:
    def choose(env: DialogueEnv, obs: np.ndarray) -> int:
        action, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=True)
        return int(action)

    return choose


def rollout(
    env: DialogueEnv,
    choose: Chooser,
    n: int,
    seed: int,
    error_rate: float | None = None,
    gamma: float = 0.95,
) -> dict[str, Any]:
    """``n`` dialogues with fixed goals (from ``seed``): success, turns, and the visited samples."""
    obs_list, masks, actions, returns, successes, turns = [], [], [], [], [], []
    rng = random.Random(seed)
    for _ in range(n):
        options = {} if error_rate is None else {"error_rate": error_rate}
        obs, _ = env.reset(seed=rng.randrange(2**31), options=options)
        rewards: list[float] = []
        done = False
        info: dict[str, Any] = {}
        while not done:
            mask = env.action_masks()
            action = choose(env, obs)
            obs_list.append(obs)
            masks.append(mask)
            actions.append(action)
            obs, reward, terminated, truncated, info = env.step(action)
            rewards.append(float(reward))
            done = terminated or truncated
        g, back = 0.0, []
        for r in reversed(rewards):
            g = r + gamma * g
            back.append(g)
        returns += back[::-1]
        successes.append(bool(info.get("success")))
        turns.append(int(info.get("turns", len(rewards))))
    return {
        "success": float(np.mean(successes)) if successes else 0.0,
        "turns": float(np.mean(turns)) if turns else 0.0,
        "samples": (np.asarray(obs_list), np.asarray(masks), np.asarray(actions), np.asarray(returns)),
    }


def behaviour_clone(
    model: Any, samples: tuple[np.ndarray, ...], epochs: int, seed: int, smoothing: float = 0.0
) -> list[float]:
    """Supervised warm start: the actor learns the form's moves, the critic the returns.

    With ``smoothing``, that share of the target goes evenly to every possible move, so that moves
    the form never makes keep some probability and PPO explores them."""
    obs, masks, actions, returns = (torch.as_tensor(x) for x in samples)
    policy = model.policy
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(actions), generator=generator)
        total = 0.0
        for start in range(0, len(order), 256):
            idx = order[start : start + 256]
            values, log_prob, _ = policy.evaluate_actions(
                obs[idx].float(), actions[idx], action_masks=masks[idx]
            )
            loss = -(1 - smoothing) * log_prob.mean()
            if smoothing:
                logits = policy.get_distribution(
                    obs[idx].float(), action_masks=masks[idx]
                ).distribution.logits
                allowed = masks[idx].float()
                spread = (logits.log_softmax(-1).masked_fill(~masks[idx], 0.0) * allowed).sum(
                    -1
                ) / allowed.sum(-1)
                loss = loss - smoothing * spread.mean()
            loss = loss + 0.01 * ((values.flatten() - returns[idx].float()) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        losses.append(total / len(order))
    return losses


def validate(env: DialogueEnv, choose: Chooser, spec: PolicyTrainSpec) -> dict[str, float]:
    """Success and turns at each validation error rate, on fixed goals of the training schemas."""
    out: dict[str, float] = {}
    for rate in spec.eval_rates:
        result = rollout(env, choose, spec.eval_dialogues, seed=12345, error_rate=rate)
        out[f"success@{rate:g}"] = result["success"]
        out[f"turns@{rate:g}"] = result["turns"]
    # Success first; among equal successes, fewer turns.
    success = np.mean([out[f"success@{r:g}"] for r in spec.eval_rates])
    out["score"] = float(success - 0.001 * np.mean([out[f"turns@{r:g}"] for r in spec.eval_rates]))
    return out


def train_seed(
    spec: PolicyTrainSpec,
    schemas: Sequence[Schema],
    backends: Any,
    seed: int,
    out: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import BaseCallback

    start = time.perf_counter()
    env = make_env(spec, schemas, backends, seed)
    eval_env = make_env(spec, schemas, backends, seed + 1000)
    model = MaskablePPO(
        "MlpPolicy",
        env,
        learning_rate=spec.lr,
        n_steps=spec.n_steps,
        batch_size=spec.batch_size,
        n_epochs=spec.n_epochs,
        gamma=spec.gamma,
        ent_coef=spec.ent_coef,
        policy_kwargs={"net_arch": list(spec.net_arch)},
        seed=seed,
        device="cpu",
    )
    curve: list[dict[str, float]] = []
    path = out / f"seed{seed}.zip"
    best: dict[str, Any] = {"score": -1.0}

    def record(steps: int) -> None:
        scores = validate(eval_env, actor_chooser(model), spec)
        scores = {"steps": steps, "minutes": round((time.perf_counter() - start) / 60, 2), **scores}
        curve.append(scores)
        log(f"seed {seed} step {steps}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items() if "@" in k))
        if scores["score"] > best["score"]:
            best.clear()
            best.update(scores)
            model.save(str(path))

    form = validate(eval_env, form_chooser, spec)
    log(f"form policy on validation: {form}")
    bc_losses: list[float] = []
    if spec.bc_dialogues:
        data = rollout(env, form_chooser, spec.bc_dialogues, seed=seed, gamma=spec.gamma)
        bc_losses = behaviour_clone(model, data["samples"], spec.bc_epochs, seed, spec.bc_smoothing)
        log(f"seed {seed}: behaviour cloning on {len(data['samples'][2])} turns, loss {bc_losses[-1]:.3f}")
    record(0)

    class Every(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next = spec.eval_every

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next:
                self.next += spec.eval_every
                record(self.num_timesteps)
            return True

    if spec.timesteps:
        model.learn(total_timesteps=spec.timesteps, callback=Every())
    return {
        "seed": seed,
        "best": best,
        "curve": curve,
        "form": form,
        "bc_losses": bc_losses,
        "minutes": round((time.perf_counter() - start) / 60, 2),
        "file": path.name,
    }


def _train_seed_alone(
    spec: PolicyTrainSpec, seed: int, out: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """One seed in this process, on a private copy of the service databases (a dialogue's sandbox
    holds a write transaction, which another process would wait on)."""
    import shutil
    import tempfile

    if spec.threads:
        torch.set_num_threads(spec.threads)
    schemas = training_schemas(spec)
    with tempfile.TemporaryDirectory() as tmp:
        source = paths.db_dir() / "sgd"
        copy = Path(tmp) / "sgd"
        if source.is_dir():
            shutil.copytree(source, copy)
        return train_seed(spec, schemas, open_backends(schemas, copy), seed, out, log)


def _print(message: str) -> None:
    print(message, flush=True)


def train_policy(
    spec: PolicyTrainSpec, out: Path, log: Callable[[str], None] | None = print
) -> dict[str, Any]:
    """Train every seed (``log``: progress lines, None for none; seeds trained in other processes
    print theirs)."""
    out.mkdir(parents=True, exist_ok=True)
    schemas = training_schemas(spec)
    start = time.perf_counter()
    if spec.workers > 1 and len(spec.seeds) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(spec.workers, len(spec.seeds)), mp_context=context) as pool:
            say = _print if log is not None else _silent
            jobs = [pool.submit(_train_seed_alone, spec, s, out, say) for s in spec.seeds]
            runs = [job.result() for job in jobs]
    else:
        runs = [_train_seed_alone(spec, seed, out, log or _silent) for seed in spec.seeds]
    best = max(runs, key=lambda r: r["best"]["score"])
    (out / MODEL_FILE).write_bytes((out / best["file"]).read_bytes())
    load_actor(out / MODEL_FILE)  # what was written loads
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "policy-ppo",
        "date": time.strftime("%Y-%m-%d"),
        "moves": MOVE_NAMES,
        "spec": spec.model_dump(),
        "schemas": {s.service: s.digest() for s in schemas},
        "best_seed": best["seed"],
        "minutes": round((time.perf_counter() - start) / 60, 2),
        "seeds": runs,
    }
    (out / META_FILE).write_text(yaml.safe_dump(meta, sort_keys=False))
    plot_curves(runs, out / "curves.png")
    return meta


def _silent(_message: str) -> None:
    pass


def plot_curves(runs: Sequence[dict[str, Any]], path: Path) -> None:
    """Validation success against PPO steps, per seed and error rate, with the form's as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = sorted({k.split("@")[1] for r in runs for k in r["best"] if k.startswith("success@")})
    panels = [(f"success@{r}", f"success, user error {r}") for r in rates]
    panels += [(f"turns@{r}", f"turns, user error {r}") for r in rates[:1]]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels, strict=True):
        for run in runs:
            steps = [c["steps"] / 1000 for c in run["curve"]]
            ax.plot(steps, [c[key] for c in run["curve"]], marker=".", label=f"PPO seed {run['seed']}")
        ax.axhline(runs[0]["form"][key], color="grey", linestyle="--", label="form policy")
        ax.set_title(f"validation {title}")
        ax.set_xlabel("thousand PPO steps (after behaviour cloning)")
        ax.set_ylabel(key.split("@")[0])
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
