"""What SimpleTOD writes as the belief of a few first-turn showcase utterances, with and without the
schema constraint: whether it uses the names of the services it is given or the SGD train names it
remembers (``services_3 findprovider`` for a clinic).

    python bench/simpletod_names.py [--model data/models/simpletod] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dialog.e2e.constrain import Vocabulary
from dialog.e2e.format import schema_text
from dialog.e2e.simpletod import SimpleTOD
from dialog.e2e.track import context, write_belief
from dialog.schema import expand_paths, load_schemas
from dialog.types import FrameState

TURNS = [  # (system, user, previous belief) as the simulated user says them
    ("What kind of doctor do you need to see?", "The specialty should be general practice.",
     {"ClinicAppointment": FrameState("FindDoctor")}),
    ("", "Can you help me transfer money? The account type should be savings, with recipient account "
     "type checking.", {}),
    ("", "I want to find restaurant, please. Make it Porto, with price range moderate.", {}),
    ("In which city?", "The doctor name doesn't matter. Make it Lisbon.",
     {"ClinicAppointment": FrameState("FindDoctor", (), {"specialty": ("pediatrics",)})}),
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="data/models/simpletod")
    parser.add_argument("--schemas", default="schemas/showcase/*.yaml")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    model = SimpleTOD.load(args.model)
    schemas = load_schemas(expand_paths([args.schemas]))
    vocab = Vocabulary(model.tokenizer, schemas)
    services = schema_text(schemas)
    length = len(model.tokens(services, 10_000))
    print(json.dumps({"services": services, "tokens": length}))
    rows = []
    for system, user, previous in TURNS:
        row = {"user": user}
        for constrain in (True, False):
            ctx = context(model, vocab, system, user, previous, (), services)
            row["constrained" if constrain else "free"] = write_belief(
                model, vocab, ctx, None, constrain
            ).text
        rows.append(row)
        print(json.dumps(row))
    if args.json:
        out = {"model": args.model, "services_tokens": length, "turns": rows}
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
