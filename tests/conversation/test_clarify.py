"""When the services' descriptions do not settle which one a first request means, the agent asks which
of the two best it is, in one question, and goes on with the one the answer picks."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialog.backend import open_backends
from dialog.conversation.agent import create_agent
from dialog.conversation.session import Session
from dialog.infra.routing import ServiceRouter
from dialog.registry import load_builtins
from dialog.schema import load_schemas

TICKETS = """version: 1
service: {service}
description: Buy tickets for {things} on at the {place}
slots:
  - name: {slot}
    description: The title of the {thing}
  - name: tickets
    description: How many tickets
    type: number
intents:
  - name: {intent}
    description: Buy tickets to see a {thing} at the {place}
    transactional: true
    required_slots: [{slot}, tickets]
"""


@pytest.fixture
def agent_and_backends(tmp_path: Path):  # type: ignore[no-untyped-def]
    load_builtins()
    for service, thing, place, slot, intent in (
        ("Cinema", "film", "cinema", "film", "BuyMovieTickets"),
        ("Theatre", "play", "theatre", "play", "BuyPlayTickets"),
    ):
        text = TICKETS.format(
            service=service, thing=thing, things=thing + "s", place=place, slot=slot, intent=intent
        )
        (tmp_path / f"{service}.yaml").write_text(text)
    schemas = load_schemas(sorted(tmp_path.glob("*.yaml")))
    backends = open_backends(schemas)
    return create_agent("form", schemas, backends), backends, schemas


def test_routing_is_unsure_when_the_two_best_are_all_but_tied(agent_and_backends) -> None:  # type: ignore[no-untyped-def]
    _, _, schemas = agent_and_backends
    router = ServiceRouter(schemas)
    assert router.route("I'd like two tickets please").unsure
    assert not router.route("two tickets for the new play at the theatre").unsure


@pytest.mark.parametrize("answer", ["the theatre one", "a play", "the first"])
def test_the_agent_asks_which_service_and_follows_the_answer(agent_and_backends, answer: str) -> None:  # type: ignore[no-untyped-def]
    agent, backends, _ = agent_and_backends
    with Session(agent, backends.values()) as session:
        asked = session.step("I'd like two tickets please")
        assert asked.text.startswith("Do you want to buy tickets to see a ")
        assert "play at the theatre" in asked.text and "film at the cinema" in asked.text
        assert session.state.active_service is None  # nothing chosen for the user
        offered = [a.service for a in asked.acts]
        session.step(answer)
        expected = offered[0] if answer == "the first" else "Theatre"
        assert session.state.active_service == expected
        assert session.state.frame(expected).active_intent in ("BuyPlayTickets", "BuyMovieTickets")


def test_a_clear_request_is_not_questioned(agent_and_backends) -> None:  # type: ignore[no-untyped-def]
    agent, backends, _ = agent_and_backends
    with Session(agent, backends.values()) as session:
        reply = session.step("two tickets for the new play at the theatre")
        assert not reply.text.startswith("Do you want to")
        assert session.state.active_service == "Theatre"
