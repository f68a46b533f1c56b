"""Which moves the form policy and the learned policy make, as shares of their turns, through the RL
environment on the showcase services (held out from training) at a given user error rate.

    python bench/policy_moves.py --error 0.2 --n 300 --seed 9
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

from dialog.backend import open_backends
from dialog.policy.actions import Move
from dialog.policy.ppo import load_actor
from dialog.policy.train import PolicyTrainSpec, actor_chooser, form_chooser, make_env, rollout
from dialog.registry import load_builtins
from dialog.schema import expand_paths, load_schemas


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policy", type=Path, default=Path("policies/ppo/model.zip"))
    parser.add_argument("--error", type=float, default=0.2)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    load_builtins()
    schemas = load_schemas(expand_paths(["schemas/showcase/*.yaml"]))
    env = make_env(PolicyTrainSpec(error_rates=[args.error]), schemas, open_backends(schemas), 0)
    for name, choose in (("form", form_chooser), ("ppo", actor_chooser(load_actor(args.policy)))):
        result = rollout(env, choose, args.n, seed=args.seed, error_rate=args.error)
        counts = collections.Counter(Move(int(a)).name for a in result["samples"][2])
        total = sum(counts.values())
        shares = ", ".join(f"{move.lower()} {n / total:.3f}" for move, n in counts.most_common())
        print(f"{name}: success {result['success']:.3f}, turns {result['turns']:.2f}; {shares}", flush=True)


if __name__ == "__main__":
    main()
