"""Each behaviour of the form policy, with a scripted user talking in acts."""

from __future__ import annotations

from dialog.common.values import iso_date
from dialog.conversation.agent import PipelineAgent
from dialog.types import ActType, DialogueAct, DialogueState, Reply

A = ActType
R = "RestaurantBooking"
C = "ClinicAppointment"
B = "BankTransfer"


def act(kind: ActType, slot: str | None = None, *values: str, service: str = R) -> DialogueAct:
    return DialogueAct(kind, slot, values, service)


def intent(name: str, service: str = R) -> DialogueAct:
    return act(A.INFORM_INTENT, "intent", name, service=service)


class Script:
    """Feeds user acts to the agent turn by turn and keeps the state."""

    def __init__(self, agent: PipelineAgent) -> None:
        self.agent = agent
        self.state = DialogueState()

    def say(self, *acts: DialogueAct) -> Reply:
        reply = self.agent.respond_acts(tuple(acts), self.state)
        self.state = reply.state
        return reply


def kinds(reply: Reply) -> list[tuple[ActType, str | None]]:
    return [(a.act, a.slot) for a in reply.acts]


def test_asks_only_for_what_is_missing_and_accepts_values_given_early(form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, _ = form_agent
    chat = Script(agent)
    reply = chat.say(intent("FindRestaurant"), act(A.INFORM, "cuisine", "italian"))
    assert kinds(reply) == [(A.REQUEST, "city")]
    reply = chat.say(act(A.INFORM, "city", "Porto"))
    assert (A.OFFER, "restaurant_name") in kinds(reply)
    assert dict(chat.state.frame(R).slot_values) == {"cuisine": ("italian",), "city": ("Porto",)}


def test_several_slots_at_once_go_straight_to_an_offer(form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, _ = form_agent
    reply = Script(agent).say(
        intent("FindRestaurant"), act(A.INFORM, "city", "Madrid"), act(A.INFORM, "cuisine", "mexican")
    )
    offer = {a.slot: a.values[0] for a in reply.acts if a.act is A.OFFER}
    assert offer["restaurant_name"] == "Taquería Luna" and offer["city"] == "Madrid"
    assert act(A.INFORM_COUNT, "count", "1") in reply.acts


def test_invalid_categorical_value_is_asked_again_with_options(form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, _ = form_agent
    chat = Script(agent)
    reply = chat.say(
        intent("FindRestaurant"), act(A.INFORM, "city", "Porto"), act(A.INFORM, "cuisine", "klingon")
    )
    [ask] = reply.acts
    assert (
        ask.act is A.REQUEST and ask.slot == "cuisine" and set(ask.values) <= {"italian", "chinese", "indian"}
    )
    assert "cuisine" not in chat.state.frame(R).slot_values


def test_request_result_slot_and_request_alternatives(form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, _ = form_agent
    chat = Script(agent)
    first = chat.say(
        intent("FindRestaurant"), act(A.INFORM, "city", "Lisbon"), act(A.INFORM, "cuisine", "italian")
    )
    name = next(a.values[0] for a in first.acts if a.slot == "restaurant_name")
    reply = chat.say(act(A.REQUEST, "phone_number"))
    phone = {"Trattoria Lucia": "+351 21 000 1101", "Casa Nonna": "+351 21 000 1102"}[name]
    assert reply.acts == (act(A.INFORM, "phone_number", phone),)
    other = chat.say(act(A.REQUEST_ALTS))
    names = [a.values[0] for a in other.acts if a.slot == "restaurant_name"]
    assert names and names[0] != name
    # A third request for alternatives: there were only two, so the policy says so.
    assert (A.NOTIFY_FAILURE, None) in kinds(chat.say(act(A.REQUEST_ALTS)))


def test_no_match_leads_to_failure_and_an_offer_to_relax(form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, _ = form_agent
    chat = Script(agent)
    reply = chat.say(
        intent("FindRestaurant"), act(A.INFORM, "city", "Porto"), act(A.INFORM, "cuisine", "japanese")
    )
    assert reply.acts[0].act is A.NOTIFY_FAILURE
    relax = reply.acts[1]
    assert relax.act is A.REQUEST and relax.slot in ("city", "cuisine") and relax.values


def test_search_then_book_with_defaults_confirmation_and_success(form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, backends = form_agent
    chat = Script(agent)
    chat.say(intent("FindRestaurant"), act(A.INFORM, "city", "Madrid"), act(A.INFORM, "cuisine", "mexican"))
    offer_intent = chat.say(act(A.SELECT))
    assert offer_intent.acts == (act(A.OFFER_INTENT, "intent", "BookTable"),)
    ask = chat.say(act(A.AFFIRM_INTENT, "intent", "BookTable"))
    assert chat.state.frame(R).active_intent == "BookTable"
    assert chat.state.frame(R).slot_values["restaurant_name"] == ("Taquería Luna",)  # carried from the offer
    assert kinds(ask) == [(A.REQUEST, "date")]
    confirm = chat.say(act(A.INFORM, "date", "tomorrow"), act(A.INFORM, "time", "20:00"))
    confirmed = {a.slot: a.values[0] for a in confirm.acts if a.act is A.CONFIRM}
    assert confirmed == {
        "party_size": "2",
        "restaurant_name": "Taquería Luna",
        "date": iso_date("tomorrow"),  # a date slot stores tomorrow as its date
        "time": "20:00",
    }
    assert backends[R].transactions() == []  # nothing is booked before the user agrees
    done = chat.say(act(A.AFFIRM))
    assert kinds(done) == [(A.NOTIFY_SUCCESS, None)]
    assert [t[0] for t in backends[R].transactions()] == ["BookTable"]
    assert kinds(chat.say(act(A.THANK_YOU))) == [(A.REQ_MORE, None)]
    assert kinds(chat.say(act(A.NEGATE))) == [(A.GOODBYE, None)]


def test_negate_lets_the_user_change_a_slot(form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, backends = form_agent
    chat = Script(agent)
    chat.say(
        intent("TransferMoney", B),
        act(A.INFORM, "account_type", "checking", service=B),
        act(A.INFORM, "amount", "50 euros", service=B),
        act(A.INFORM, "recipient_name", "Maria Silva", service=B),
    )
    what = chat.say(act(A.NEGATE, service=B))
    assert kinds(what) == [(A.REQUEST, None)]  # "what would you like to change?"
    again = chat.say(act(A.NEGATE, service=B), act(A.INFORM, "amount", "80 euros", service=B))
    assert act(A.CONFIRM, "amount", "80 euros", service=B) in again.acts
    assert backends[B].transactions() == []
    chat.say(act(A.AFFIRM, service=B))
    assert backends[B].transactions()[0][1]["amount"] == "80 euros"


def test_failed_booking_notifies_and_offers_free_times(form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, _ = form_agent
    chat = Script(agent)
    chat.say(intent("BookAppointment", C))
    chat.say(
        act(A.INFORM, "doctor_name", "Dr. Tomás Pereira", service=C),
        act(A.INFORM, "date", "2026-12-01", service=C),
        act(A.INFORM, "time", "14:00", service=C),  # taken
        act(A.INFORM, "patient_name", "Rita Sousa", service=C),
    )
    failed = chat.say(act(A.AFFIRM, service=C))
    assert failed.acts[0].act is A.NOTIFY_FAILURE
    assert failed.acts[1].slot == "time" and "09:00" in failed.acts[1].values
    chat.say(act(A.INFORM, "time", "09:00", service=C))
    assert kinds(chat.say(act(A.AFFIRM, service=C))) == [(A.NOTIFY_SUCCESS, None)]


def test_changing_a_value_mid_dialogue_searches_again(form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, _ = form_agent
    chat = Script(agent)
    chat.say(intent("FindRestaurant"), act(A.INFORM, "city", "Porto"), act(A.INFORM, "cuisine", "italian"))
    reply = chat.say(act(A.INFORM, "city", "Barcelona"))
    offer = {a.slot: a.values[0] for a in reply.acts if a.act is A.OFFER}
    assert offer["city"] == "Barcelona" and offer["restaurant_name"] == "Giardino"


def test_switching_service_keeps_each_frame(form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, _ = form_agent
    chat = Script(agent)
    chat.say(intent("FindRestaurant"), act(A.INFORM, "city", "Porto"))
    reply = chat.say(intent("CheckBalance", B), act(A.INFORM, "account_type", "savings", service=B))
    assert chat.state.active_service == B
    assert reply.acts == (act(A.OFFER, "balance", "12,960.00 euros", service=B),
                          act(A.OFFER, "account_type", "savings", service=B),
                          act(A.INFORM_COUNT, "count", "1", service=B))  # fmt: skip
    assert chat.state.frame(R).slot_values["city"] == ("Porto",)


def test_goodbye_and_nothing_understood(form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, _ = form_agent
    chat = Script(agent)
    assert kinds(chat.say()) == [(A.REQUEST, None)]  # nothing understood: ask to rephrase
    chat.say(intent("FindRestaurant"))
    assert kinds(chat.say()) == [(A.REQUEST, "city")]  # ask the pending question again
    assert kinds(chat.say(act(A.GOODBYE))) == [(A.GOODBYE, None)]


def test_a_schema_without_transactional_intent_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dialog.backend import open_backends
    from dialog.conversation.agent import create_agent
    from dialog.schema import load_schema

    path = tmp_path / "weather.yaml"
    path.write_text(
        "version: 1\nservice: Weather\ndescription: Weather by city\n"
        "slots:\n  - {name: city, description: The city}\n  - {name: forecast, description: The forecast}\n"
        "intents:\n  - {name: GetWeather, description: Get the weather, required_slots: [city],"
        " result_slots: [forecast], table: weather}\n"
        "backend:\n  tables:\n    weather:\n      rows: [{city: Oslo, forecast: snow}]\n"
    )
    schema = load_schema(path)
    chat = Script(create_agent("form", [schema], open_backends([schema])))
    reply = chat.say(intent("GetWeather", "Weather"), act(A.INFORM, "city", "oslo", service="Weather"))
    assert act(A.OFFER, "forecast", "snow", service="Weather") in reply.acts
    assert kinds(chat.say(act(A.THANK_YOU, service="Weather"))) == [(A.REQ_MORE, None)]
