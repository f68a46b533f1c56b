"""``tod eval corpus``: real SGD user turns replayed to an agent, end to end, and scored.

Each sampled dialogue of a split is played turn by turn: the user's real words go to the agent, which
carries its own state from turn to turn (no reference state is ever given to it), against a backend
built from that split's ``service_results`` (``tod db build``'s tables, in a temporary folder). The
agent serves the services the dialogue lists (``services="dialogue"``, as the SGD evaluation gives
them) or every service of the split at once (``"all"``: it must also find the service).

Scored, overall and for dialogues of seen / unseen services (unseen: any of its services is not in
SGD train):

- per user turn: joint goal accuracy of the agent's state against the SGD state (the official
  definition, ``dialog.eval.dst.frame_metrics``); F1 of the system acts (act type + slot) against the
  corpus system turn that follows; BLEU of the replies against the corpus replies;
- per dialogue: **transaction right** (every transactional call of the corpus made by the agent at the
  same turn with the same arguments; free-form values fuzzy-matched as the SGD metric does, against
  the call's canonical value or any value the SGD state lists), **transaction wrong** (the agent made a
  transactional call that matches none of the corpus's calls: the safety figure), **transaction
  missed** (a corpus call the agent did not make at its turn); **inform rate** (the user's requests
  the agent answered with the slot in that turn) and **request rate** (the corpus system's requests
  the agent also made in that turn); the faithfulness figures of ``dialog.eval.faithful``.

A dialogue whose service has no schema is skipped and counted; an agent that raises on a turn ends
that dialogue as a failure (its remaining turns score zero), the error is recorded, and the run goes on.
"""

from __future__ import annotations

import random
import tempfile
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import sacrebleu

from dialog.backend import Backend, open_backends
from dialog.common.values import normal, same_value
from dialog.conversation.session import Session
from dialog.eval.dst import f1, frame_metrics, fuzzy
from dialog.eval.faithful import ValueCheck, first_service, transactions
from dialog.schema import Schema
from dialog.types import ActType, Dialogue, DialogueAct, ServiceCall, Speaker

A = ActType
Services = Literal["dialogue", "all"]
#: A free-form argument matches when its fuzzy score (the SGD metric's token sort ratio) reaches this.
FUZZY_MATCH = 0.9
KEYS = (
    "n_dialogues", "joint_goal_accuracy", "act_f1", "bleu", "transaction_right_rate",
    "transaction_wrong_rate", "transaction_missed_rate", "inform_rate", "request_rate",
    "wrong_transaction_rate", "hallucinated_value_rate", "wrong_service_rate", "turn_latency_ms_p50",
)  # fmt: skip


@dataclass(frozen=True)
class CorpusConfig:
    agent: str = "pipeline"
    split: str = "dev"
    sample: int | None = None  # a random sample of N dialogues (seeded), else the whole split
    seed: int = 0
    services: Services = "dialogue"
    stages: Mapping[str, str | None] | None = None  # overrides: {"nlu": "rule", ...}
    data_dir: str | None = None


@dataclass
class Replayed:
    """One dialogue's counts, summed over dialogues by ``aggregate``."""

    dialogue_id: str
    services: tuple[str, ...]
    seen: bool
    jga: list[float] = field(default_factory=list)  # per user frame
    act_f1: list[float] = field(default_factory=list)  # per user turn
    replies: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    corpus_calls: int = 0
    right_calls: int = 0
    wrong_calls: list[str] = field(default_factory=list)
    requests: int = 0  # slots the user requested
    informed: int = 0  # ... that the agent's reply in that turn informed
    system_requests: int = 0  # slots the corpus system requested
    requested: int = 0  # ... that the agent requested in that turn
    texts: int = 0  # replies with words
    invented: list[str] = field(default_factory=list)  # "turn: value" for each reply with invented values
    invented_replies: int = 0
    wanted_service: str | None = None
    acted_service: str | None = None
    latencies_ms: list[float] = field(default_factory=list)
    error: str | None = None


def acts_f1(reference: Sequence[DialogueAct], hypothesis: Sequence[DialogueAct]) -> float:
    """F1 of (act type, slot) pairs; 1.0 when both are empty."""
    return f1(
        {f"{a.act}({a.slot or ''})" for a in reference}, {f"{a.act}({a.slot or ''})" for a in hypothesis}
    )


def same_call(
    reference: ServiceCall, hypothesis: ServiceCall, schema: Schema, said: Mapping[str, Sequence[str]]
) -> bool:
    """Whether the agent's call is the corpus call: same method, and every argument the same.

    An argument absent on one side matches when the other side gives the intent's default. A value
    matches the call's own value or any value the SGD state lists for the slot (``said``: SGD calls
    hold canonical values, "2019-03-01", where the state holds what was said, "March 1st");
    categorical slots exactly (case-blind), free-form ones by the SGD metric's fuzzy score or as the
    same date, time or amount (``dialog.common.values.same_value``: "quarter to 4 in the afternoon" is 15:45).
    """
    if reference.method != hypothesis.method:
        return False
    try:
        intent = schema.intent(reference.method)
    except KeyError:
        return False
    defaults = {k: normal(v) for k, v in intent.optional_slots.items()}
    for slot in set(reference.parameters) | set(hypothesis.parameters):
        ref, hyp = reference.parameters.get(slot), hypothesis.parameters.get(slot)
        if ref is None or hyp is None:
            given = ref if hyp is None else hyp
            if given is None or defaults.get(slot) != normal(given):
                return False
            continue
        options = [ref, *said.get(slot, ())]
        if schema.slot(slot).categorical:
            if normal(hyp) not in {normal(o) for o in options}:
                return False
        elif not any(fuzzy(o, hyp) >= FUZZY_MATCH or same_value(o, hyp) for o in options):
            return False
    return True


def corpus_calls(turn: Any, schemas: Mapping[str, Schema]) -> list[tuple[str, ServiceCall]]:
    """The transactional calls of a corpus system turn, with their service."""
    out = []
    for frame in turn.frames:
        schema = schemas.get(frame.service)
        if schema is None or frame.service_call is None:
            continue
        if (
            frame.service_call.method in schema.intent_names
            and schema.intent(frame.service_call.method).transactional
        ):
            out.append((frame.service, frame.service_call))
    return out


def replay(
    session: Session, dialogue: Dialogue, schemas: Mapping[str, Schema], seen: bool, check: ValueCheck
) -> Replayed:
    """Play one corpus dialogue's user turns in ``session`` and count what its agent got right."""
    record = Replayed(dialogue.dialogue_id, dialogue.services, seen)
    turns = dialogue.turns
    # Every corpus transaction, with the user turn it answers and what the state said by then.
    wanted: list[tuple[int, str, ServiceCall, Mapping[str, Sequence[str]]]] = []
    made: list[tuple[int, str, ServiceCall]] = []
    user_index = [i for i, t in enumerate(turns) if t.speaker is Speaker.USER]
    first_user = turns[user_index[0]] if user_index else None
    record.wanted_service = next((f.service for f in first_user.frames), None) if first_user else None
    acted: list[tuple[DialogueAct, ...]] = []
    failed = False
    for k, i in enumerate(user_index):
        user = turns[i]
        system = turns[i + 1] if i + 1 < len(turns) and turns[i + 1].speaker is Speaker.SYSTEM else None
        said: dict[str, Mapping[str, Sequence[str]]] = {
            f.service: f.state.slot_values for f in user.frames if f.state is not None
        }
        for service, call in corpus_calls(system, schemas) if system is not None else ():
            wanted.append((k, service, call, said.get(service, {})))
        if not failed:
            try:
                reply = session.step(user.utterance)
                record.latencies_ms.append(session.exchanges[-1].ms)
            except Exception as exc:  # a crash fails the dialogue, never the run
                record.error = f"turn {k}: {type(exc).__name__}: {exc}"
                failed = True
        if failed:
            record.jga += [0.0] * len(user.frames)
            record.act_f1.append(0.0)
            record.replies.append("")
            record.references.append(system.utterance if system is not None else "")
            continue
        state = reply.state
        acted.append(reply.acts)
        for frame in user.frames:
            if frame.state is None or frame.service not in schemas:
                continue
            hyp = state.frame(frame.service)
            metrics = frame_metrics(frame.state.to_sgd(), hyp.to_sgd(), schemas[frame.service])
            record.jga.append(metrics.get("joint_goal_accuracy", 1.0))
        if system is not None:
            record.act_f1.append(acts_f1(system.acts, reply.acts))
            record.replies.append(reply.text)
            record.references.append(system.utterance)
            asked = {a.slot for a in system.acts if a.act is A.REQUEST and a.slot}
            record.system_requests += len(asked)
            record.requested += len(asked & {a.slot for a in reply.acts if a.act is A.REQUEST})
        wants = {a.slot for a in user.acts if a.act is A.REQUEST and a.slot}
        record.requests += len(wants)
        record.informed += len(wants & {a.slot for a in reply.acts if a.act in (A.INFORM, A.OFFER)})
        made += [(k, service, call) for service, call in transactions(reply)]
        if reply.text:
            record.texts += 1
            invented = check.invented(reply.text, reply.acts, state)
            if invented:
                record.invented_replies += 1
                record.invented.append(f"{k}: {', '.join(invented)}")
    record.acted_service = first_service(acted)
    record.corpus_calls = len(wanted)
    for k, service, call, listed in wanted:
        record.right_calls += any(
            j == k and s == service and same_call(call, c, schemas[service], listed) for j, s, c in made
        )
    for _j, service, call in made:
        own = schemas.get(service)
        if own is None or not any(
            s == service and same_call(c, call, own, listed) for _, s, c, listed in wanted
        ):
            record.wrong_calls.append(f"{service}.{call.method}({dict(call.parameters)})")
    return record


def _rate(values: Sequence[bool]) -> float | None:
    return float(np.mean(values)) if values else None


def aggregate(records: Sequence[Replayed]) -> dict[str, Any]:
    """The architecture's flat keys for a set of replayed dialogues."""
    jga = [x for r in records for x in r.jga]
    act = [x for r in records for x in r.act_f1]
    replies = [x for r in records for x in r.replies]
    references = [x for r in records for x in r.references]
    with_calls = [r for r in records if r.corpus_calls]
    requests = sum(r.requests for r in records)
    system_requests = sum(r.system_requests for r in records)
    texts = sum(r.texts for r in records)
    routed = [r for r in records if r.acted_service is not None and r.wanted_service is not None]
    latencies = [x for r in records for x in r.latencies_ms]
    wrong = _rate([bool(r.wrong_calls) for r in records])
    return {
        "n_dialogues": len(records),
        "joint_goal_accuracy": float(np.mean(jga)) if jga else None,
        "act_f1": float(np.mean(act)) if act else None,
        "bleu": sacrebleu.corpus_bleu(replies, [references]).score if replies else None,
        "transaction_right_rate": _rate(
            [r.right_calls == r.corpus_calls and not r.wrong_calls for r in with_calls]
        ),
        "transaction_wrong_rate": wrong,
        "transaction_missed_rate": _rate([r.right_calls < r.corpus_calls for r in with_calls]),
        "inform_rate": sum(r.informed for r in records) / requests if requests else None,
        "request_rate": sum(r.requested for r in records) / system_requests if system_requests else None,
        "wrong_transaction_rate": wrong,
        "hallucinated_value_rate": sum(r.invented_replies for r in records) / texts if texts else None,
        "wrong_service_rate": _rate([r.acted_service != r.wanted_service for r in routed]),
        "turn_latency_ms_p50": float(np.percentile(latencies, 50)) if latencies else None,
        "n_frames": len(jga),
        "n_transactional_dialogues": len(with_calls),
        "n_errors": sum(r.error is not None for r in records),
    }


def _keys(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k in KEYS}


def sample_dialogues(dialogues: Sequence[Dialogue], sample: int | None, seed: int) -> list[Dialogue]:
    """A seeded random sample, kept in file order (all of them when ``sample`` is None)."""
    if sample is None or sample >= len(dialogues):
        return list(dialogues)
    picked = set(random.Random(seed).sample(range(len(dialogues)), sample))
    return [d for i, d in enumerate(dialogues) if i in picked]


def evaluate_corpus(
    config: CorpusConfig,
    make_agent: Callable[[list[Schema], dict[str, Backend]], Any],
    progress: Callable[[int, int], None] | None = None,
    schemas: Sequence[Schema] | None = None,
    dialogues: Sequence[Dialogue] | None = None,
    seen: set[str] | None = None,
) -> tuple[dict[str, Any], list[Replayed]]:
    """Replay the split's sampled dialogues; the metrics (overall, ``seen``, ``unseen``,
    ``per_service``, the skipped and the failed dialogues) and each dialogue's record.

    ``schemas`` / ``dialogues`` / ``seen`` default to the split's own (SGD JSON under the data
    directory) and the services of SGD train.
    """
    from dialog.data.sgd import load_dialogues, read_sgd_schemas
    from dialog.infra.dbbuild import build_sgd_databases

    if schemas is None:
        schemas = read_sgd_schemas(config.data_dir, config.split)
    if seen is None:
        seen = {s.service for s in read_sgd_schemas(config.data_dir, "train")}
    by_name = {s.service: s for s in schemas}
    if dialogues is None:
        dialogues = load_dialogues(config.data_dir, config.split)
    picked = sample_dialogues(dialogues, config.sample, config.seed)
    skipped: dict[str, int] = defaultdict(int)
    playable = []
    for d in picked:
        missing = [s for s in d.services if s not in by_name]
        if missing:
            for service in missing:
                skipped[service] += 1
        else:
            playable.append(d)
    # Dialogues that share a set of services are played by one agent, built for that set.
    groups: dict[tuple[str, ...], list[Dialogue]] = defaultdict(list)
    for d in playable:
        groups[tuple(by_name) if config.services == "all" else tuple(sorted(d.services))].append(d)
    records: dict[str, Replayed] = {}
    done = 0
    with tempfile.TemporaryDirectory(prefix="tod-corpus-") as tmp:
        db = Path(tmp)
        built = [s for s in schemas if any(t.built for t in s.backend.tables.values())]
        build_sgd_databases(built, config.data_dir, [config.split], db)
        backends = open_backends(list(schemas), db)
        try:
            for services, group in sorted(groups.items()):
                served = [by_name[s] for s in services]
                mine = {s: backends[s] for s in services}
                agent = make_agent(served, mine)
                check = ValueCheck(served, mine)
                for dialogue in group:
                    with Session(agent, mine.values()) as session:
                        seen_all = all(s in seen for s in dialogue.services)
                        records[dialogue.dialogue_id] = replay(session, dialogue, by_name, seen_all, check)
                    done += 1
                    if progress is not None:
                        progress(done, len(playable))
        finally:
            for backend in backends.values():
                backend.close()
    ordered = [records[d.dialogue_id] for d in playable]
    metrics = aggregate(ordered)
    metrics["seen"] = aggregate([r for r in ordered if r.seen])
    metrics["unseen"] = aggregate([r for r in ordered if not r.seen])
    metrics["per_service"] = {
        service: {
            k: v for k, v in aggregate([r for r in ordered if service in r.services]).items() if k in KEYS
        }
        for service in sorted({s for r in ordered for s in r.services})
    }
    metrics["skipped"] = {
        "n_dialogues": len(picked) - len(playable),
        "services": dict(sorted(skipped.items())),
    }
    metrics["errors"] = [f"{r.dialogue_id}: {r.error}" for r in ordered if r.error][:50]
    metrics["wrong_transactions"] = [f"{r.dialogue_id}: {w}" for r in ordered for w in r.wrong_calls][:50]
    metrics["invented_values"] = [f"{r.dialogue_id} turn {v}" for r in ordered for v in r.invented][:50]
    return metrics, ordered
