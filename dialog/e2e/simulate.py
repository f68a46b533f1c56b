"""Training dialogues from a schema alone, for the single model: the simulated user against a teacher
agent, written down as SGD-like dialogues so that ``sgd_segments`` turns them into sequences.

The teacher plays at the act level (the user's acts reach it as they were meant), so the states,
backend calls and actions in the dialogue are the teacher's exact ones; the user's words come from
the evaluator's templates (``UserText``) and the system's from the template NLG. Only dialogues the
teacher got done are kept. This is what the pipeline's NLU gets for a new service (``synthetic_schemas``
there): no collected data, only the schema and its backend.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence

from dialog.backend import Backend
from dialog.conversation.simulation import Transcript, run_dialogue
from dialog.eval.metrics import score_dialogue
from dialog.nlg.template import TemplateNLG
from dialog.schema import Schema
from dialog.types import Dialogue, DialogueAct, Frame, Speaker, Turn
from dialog.user.agenda import AgendaUser
from dialog.user.goals import episodes
from dialog.user.text import UserText


def simulated_dialogues(
    schemas: Sequence[Schema],
    backends: Mapping[str, Backend],
    n_per_schema: int,
    seed: int | str = "synthetic",
    teacher: str = "pipeline",
    max_services: int = 3,
) -> Iterator[Dialogue]:
    """Up to ``n_per_schema`` successful teacher dialogues per schema. Each lists its own service and
    up to ``max_services - 1`` others of ``schemas`` (in random order), as the agent reads all of its
    services and must pick the one the user means."""
    from dialog.conversation.agent import create_agent
    from dialog.registry import load_builtins

    load_builtins()
    agent = create_agent(teacher, schemas, backends)
    user, text, nlg = AgendaUser(schemas, backends), UserText(schemas), TemplateNLG(schemas)
    names = [s.service for s in schemas]
    for i, schema, goal, rng in episodes(schemas, backends, n_per_schema, seed):
        transcript = run_dialogue(agent, user, goal, rng, "acts", backends=[backends[schema.service]])
        if not score_dialogue(transcript).success:
            continue
        others = [n for n in names if n != schema.service]
        services = [schema.service, *rng.sample(others, min(len(others), rng.randint(0, max_services - 1)))]
        rng.shuffle(services)
        yield as_dialogue(transcript, f"sim_{schema.service}_{i}", services, text, nlg, rng)


def as_dialogue(
    transcript: Transcript,
    dialogue_id: str,
    services: Sequence[str],
    text: UserText,
    nlg: TemplateNLG,
    rng: random.Random,
) -> Dialogue:
    """The transcript of an act-level run as a dialogue: the user's acts in words, the tracked state on
    each user turn's frames, and the system's acts, backend call and words on the system turns."""
    turns: list[Turn] = []
    system_turns = [t for t in transcript.state.history if t.speaker is Speaker.SYSTEM]
    for record, system in zip(transcript.turns, system_turns, strict=True):
        state = record.reply.state
        active = state.active_service
        by_service: dict[str, list[DialogueAct]] = {}
        for act in record.heard_acts:
            by_service.setdefault(act.service or active or "", []).append(act)
        if active and active not in by_service:
            by_service[active] = []
        frames = tuple(
            Frame(service, tuple(acts), state=state.frame(service))
            for service, acts in by_service.items()
            if service
        )
        turns.append(Turn(Speaker.USER, text.realise(record.heard_acts, rng), frames))
        reply = nlg.generate(record.reply.acts, state)
        turns.append(Turn(Speaker.SYSTEM, reply, system.frames))
    return Dialogue(dialogue_id, tuple(services), tuple(turns))
