"""How often SimpleTOD writes what the schema does not allow, with and without the constrained decoding,
in simulated text-level dialogues on the showcase schemas (which it never saw in training).

    python bench/simpletod_validity.py [--n 10] [--seed 1] [--json OUT]

Counts, over every turn, the belief items (service, intent, slot names, categorical values, free-form
values not in the context) and action items (act types, slots) that the schemas do not have.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dialog.backend import open_backends
from dialog.conversation.simulation import run_dialogue
from dialog.e2e.agent import SimpleTODAgent
from dialog.e2e.simpletod import SimpleTOD
from dialog.registry import load_builtins
from dialog.schema import expand_paths, load_schemas
from dialog.user.agenda import AgendaUser
from dialog.user.goals import episodes
from dialog.user.text import UserText


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="simpletod")
    parser.add_argument("--schemas", default="schemas/showcase/*.yaml")
    parser.add_argument("--n", type=int, default=10, help="dialogues per schema and setting")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    load_builtins()
    schemas = load_schemas(expand_paths([args.schemas]))
    backends = open_backends(schemas)
    model = SimpleTOD.load(args.model)
    out = {}
    for constrain in (True, False):
        agent = SimpleTODAgent(model, schemas, backends, constrain=constrain)
        user, text = AgendaUser(schemas, backends), UserText(schemas)
        turns = belief_invalid = action_invalid = bad_turns = 0
        examples: list[str] = []
        for _, schema, goal, rng in episodes(schemas, backends, args.n, args.seed):
            with backends[schema.service].sandbox():
                transcript = run_dialogue(agent, user, goal, rng, "text", None, text)
            for record in transcript.turns:
                turns += 1
                found = [item for t in record.reply.trace for item in t.config.get("invalid", [])]
                belief_invalid += len(record.reply.trace[0].config.get("invalid", []))
                action_invalid += sum(
                    len(t.config.get("invalid", [])) for t in record.reply.trace if t.stage == "actions"
                )
                bad_turns += bool(found)
                if found and len(examples) < 10:
                    examples.append(f"{schema.service}: {'; '.join(found)[:200]}")
        key = "constrained" if constrain else "unconstrained"
        out[key] = {
            "turns": turns,
            "invalid_belief_items": belief_invalid,
            "invalid_action_items": action_invalid,
            "turns_with_invalid": bad_turns,
            "examples": examples,
        }
        print(key, json.dumps({k: v for k, v in out[key].items() if k != "examples"}))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
