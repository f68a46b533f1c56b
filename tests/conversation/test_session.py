"""The one conversation loop: every registered agent plays through a Session, which carries the
state, logs each new turn, and rolls back what the conversation booked."""

from __future__ import annotations

import pytest

from dialog.backend import open_backends
from dialog.conversation.session import Session
from dialog.protocols import Agent
from dialog.registry import load_builtins
from dialog.types import Reply, Speaker

TURNS = ["I want to transfer 50 euros to Maria Silva from my checking account", "yes", "thanks, that's all"]


@pytest.mark.parametrize("name", load_builtins().names("agent"))
def test_every_registered_agent_plays_through_a_session(name: str, showcase) -> None:  # type: ignore[no-untyped-def]
    schemas = list(showcase.values())
    backends = open_backends(schemas)
    agent = load_builtins().create("agent", name, schemas=schemas, backends=backends)
    assert isinstance(agent, Agent)
    before = {s: b.fingerprint() for s, b in backends.items()}
    logged: list[tuple[int, Speaker]] = []
    with Session(agent, backends.values(), log=lambda i, turn: logged.append((i, turn.speaker))) as session:
        for k, text in enumerate(TURNS):
            reply = session.step(text)
            assert isinstance(reply, Reply) and reply.state is session.state
            assert len(reply.state.history) == 2 * (k + 1)
            assert reply.state.history[-1].speaker is Speaker.SYSTEM and reply.text.strip()
            assert all(stage.ms >= 0 for stage in reply.trace) and session.exchanges[-1].ms > 0
        booked = sum(len(b.transactions()) for b in backends.values())
    assert logged == [(i, Speaker.USER if i % 2 == 0 else Speaker.SYSTEM) for i in range(2 * len(TURNS))]
    assert session.last_reply == reply.text
    # whatever the conversation booked (the form agent does book this transfer) was rolled back
    assert booked >= (name == "form")
    assert {s: b.fingerprint() for s, b in backends.items()} == before
    assert all(b.transactions() == [] for b in backends.values())
