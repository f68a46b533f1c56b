"""How much the learned policy's extra moves can give when written as hand rules on top of the form
policy (thresholds picked by hand), on the training services, through the RL environment.

    python bench/policy_rules.py --threshold 0.5 --n 600 --seed 5
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dialog.backend import open_backends
from dialog.policy.actions import Move
from dialog.policy.train import form_chooser, load_spec, make_env, rollout, training_schemas
from dialog.user.env import DialogueEnv


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, default=Path("policies/ppo.yaml"))
    parser.add_argument("--threshold", type=float, default=0.5, help="confirm a value heard below this")
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    spec = load_spec(args.config)
    schemas = training_schemas(spec)
    env = make_env(spec, schemas, open_backends(schemas), 0)

    def rules(variant: str):  # type: ignore[no-untyped-def]
        def choose(env: DialogueEnv, obs):  # type: ignore[no-untyped-def]
            s, mask, form = env.situation, env.action_masks(), form_chooser(env, obs)
            assert s is not None
            acting = (Move.OFFER, Move.NOTIFY_FAILURE, Move.CONFIRM_BOOKING, Move.REQ_MORE, Move.REQUEST_NEXT)
            unsure = mask[Move.CONFIRM_UNSURE] and s.unsure[0][0] < args.threshold
            if "confirm" in variant and unsure and form in acting:
                return int(Move.CONFIRM_UNSURE)
            asked_before = (
                form == Move.REQUEST_NEXT and bool(s.missing) and s.track.asked.get(s.missing[0], 0) >= 1
            )
            if "options" in variant and asked_before and mask[Move.REQUEST_OPTIONS]:
                return int(Move.REQUEST_OPTIONS)
            if "all" in variant and form == Move.REQUEST_NEXT and mask[Move.REQUEST_ALL]:
                return int(Move.REQUEST_ALL)
            return form

        return choose

    for variant in ("form", "confirm", "options", "confirm+options", "confirm+options+all"):
        noisy = rollout(env, rules(variant), args.n, seed=args.seed, error_rate=0.2)
        clean = rollout(env, rules(variant), args.n // 2, seed=args.seed, error_rate=0.0)
        print(
            f"{variant:20s} error 0.2: success {noisy['success']:.3f}, turns {noisy['turns']:.2f}; "
            f"error 0: success {clean['success']:.3f}, turns {clean['turns']:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
