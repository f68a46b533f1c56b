"""Service routing from the schemas' descriptions: plain requests go to their service, a near-twin
service makes the router unsure (the agent then asks), odd input never fails."""

from __future__ import annotations

import pytest

from dialog.infra.routing import ServiceRouter
from dialog.schema import Schema


@pytest.fixture(scope="module")
def router(showcase) -> ServiceRouter:  # type: ignore[no-untyped-def]
    return ServiceRouter(list(showcase.values()))


@pytest.mark.parametrize(
    ("text", "service"),
    [
        ("send 100 euros to Bob Smith from savings", "BankTransfer"),
        ("how much money is left in my checking account?", "BankTransfer"),
        ("I need to see a dentist in Porto next week", "ClinicAppointment"),
        ("my knee hurts, can I get an appointment with someone?", "ClinicAppointment"),
        ("somewhere to eat tonight, italian please", "RestaurantBooking"),
        ("book a table for four at a sushi place", "RestaurantBooking"),
    ],
)
def test_plain_requests_go_to_their_service(router: ServiceRouter, text: str, service: str) -> None:
    routing = router.route(text)
    assert routing.best is not None and routing.best.service == service
    assert routing.best.intent in {i for s in [service] for i in router.keys_of(s)}


def test_a_near_twin_service_makes_the_router_ask(showcase) -> None:  # type: ignore[no-untyped-def]
    original = showcase["RestaurantBooking"]
    twin = Schema.model_validate({**original.model_dump(exclude_none=True), "service": "RestaurantBooking_2"})
    routing = ServiceRouter([*showcase.values(), twin]).route("book a table for four at a sushi place")
    assert routing.unsure and {r.service for r in routing.routes[:2]} == {
        "RestaurantBooking",
        "RestaurantBooking_2",
    }
    assert not ServiceRouter(list(showcase.values())).route("book a table for four at a sushi place").unsure


@pytest.mark.parametrize(
    "text", ["", "   ", "x" * 20000, "Переведите сто евро Бобу", "'; DROP TABLE payees; --"]
)
def test_odd_input_is_routed_without_failing(router: ServiceRouter, text: str) -> None:
    routing = router.route(text)
    assert len(routing.routes) == 3 and 0.0 < routing.confidence <= 1.0


def test_no_schema_no_route() -> None:
    routing = ServiceRouter([]).route("hello")
    assert routing.best is None and not routing.unsure


def test_a_text_is_embedded_once_while_it_is_cached(showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.infra.encoder import shared_similarity

    real = shared_similarity()

    class Counting:
        def __init__(self) -> None:
            self.texts: list[str] = []

        def embed(self, texts):  # type: ignore[no-untyped-def]
            self.texts += list(texts)
            return real.embed(texts)

    counting = Counting()
    first = ServiceRouter(list(showcase.values()), counting)  # type: ignore[arg-type]
    intents = len(counting.texts)
    again = ServiceRouter(list(showcase.values()), counting)  # type: ignore[arg-type]
    assert len(counting.texts) == intents  # the intents' texts were embedded by the first router
    assert first.route("a table for two tonight") == again.route("a table for two tonight")
    assert counting.texts[intents:] == ["a table for two tonight"]  # the second router reused it
