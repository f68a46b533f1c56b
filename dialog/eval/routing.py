"""How well the service a user means is found (`tod eval routing`): on an SGD split with every one of
its services loaded at once, the turns where a service's intent starts (the first turn of each
dialogue, and each later switch to another service), routed by ``ServiceRouter`` and, for comparison,
by an NLU (the service of its INFORM_INTENT, else of its other acts, else none).

Keys: ``n`` turns; ``service_accuracy`` and ``intent_accuracy`` (the service and its intent both
right) on the first turns, and the same on the switches; ``domain_accuracy`` (Hotels_1 for Hotels_4
counts as right); each under ``seen`` / ``unseen``; ``thresholds``: for confidence cut-offs, the share
of first turns routed without asking and the service accuracy on those; ``ask_rate`` (below
``ASK_BELOW``, the agent asks which of the two best services is meant) and ``resolved_accuracy``
(first turns routed right, or asked about with the right service among the two offered).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dialog.data.sgd import load_dialogues, read_sgd_schemas, seen_services
from dialog.infra.routing import ServiceRouter
from dialog.types import ActType, Dialogue, DialogueState, Speaker

CUTS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class Start:
    """A user turn where a service's intent starts: its words, the service and intent meant."""

    text: str
    service: str
    intent: str
    first: bool


def starts(dialogues: Sequence[Dialogue]) -> list[Start]:
    """The first user turn of each dialogue with an active intent, and each later turn whose active
    intent is of a service the dialogue was not in before."""
    out = []
    for dialogue in dialogues:
        been: set[str] = set()
        for turn in dialogue.turns:
            if turn.speaker is not Speaker.USER:
                continue
            for frame in turn.frames:
                intent = frame.state.active_intent if frame.state else None
                if intent and intent != "NONE" and frame.service not in been:
                    out.append(Start(turn.utterance, frame.service, intent, not been))
                    been.add(frame.service)
                    break
    return out


def domain(service: str) -> str:
    return service.rsplit("_", 1)[0]


def _accuracy(items: Sequence[tuple[Start, str | None, str | None]]) -> dict[str, Any]:
    if not items:
        return {"n": 0}
    n = len(items)
    return {
        "n": n,
        "service_accuracy": round(sum(s.service == svc for s, svc, _ in items) / n, 4),
        "intent_accuracy": round(sum(s.service == svc and s.intent == i for s, svc, i in items) / n, 4),
        "domain_accuracy": round(
            sum(svc is not None and domain(s.service) == domain(svc) for s, svc, _ in items) / n, 4
        ),
    }


def _report(items: Sequence[tuple[Start, str | None, str | None]], seen: set[str]) -> dict[str, Any]:
    first = [x for x in items if x[0].first]
    out = _accuracy(first)
    out["switches"] = _accuracy([x for x in items if not x[0].first])
    out["seen"] = _accuracy([x for x in first if x[0].service in seen])
    out["unseen"] = _accuracy([x for x in first if x[0].service not in seen])
    return out


def nlu_router(nlu: Any) -> Callable[[str], tuple[str | None, str | None]]:
    """An NLU as a router: the service and intent of its INFORM_INTENT on a fresh state, else the
    service of its other acts."""

    def route(text: str) -> tuple[str | None, str | None]:
        acts = nlu.parse(text, DialogueState())
        told = next((a for a in acts if a.act is ActType.INFORM_INTENT and a.values), None)
        if told is not None:
            return told.service, told.values[0]
        return next((a.service for a in acts if a.service), None), None

    return route


def evaluate_routing(
    data_dir: str | None,
    split: str = "dev",
    sample: int | None = None,
    nlu: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The router's figures on the split (a ``sample`` of its dialogues, seed 0), and ``nlu``'s when
    given (a parser built for the split's schemas)."""
    schemas = read_sgd_schemas(data_dir, split)
    dialogues = load_dialogues(data_dir, split)
    if sample is not None and sample < len(dialogues):
        dialogues = random.Random(0).sample(dialogues, sample)
    seen = seen_services(data_dir)
    found = starts(dialogues)
    router = ServiceRouter(schemas)
    routings = router.route_all([s.text for s in found], progress=progress)
    routed = [
        (s, r.best.service if r.best else None, r.best.intent if r.best else None)
        for s, r in zip(found, routings, strict=True)
    ]
    out: dict[str, Any] = {"split": split, "services": len(schemas), "n_dialogues": len(dialogues)}
    out["router"] = _report(routed, seen)
    first = [(s, r) for s, r in zip(found, routings, strict=True) if s.first]
    asked = [(s, r) for s, r in first if r.unsure]
    out["router"]["ask_rate"] = round(len(asked) / max(1, len(first)), 4)
    out["router"]["resolved_accuracy"] = round(
        sum(
            s.service in {x.service for x in r.routes[:2]} if r.unsure else r.routes[0].service == s.service
            for s, r in first
        )
        / max(1, len(first)),
        4,
    )
    out["router"]["thresholds"] = [
        {
            "confidence": cut,
            "routed_share": round(sum(r.confidence >= cut for _, r in first) / max(1, len(first)), 4),
            "service_accuracy": round(
                sum(
                    r.best is not None and r.best.service == s.service
                    for s, r in first
                    if r.confidence >= cut
                )
                / max(1, sum(r.confidence >= cut for _, r in first)),
                4,
            ),
            "right_in_two": round(
                sum(s.service in {x.service for x in r.routes[:2]} for s, r in first if r.confidence < cut)
                / max(1, sum(r.confidence < cut for _, r in first)),
                4,
            ),
            "resolved_accuracy": round(
                sum(
                    s.service in {x.service for x in r.routes[: 1 if r.confidence >= cut else 2]}
                    for s, r in first
                )
                / max(1, len(first)),
                4,
            ),
        }
        for cut in CUTS
    ]
    if nlu is not None:
        route = nlu_router(nlu)
        out["nlu"] = _report([(s, *route(s.text)) for s in found], seen)
    return out
