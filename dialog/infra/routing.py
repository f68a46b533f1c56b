"""Which service (and intent) a user means, read against every loaded schema (issue 29, part 1).

Each intent of each schema is a short text (the service's and the intent's names as words and their
descriptions) embedded once with the MiniLM sentence encoder; an utterance is embedded and compared
with all of them. A service's score is its best intent's cosine; the confidence is the share of the
best service in a softmax over the services' scores (``TEMPERATURE``). Below the agent's threshold
the two best services are what a clarifying question offers. Nothing here was trained: a service
written a minute ago is routed by its description like any other.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from dialog.common.text import words
from dialog.infra.encoder import EmbeddingSimilarity, shared_similarity
from dialog.schema import Schema

#: Softmax temperature over the services' cosines, and the confidence below which the agent should
#: ask which of the two best services is meant (both chosen on SGD dev: docs/results.md, "Routing").
TEMPERATURE = 0.05
ASK_BELOW = 0.5
#: The least lead of the best service's cosine over the second's for the router to go without asking.
ASK_GAP = 0.03
#: The least cosine of a request: below it the words name no service at all ("hello", "thanks").
MIN_SCORE = 0.25


#: (embedder, text) -> its embedding, shared by the routers of a process: the intents' texts of the
#: agents made again and again, and an utterance that two NLUs of one agent route (the BERT NLU and
#: its rule fallback). The oldest go first past ``CACHE_SIZE``.
_EMBEDDED: OrderedDict[tuple[int, str], torch.Tensor] = OrderedDict()
CACHE_SIZE = 8192


def _embed(embedder: EmbeddingSimilarity, texts: Sequence[str]) -> torch.Tensor:
    """The texts' embeddings (rows), each embedded once while it stays in the cache."""
    keys = [(id(embedder), t) for t in texts]
    todo = [t for t in dict.fromkeys(texts) if (id(embedder), t) not in _EMBEDDED]
    found = dict(zip(todo, embedder.embed(todo), strict=True)) if todo else {}
    rows = [found[k[1]] if k[1] in found else _EMBEDDED[k] for k in keys]
    for key, row in zip(keys, rows, strict=True):
        _EMBEDDED[key] = row
        _EMBEDDED.move_to_end(key)
    while len(_EMBEDDED) > CACHE_SIZE:
        _EMBEDDED.popitem(last=False)
    return torch.stack(rows) if rows else torch.zeros(0, 384)


@dataclass(frozen=True)
class Route:
    """A service, its best intent for the utterance, and that intent's cosine."""

    service: str
    intent: str
    score: float


@dataclass(frozen=True)
class Routing:
    """The services ranked for one utterance (best first) and the confidence in the first."""

    routes: tuple[Route, ...]
    confidence: float

    @property
    def best(self) -> Route | None:
        return self.routes[0] if self.routes else None

    @property
    def request(self) -> bool:
        """The words ask for something one of the services does (not a greeting or thanks)."""
        return bool(self.routes) and self.routes[0].score >= MIN_SCORE

    @property
    def unsure(self) -> bool:
        """Two services or more, and too little confidence to take the first without asking: a low
        share of the best in the softmax over every service, or the two best all but tied (with only
        two or three services loaded the share alone never falls low enough)."""
        if len(self.routes) < 2:
            return False
        return self.confidence < ASK_BELOW or self.routes[0].score - self.routes[1].score < ASK_GAP


def intent_text(schema: Schema, intent: str) -> str:
    """What an intent is about, in words: "restaurants: a leading provider of restaurant search ...
    reserve restaurant: make a table reservation at a restaurant"."""
    found = schema.intent(intent)
    service = words(schema.service.rsplit("_", 1)[0] if schema.service[-1:].isdigit() else schema.service)
    return f"{service}: {schema.description}. {words(found.name)}: {found.description}"


class ServiceRouter:
    """Ranks the services of ``schemas`` for an utterance (``route``), or many at once (``route_all``)."""

    def __init__(self, schemas: Sequence[Schema], embedder: EmbeddingSimilarity | None = None) -> None:
        self.embedder = embedder or shared_similarity()
        self.keys = [(s.service, i) for s in schemas for i in s.intent_names]
        texts = [intent_text(s, i) for s in schemas for i in s.intent_names]
        self.table = _embed(self.embedder, texts)
        self.services = list(dict.fromkeys(service for service, _ in self.keys))
        # A booking that needs what a search finds starts with the search ("a table at an italian
        # place" is FindRestaurants before BookTable): intent accuracy 0.711 -> 0.759 on SGD dev.
        self.search_for = {
            (s.service, follow.name): search.name
            for s in schemas
            for search in s.intents
            if not search.transactional
            for follow in s.followups(search.name)
        }

    def keys_of(self, service: str) -> list[str]:
        """The intents of ``service`` the router knows."""
        return [intent for svc, intent in self.keys if svc == service]

    def choose(self, text: str) -> Route | None:
        """The route to take without asking: the best, when the words are a request and the router
        is sure of it (None: no request, or unsure, which the agent should ask about)."""
        routing = self.route(text)
        if routing.best is None or routing.unsure or not routing.request:
            return None
        return routing.best

    def route(self, text: str) -> Routing:
        return self.route_all([text])[0]

    def route_all(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Routing]:
        out: list[Routing] = []
        for start in range(0, len(texts), batch_size):
            chunk = [t.strip()[:1000] or "." for t in texts[start : start + batch_size]]
            cosines = (_embed(self.embedder, chunk) @ self.table.T).tolist()
            out += [self._ranked(row) for row in cosines]
            if progress is not None:
                progress(len(out), len(texts))
        return out

    def _ranked(self, cosines: Sequence[float]) -> Routing:
        best: dict[str, Route] = {}
        for (service, intent), score in zip(self.keys, cosines, strict=True):
            if service not in best or score > best[service].score:
                best[service] = Route(service, self.search_for.get((service, intent), intent), score)
        routes = tuple(sorted(best.values(), key=lambda r: -r.score))
        if not routes:
            return Routing((), 0.0)
        top = routes[0].score
        weights = [math.exp((r.score - top) / TEMPERATURE) for r in routes]
        return Routing(routes, weights[0] / sum(weights))
