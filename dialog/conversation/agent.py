"""PipelineAgent: NLU → DST → backend lookup → policy → NLG, one short loop.

``respond`` runs every stage on text; ``respond_acts`` takes the user's acts as they are and skips
NLU and NLG, so that an act-level evaluation measures the policy alone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from dialog.backend import Backend
from dialog.common.state import turn_frames
from dialog.common.text import MAX_INPUT_CHARS
from dialog.infra.lookup import BackendLookup
from dialog.infra.routing import Route, ServiceRouter
from dialog.nlg.template import is_clarification
from dialog.protocols import DST, NLG, NLU, Policy
from dialog.registry import load_builtins, registry
from dialog.schema import Schema
from dialog.types import (
    ActType,
    BackendResult,
    DialogueAct,
    DialogueState,
    GenerationSettings,
    Reply,
    Speaker,
    StageTrace,
    Turn,
)

A = ActType
#: Words that pick the first or the second of the offered services.
ORDINALS = (("first", "former", "1st"), ("second", "latter", "2nd", "other"))
#: The stages of the named agents. ``pipeline`` takes each learned stage once it does better in dialogue
#: than the rule one (all four: BERT NLU, BERT DST, PPO policy, Transformer NLG; see docs/results.md).
AGENT_STAGES: dict[str, dict[str, str]] = {
    "form": {"nlu": "rule", "dst": "rule", "policy": "form", "nlg": "template"},
    "pipeline": {"nlu": "bert", "dst": "bert", "policy": "ppo", "nlg": "seq2seq"},
}


class PipelineAgent:
    """Composes the four stages and the backend lookup. Holds no per-dialogue state."""

    def __init__(
        self,
        nlu: NLU,
        dst: DST,
        policy: Policy,
        nlg: NLG,
        lookup: BackendLookup,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.nlu, self.dst, self.policy, self.nlg, self.lookup = nlu, dst, policy, nlg, lookup
        self.names = dict(names or {})
        self._router: ServiceRouter | None = None

    @classmethod
    def from_names(
        cls, schemas: Sequence[Schema], backends: Mapping[str, Backend], **stages: str
    ) -> PipelineAgent:
        """Build from registry names, e.g. ``from_names(schemas, backends, nlu="rule", ...)``."""
        made: dict[str, Any] = {}
        for stage in ("nlu", "dst", "policy", "nlg"):
            made[stage] = registry.create(stage, stages[stage], schemas=schemas, backends=backends)
        return cls(**made, lookup=BackendLookup(schemas, backends), names=stages)

    def with_stages(self, **stages: Any) -> PipelineAgent:
        """This agent with some stages replaced by other components (e.g. an NLG ``configured``
        otherwise); the names stay."""
        made = {"nlu": self.nlu, "dst": self.dst, "policy": self.policy, "nlg": self.nlg, **stages}
        return PipelineAgent(**made, lookup=self.lookup, names=self.names)

    def respond(self, text: str, state: DialogueState, settings: GenerationSettings | None = None) -> Reply:
        text = text[:MAX_INPUT_CHARS]
        start = time.perf_counter()
        answered = self._answered(text, state)
        if answered is not None:  # the user chose one of the services we asked about
            route, request = answered
            mine = state.with_frame(route.service, state.frame(route.service))
            intent = DialogueAct(A.INFORM_INTENT, "intent", (route.intent,), route.service)
            acts = (intent, *(a for a in self.nlu.parse(request, mine) if a.service == route.service))
            acts = tuple(dict.fromkeys(acts))
        else:
            acts = self.nlu.parse(text, state)
        trace = [StageTrace("nlu", self.names.get("nlu", ""), acts, (time.perf_counter() - start) * 1000)]
        asked = self._clarification(text, state) if answered is None else ()
        if asked:
            state = state.with_turn(Turn(Speaker.USER, text, turn_frames(acts, state)))
            trace.append(StageTrace("policy", "clarify", asked, 0.0))
            return self.conclude(state, None, asked, trace, settings)
        return self._after_nlu(text, acts, state, trace, settings, speak=True)

    def router(self) -> ServiceRouter:
        """Routes requests among this agent's services (made at first need)."""
        if self._router is None:
            self._router = ServiceRouter(list(self.lookup.schemas.values()))
        return self._router

    def _clarification(self, text: str, state: DialogueState) -> tuple[DialogueAct, ...]:
        """A first request that the services' descriptions do not settle (``Routing.unsure``): the
        intents of the two best services, offered in one question (below the router's confidence
        threshold, chosen on SGD dev; docs/results.md, "Routing")."""
        if state.active_service is not None or len(self.lookup.schemas) < 2:
            return ()
        routing = self.router().route(text)
        if not routing.request or not routing.unsure:
            return ()
        return tuple(
            DialogueAct(A.OFFER_INTENT, "intent", (r.intent,), r.service) for r in routing.routes[:2]
        )

    def _answered(self, text: str, state: DialogueState) -> tuple[Route, str] | None:
        """After a clarifying question, the service the user's answer picks ("the doctor", "the
        second one"; the router over the offered services) and the request that was unclear."""
        last = state.last_system_acts
        if state.active_service is not None or not is_clarification(last) or len(state.history) < 2:
            return None
        offered = [Route(a.service or "", a.values[0], 1.0) for a in last]
        lowered = f" {text.casefold()} "
        for i, words_ in enumerate(ORDINALS[: len(offered)]):
            if any(f" {w} " in lowered for w in words_):
                return offered[i], state.history[-2].utterance
        routing = self.router().route(text)
        ranked = [r for r in routing.routes if r.service in {o.service for o in offered}]
        if not routing.request or not ranked:
            return None
        chosen = next(o for o in offered if o.service == ranked[0].service)
        return chosen, state.history[-2].utterance

    def respond_acts(self, acts: tuple[DialogueAct, ...], state: DialogueState, text: str = "") -> Reply:
        return self._after_nlu(text, acts, state, [], None, speak=False)

    def _after_nlu(
        self,
        text: str,
        acts: tuple[DialogueAct, ...],
        state: DialogueState,
        trace: list[StageTrace],
        settings: GenerationSettings | None,
        speak: bool,
    ) -> Reply:
        """DST, lookup, policy and (when ``speak``) NLG."""
        state, result = self.perceive(text, acts, state, trace)
        start = time.perf_counter()
        system_acts = self.policy.act(state)
        ms = (time.perf_counter() - start) * 1000
        trace.append(StageTrace("policy", self.names.get("policy", ""), system_acts, ms))
        return self.conclude(state, result, system_acts, trace, settings, speak)

    def perceive(
        self, text: str, acts: tuple[DialogueAct, ...], state: DialogueState, trace: list[StageTrace]
    ) -> tuple[DialogueState, BackendResult | None]:
        """The user's turn into the state: tracking, then the backend call it calls for."""
        t0 = time.perf_counter()
        state = self.dst.update(state, text, acts)
        state = state.with_turn(Turn(Speaker.USER, text, turn_frames(acts, state)))
        t1 = time.perf_counter()
        state, result = self.lookup.query(state)
        t2 = time.perf_counter()
        trace += [
            StageTrace(
                "dst",
                self.names.get("dst", ""),
                state.frames.get(state.active_service or ""),
                (t1 - t0) * 1000,
            ),
            StageTrace("backend", "sqlite", result, (t2 - t1) * 1000),
        ]
        return state, result

    def conclude(
        self,
        state: DialogueState,
        result: BackendResult | None,
        system_acts: tuple[DialogueAct, ...],
        trace: list[StageTrace],
        settings: GenerationSettings | None,
        speak: bool = True,
    ) -> Reply:
        """The system's acts into words (when ``speak``; ``settings`` None: the NLG's own decoding) and
        into the history."""
        start = time.perf_counter()
        reply = self.nlg.generate(system_acts, state, settings) if speak else ""
        if speak:
            ms = (time.perf_counter() - start) * 1000
            config = asdict(settings) if settings is not None else {}
            trace.append(StageTrace("nlg", self.names.get("nlg", ""), reply, ms, config))
        state = state.with_turn(Turn(Speaker.SYSTEM, reply, turn_frames(system_acts, state, result)))
        return Reply(reply, state, tuple(trace), system_acts)


def create_agent(
    name: str, schemas: Sequence[Schema], backends: Mapping[str, Backend], **overrides: str | None
) -> PipelineAgent:
    """A named agent (``form``, ``pipeline``, ``simpletod``), with any pipeline stage overridden by
    registry name. The pipelines are built here; any other agent is the registry's (the built-in
    components are loaded first, so ``simpletod`` registers itself)."""
    if name not in AGENT_STAGES:
        load_builtins()
        return registry.create("agent", name, schemas=schemas, backends=backends)
    stages = {**AGENT_STAGES[name], **{k: v for k, v in overrides.items() if v}}
    return PipelineAgent.from_names(schemas, backends, **stages)


def _agent_factory(name: str) -> Any:
    def make(
        schemas: Sequence[Schema], backends: Mapping[str, Backend], **stages: str | None
    ) -> PipelineAgent:
        return create_agent(name, schemas, backends, **stages)

    return make


for _name in AGENT_STAGES:
    registry.register("agent", _name)(_agent_factory(_name))
