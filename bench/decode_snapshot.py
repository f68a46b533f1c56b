"""What the generators write, as one JSON file, to compare two commits word for word (a change to
decoding should leave it identical): the Transformer NLG's guarded replies to N sampled SGD dev act
sets, 4-beam and sampled decodings of 20 of them; SimpleTOD's beliefs on 10 sampled dev dialogues
(greedy and 3 beams) and the ``simpletod`` agent's replies in one conversation (greedy, 3 beams,
sampled).

    python bench/decode_snapshot.py --data-dir ../shared/data --out /tmp/after.json
    git stash; python bench/decode_snapshot.py --data-dir ../shared/data --out /tmp/before.json; git stash pop
    cmp /tmp/before.json /tmp/after.json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from dialog.app.assistant import Assistant
from dialog.data.sgd import load_dialogues, read_sgd_schemas
from dialog.data.views import nlg_pairs
from dialog.e2e.simpletod import SimpleTOD
from dialog.eval.dst import Tracked, Tracker, evaluate_tracker, simpletod_tracker
from dialog.nlg.seq2seq import Seq2SeqNLG
from dialog.schema import Schema
from dialog.types import Dialogue, DialogueState, GenerationSettings

TURNS = [
    "I want to book a table at a restaurant in San Jose",
    "italian food please, for 2 people",
    "tomorrow at 7 pm",
    "yes that works",
    "thanks, bye",
]


def _beliefs(tracker: Tracker, data_dir: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The tracker's report on 10 sampled dev dialogues, and what it tracked."""
    seen: list[Tracked] = []

    def keep(dialogues: list[Dialogue], schemas: list[Schema]) -> Tracked:
        seen.append(tracker(dialogues, schemas))
        return seen[-1]

    report = evaluate_tracker(keep, data_dir, "dev", sample=10)
    return report, seen[-1].hypotheses


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n", type=int, default=150, help="SGD dev act sets for the NLG")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    out: dict[str, Any] = {}
    nlg = Seq2SeqNLG.load("nlg-seq2seq").with_schemas(read_sgd_schemas(args.data_dir, "dev"))
    pairs = [p for p in nlg_pairs(load_dialogues(args.data_dir, "dev")) if p.acts]
    sample = random.Random(3).sample(pairs, args.n)
    replies = nlg.realise([(p.acts, None) for p in sample])
    out["nlg"] = [g.text for g in replies]
    out["nlg_fallback"] = [g.fallback for g in replies]
    sources = [nlg.source(p.acts)[0] for p in sample[:20]]
    out["nlg_beam"] = nlg._decode(sources, GenerationSettings(num_beams=4), 4)
    out["nlg_sample"] = nlg._decode(sources, GenerationSettings(do_sample=True, top_p=0.9, seed=5), 1)
    model = SimpleTOD.load("simpletod")
    for beams in (1, 3):
        tracker = simpletod_tracker(
            model, settings=GenerationSettings(num_beams=beams), trained=model.trained
        )
        report, hypotheses = _beliefs(tracker, args.data_dir)
        out[f"simpletod_jga_beams{beams}"] = report["joint_goal_accuracy"]
        out[f"simpletod_beliefs_beams{beams}"] = hypotheses
    agent = Assistant().agent("simpletod")
    for name, settings in {
        "greedy": GenerationSettings(),
        "beams3": GenerationSettings(num_beams=3),
        "sampled": GenerationSettings(do_sample=True, seed=3, top_p=0.9),
    }.items():
        state, said = DialogueState(), list[str]()
        for text in TURNS:
            reply = agent.respond(text, state, settings)
            state, said = reply.state, [*said, reply.text]
        out[f"simpletod_agent_{name}"] = said
    args.out.write_text(json.dumps(out, indent=0, default=str) + "\n")
    print(f"{args.out}: {len(out)} parts")


if __name__ == "__main__":
    main()
