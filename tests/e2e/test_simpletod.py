"""SimpleTOD: the sequence format's round trip, the finite-state machines on hand-built turns, the
decoding options, a few training steps that learn a tiny set, and the committed model."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from dialog.e2e.constrain import ActionMachine, BeliefMachine, ResponseMachine, Vocabulary
from dialog.e2e.format import (
    ACTIONS,
    BELIEF,
    DB,
    RESPONSE,
    SERVICES,
    SYSTEM,
    Segments,
    belief_text,
    parse_actions,
    parse_belief,
    schema_text,
    split_target,
)
from dialog.e2e.simpletod import Cursor, SimpleTOD, SimpleTODConfig, load_tokenizer, prefix_mask
from dialog.generation import Network
from dialog.generation.lean import LeanLM
from dialog.types import ActType, DialogueState, FrameState, GenerationSettings

A = ActType
SERVICE = "RestaurantBooking"
BOOKING = ("restaurant_name", "date", "time", "party_size")  # BookTable's slots


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return load_tokenizer()


@pytest.fixture(scope="module")
def vocab(tokenizer, showcase):  # type: ignore[no-untyped-def]
    return Vocabulary(tokenizer, list(showcase.values()))


def ids(tokenizer, text: str) -> list[int]:  # type: ignore[no-untyped-def]
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


FRAME = FrameState(
    "FindRestaurant",
    ("phone_number",),
    {"city": ("Porto",), "cuisine": ("italian",), "price_range": ("dontcare",)},
)


def test_belief_round_trip(showcase) -> None:  # type: ignore[no-untyped-def]
    text = belief_text({SERVICE: FRAME})
    assert text == (
        "restaurantbooking findrestaurant ; city = Porto ; cuisine = italian ; price_range = dontcare ; "
        "? phone_number |"
    )
    # Read back through the schema: its own names and values, the copied value's original text.
    parsed = parse_belief(text.lower(), showcase, {"porto": "Porto"})
    assert parsed.frames == {SERVICE: FRAME} and parsed.invalid == []


def test_invalid_names_and_values_are_dropped_and_listed(showcase) -> None:  # type: ignore[no-untyped-def]
    text = "restaurantbooking findrestaurant ; colour = red ; cuisine = klingon ; ? nope | atlantis none |"
    parsed = parse_belief(text, showcase)
    assert parsed.frames[SERVICE] == FrameState("FindRestaurant")
    assert parsed.invalid == [
        "slot 'colour'",
        "value 'klingon' of cuisine",
        "slot 'nope'",
        "service 'atlantis'",
    ]


def test_actions_and_parts(showcase) -> None:  # type: ignore[no-untyped-def]
    items, invalid = parse_actions(
        "offer restaurant_name ; inform_count count ; offer_intent intent = booktable ; dance ; request colour",
        showcase[SERVICE],
    )
    assert items == [
        (A.OFFER, "restaurant_name", None),
        (A.INFORM_COUNT, "count", None),
        (A.OFFER_INTENT, "intent", "BookTable"),
    ]
    assert invalid == ["act 'dance'", "slot 'colour'"]
    parts = split_target(f"inform {BELIEF} b {DB} 3 {ACTIONS} req_more {RESPONSE} anything else?")
    assert parts == {
        "user_acts": "inform",
        "belief": "b",
        "db": "3",
        "actions": "req_more",
        "response": "anything else?",
    }


def test_belief_machine_accepts_a_gold_turn_and_rejects_what_the_schema_does_not_have(
    tokenizer, vocab
) -> None:  # type: ignore[no-untyped-def]
    context = ids(tokenizer, "italian food in porto please")
    machine = BeliefMachine(vocab, vocab.context_values([context]), [SERVICE])
    gold = ids(tokenizer, f"inform_intent inform {BELIEF} {belief_text({SERVICE: FRAME})} {DB}")
    assert machine.run(gold).phase == "end"
    for bad in (
        f"inform {BELIEF} restaurantbooking findrestaurant ; colour = red |",  # no such slot
        f"inform {BELIEF} restaurantbooking findrestaurant ; cuisine = klingon |",  # not a value
        f"inform {BELIEF} restaurantbooking findrestaurant ; city = lisbon |",  # not in the context
        f"inform {BELIEF} bankTransfer none |",  # not the service of the turn
        f"inform {BELIEF} {DB}",  # the turn's service is due
        f"inform {BELIEF} restaurantbooking findrestaurant ; city = porto ; city = porto |",  # twice
        f"inform inform {BELIEF}",  # the same user act twice
    ):
        with pytest.raises(ValueError):
            machine.run(ids(tokenizer, bad))
    # The mask keeps exactly the allowed tokens: after "city =" only spans of the context (and defaults).
    state = machine.run(ids(tokenizer, f"inform {BELIEF} restaurantbooking findrestaurant ; city ="))
    allowed = machine.allowed(state)
    assert allowed is not None and ids(tokenizer, "porto")[0] in allowed
    assert ids(tokenizer, "lisbon")[0] not in allowed
    masked = machine.mask(state, torch.zeros(len(tokenizer)))
    assert torch.isfinite(masked).sum().item() == len(allowed)
    # An optional slot's default may be written for that slot only (party_size: 2, not time: 2).
    said = f"inform {BELIEF} restaurantbooking booktable ; "
    machine.run(ids(tokenizer, said + "party_size = 2"))
    with pytest.raises(ValueError):
        machine.run(ids(tokenizer, said + "time = 2"))
    # A copied value neither starts nor ends inside a word.
    pieces = ids(tokenizer, "findrestaurants")
    assert len(pieces) > 1
    values = vocab.context_values([pieces])
    assert pieces[1] not in values.children and not values.children[pieces[0]].terminal
    assert values.walk(pieces) is not None and values.walk(pieces).terminal


def test_no_machine_leads_to_a_dead_end(tokenizer, vocab) -> None:  # type: ignore[no-untyped-def]
    """Random walks through each machine (often taking ``;`` and ``?``, so that a block may name every
    slot): every state before the end allows some token."""
    import random

    context = ids(tokenizer, "italian food in porto, at 7 pm for 2 please: now!")
    machines = [
        BeliefMachine(vocab, vocab.context_values([context]), None),
        BeliefMachine(vocab, vocab.context_values([context]), [SERVICE, "BankTransfer"]),
        *(ActionMachine(vocab, service) for service in (SERVICE, None)),
        ActionMachine(vocab, SERVICE, FrameState("FindRestaurant", (), {"city": ("Porto",)})),
        ActionMachine(vocab, SERVICE, FrameState("BookTable", (), {s: ("x",) for s in BOOKING})),
    ]
    rng = random.Random(0)
    for machine in machines:
        for _ in range(300):
            state = machine.start()
            for _ in range(200):
                allowed = machine.allowed(state)
                assert allowed, f"{type(machine).__name__}: nothing allowed in phase {state.phase}"
                loops = sorted(allowed & {vocab.item, vocab.requested})  # toward every slot written
                token = rng.choice(loops if loops and rng.random() < 0.6 else sorted(allowed))
                if token in (vocab.marker[DB], vocab.marker[RESPONSE]):
                    break
                state = machine.advance(state, token)
            else:
                pytest.fail(f"{type(machine).__name__} did not end in 200 tokens")


def test_action_and_response_machines(tokenizer, vocab) -> None:  # type: ignore[no-untyped-def]
    actions = ActionMachine(vocab, SERVICE)
    assert (
        actions.run(ids(tokenizer, f"offer restaurant_name ; inform_count count {RESPONSE}")).phase == "end"
    )
    assert actions.run(ids(tokenizer, f"offer_intent intent = booktable {RESPONSE}")).phase == "end"
    for bad in ("offer colour", "dance", "offer_intent intent = fly", " ; ".join(["req_more"] * 9)):
        with pytest.raises(ValueError):
            actions.run(ids(tokenizer, bad))
    reply = ResponseMachine(vocab, ["restaurant_name"])
    state = reply.run(ids(tokenizer, "how about"))
    assert vocab.eos in reply.banned(state)  # cannot end before the name is said
    state = reply.run(ids(tokenizer, "how about [restaurant_name] ?"))
    assert vocab.eos not in reply.banned(state) and reply.open in reply.banned(state)
    assert reply.close in reply.banned(state) and reply.close in reply.banned(reply.start())
    with pytest.raises(ValueError):
        reply.run(ids(tokenizer, "how about [city]"))
    # No three words twice: the loop is cut, words around a placeholder may repeat.
    looping = ResponseMachine(vocab, ["city", "date", "time"])
    state = looping.run(ids(tokenizer, "in [city] the city of the city"))
    assert ids(tokenizer, "of")[0] in looping.banned(state)
    assert looping.open not in looping.banned(looping.run(ids(tokenizer, "on [city] on [date] and on")))
    assert looping.run(ids(tokenizer, "in the [city] , in the [date] [time]")).phase == "text"
    with pytest.raises(ValueError):
        looping.run(ids(tokenizer, "in the city [city] , in the city"))
    # With a shortlist, only its words (and the brackets and end when due) may be said.
    listed = ResponseMachine(vocab, ["city"], ids(tokenizer, "how about a place in the city ,"))
    allowed = listed.allowed(listed.start())
    assert allowed is not None and listed.open in allowed and vocab.eos not in allowed
    assert ids(tokenizer, "place")[0] in allowed and ids(tokenizer, "zebra")[0] not in allowed
    state = listed.run(ids(tokenizer, "a place in [city]"))
    assert vocab.eos in (listed.allowed(state) or ()) and listed.open not in (listed.allowed(state) or ())
    with pytest.raises(ValueError):
        listed.run(ids(tokenizer, "a zebra in [city]"))
    state = listed.run(ids(tokenizer, "a place in the city , place in"))
    assert ids(tokenizer, "the")[0] not in (listed.allowed(state) or ())  # nor three words twice


def test_the_action_machine_follows_the_active_intent(tokenizer, vocab) -> None:  # type: ignore[no-untyped-def]
    search = ActionMachine(vocab, SERVICE, FrameState("FindRestaurant", (), {"city": ("Porto",)}))
    assert search.run(ids(tokenizer, f"request cuisine ; request price_range {RESPONSE}")).phase == "end"
    # city is said; time belongs to the booking; a search is not confirmed
    for bad in ("request city", "request time", "confirm city"):
        with pytest.raises(ValueError):
            search.run(ids(tokenizer, bad))
    told = {s: ("x",) for s in BOOKING}
    booking = ActionMachine(vocab, SERVICE, FrameState("BookTable", (), told))
    assert (
        booking.run(ids(tokenizer, f"confirm restaurant_name ; confirm party_size {RESPONSE}")).phase == "end"
    )
    with pytest.raises(ValueError):  # every slot of the booking is said: nothing left to ask
        booking.run(ids(tokenizer, "request"))
    with pytest.raises(ValueError):
        booking.run(ids(tokenizer, "confirm cuisine"))
    # A booking with a required slot still unsaid is not confirmed yet: the slot is asked for.
    told = {s: ("x",) for s in BOOKING if s != "time"}  # time is required, party_size optional
    partial = ActionMachine(vocab, SERVICE, FrameState("BookTable", (), told))
    assert partial.run(ids(tokenizer, f"request time {RESPONSE}")).phase == "end"
    with pytest.raises(ValueError):
        partial.run(ids(tokenizer, "confirm date"))
    # Without a frame (or with no intent yet) every slot of the service may be named.
    assert ActionMachine(vocab, SERVICE).run(ids(tokenizer, f"request time {RESPONSE}")).phase == "end"
    unknown = ActionMachine(vocab, SERVICE, FrameState())
    assert unknown.run(ids(tokenizer, f"confirm city {RESPONSE}")).phase == "end"


def test_services_are_read_before_the_turn_when_the_model_was_trained_so(showcase) -> None:  # type: ignore[no-untyped-def]
    text = schema_text([showcase[SERVICE]])
    assert text == (
        "restaurantbooking : findrestaurant ( city cuisine ) booktable ( restaurant_name date time ) ; "
        "price_range address phone_number party_size |"
    )
    seg = Segments("hello", "italian food", "", services=text)
    plain = SimpleTOD.from_config(SimpleTODConfig(init="scratch", layers=1, hidden=32, heads=2))
    reading = SimpleTOD.from_config(
        SimpleTODConfig(init="scratch", layers=1, hidden=32, heads=2, schema_context=True)
    )
    without, parts = plain.context(seg)
    with_services, same_parts = reading.context(seg)
    assert parts == same_parts  # values are still copied from the utterances only
    names = plain.tokens(text, 200)
    assert with_services[1 : 3 + len(names)] == [reading.ids[SERVICES], *names, reading.ids[SYSTEM]]
    assert len(with_services) == len(without) + len(names) + 1


def tiny_segments() -> list[Segments]:
    return [
        Segments(
            "", "italian food in porto", "", "", "inform_intent inform",
            "restaurantbooking findrestaurant ; city = porto ; cuisine = italian |", "2",
            "offer restaurant_name ; inform_count count", "how about [restaurant_name]?",
        ),
        Segments(
            "", "send 20 to ana", "", "", "inform_intent inform",
            "banktransfer transfermoney ; amount = 20 ; recipient_name = ana |", "none",
            "request account_type", "from which account?",
        ),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_model():  # type: ignore[no-untyped-def]
    """A small decoder from scratch, trained until it knows two turns by heart."""
    torch.manual_seed(0)
    model = SimpleTOD.from_config(SimpleTODConfig(init="scratch", layers=2, hidden=64, heads=2))
    features = model.encode(tiny_segments())
    batch = model.collate(features)
    network = Network(model.model)
    optimizer = torch.optim.AdamW(network.parameters(), lr=3e-3)
    network.train()
    losses = []
    for _ in range(150):
        loss = network(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    return model


def test_training_learns_a_tiny_set_and_writes_a_valid_belief(tiny_model, showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.e2e.track import context, write_belief

    vocab = Vocabulary(tiny_model.tokenizer, list(showcase.values()))
    ctx = context(tiny_model, vocab, "", "italian food in porto", {})
    belief = write_belief(tiny_model, vocab, ctx)
    assert belief.frames == {
        SERVICE: FrameState("FindRestaurant", (), {"city": ("porto",), "cuisine": ("italian",)})
    }
    assert belief.user_acts == [A.INFORM_INTENT, A.INFORM] and belief.invalid == []


def test_decoding_options_and_the_cache(tiny_model, showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.e2e.track import context

    vocab = Vocabulary(tiny_model.tokenizer, list(showcase.values()))
    ctx = context(tiny_model, vocab, "", "italian food in porto", {})
    stops = {vocab.marker[DB]}
    greedy = tiny_model.write(Cursor(ctx.ids), stops)
    beam = tiny_model.write(Cursor(ctx.ids), stops, settings=GenerationSettings(num_beams=3))
    assert beam.tokens == greedy.tokens  # a model this sure: the same best sequence
    # Continuing from the cache equals feeding the whole sequence again.
    more = tiny_model.write(greedy.cursor, {vocab.eos}, max_new=5)
    again = tiny_model.write(Cursor(greedy.cursor.tokens), {vocab.eos}, max_new=5)
    assert more.tokens == again.tokens
    # Sampling: reproducible with a seeded generator, and always within the machine.
    settings = GenerationSettings(do_sample=True, top_k=20, top_p=0.9, temperature=1.5)
    runs = []
    for _ in range(2):
        machine = BeliefMachine(vocab, ctx.machine_values, None)
        runs.append(tiny_model.write(Cursor(ctx.ids), stops, machine, replace(settings, seed=3), max_new=40))
    assert runs[0].tokens == runs[1].tokens
    machine = BeliefMachine(vocab, ctx.machine_values, None)
    machine.run(runs[0].tokens[:-1] if runs[0].tokens[-1] in stops else runs[0].tokens)


def test_forced_tokens_fed_together_write_what_one_at_a_time_would(tiny_model, showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.e2e.track import context

    vocab = Vocabulary(tiny_model.tokenizer, list(showcase.values()))
    ctx = context(tiny_model, vocab, "", "italian food in porto", {})
    stops = {vocab.marker[DB]}
    for max_new in (40, 9):  # to the stop, and cut inside a name
        machine = BeliefMachine(vocab, ctx.machine_values, None)
        written = tiny_model.write(Cursor(ctx.ids), stops, machine, max_new=max_new)
        # The reference: every token scored and fed on its own.
        state, tokens = machine.start(), []
        with torch.inference_mode():
            past = LeanLM(tiny_model.model, len(ctx.ids) if tiny_model.config.attention == "prefix" else 0)
            logits = past.feed(torch.tensor([ctx.ids]))
            while len(tokens) < max_new:
                token = int(machine.mask(state, logits[0]).argmax())
                tokens.append(token)
                if token in stops:
                    break
                state = machine.advance(state, token)
                logits = past.feed(torch.tensor([[token]]))
        assert written.tokens == tokens
        forced = sum(
            1 for i in range(len(tokens)) if len(machine.allowed(machine.run(tokens[:i])) or ()) == 1
        )
        assert forced >= 3  # the run had names to finish
        # The cache holds every token but the last, so writing on continues as from scratch.
        more = tiny_model.write(written.cursor, {vocab.eos}, max_new=4)
        again = tiny_model.write(Cursor(written.cursor.tokens), {vocab.eos}, max_new=4)
        assert more.tokens == again.tokens


def test_prefix_attention_reads_the_context_both_ways_and_decodes_with_the_cache() -> None:
    torch.manual_seed(0)
    model = SimpleTOD.from_config(
        SimpleTODConfig(init="scratch", layers=2, hidden=64, heads=2, attention="prefix")
    )
    model.model.eval()
    tokens, prefix = list(range(2000, 2012)), 7

    def logits(seq: list[int]) -> torch.Tensor:
        mask = prefix_mask(torch.tensor([prefix]), torch.ones((1, len(seq)), dtype=torch.long))
        with torch.no_grad():
            return model.model(input_ids=torch.tensor([seq]), attention_mask=mask).logits[0]

    full = logits(tokens)
    # A context token sees the ones after it; a written token does not change what comes before it.
    assert not torch.allclose(logits([*tokens[:6], 2999, *tokens[7:]])[0], full[0])
    assert torch.allclose(logits([*tokens[:9], 2999, *tokens[10:]])[:9], full[:9], atol=1e-5)
    # Decoding over the cache, from the context read once, gives the same next-token scores.
    with torch.no_grad():
        past = LeanLM(model.model, prefix)
        step = past.feed(torch.tensor([tokens[:prefix]]))
        assert torch.allclose(step[0], full[prefix - 1], atol=1e-4)
        step = past.feed(torch.tensor([tokens[prefix : prefix + 3]]))  # several at once (the DB part)
        assert torch.allclose(step[0], full[prefix + 2], atol=1e-4)
        # Only the tokens a machine allows: their scores, the others -inf.
        few = LeanLM(model.model, prefix).feed(torch.tensor([tokens[:prefix]]), only={5, 2001, 3000})
        assert torch.isinf(few[0]).sum() == few.shape[1] - 3
        assert torch.allclose(few[0, [5, 2001, 3000]], full[prefix - 1, [5, 2001, 3000]], atol=1e-4)
        for i in range(prefix + 3, len(tokens)):
            step = past.feed(torch.tensor([[tokens[i]]]))
            assert torch.allclose(step[0], full[i], atol=1e-4)
    # The training batch holds the same masks, padding never seen.
    short = tokens[:9]
    batch = model.collate(
        [
            {"input_ids": tokens, "labels": tokens, "prefix": prefix},
            {"input_ids": short, "labels": short, "prefix": 5},
        ]
    )
    assert batch["attention_mask"].shape == (2, 1, 12, 12)
    assert (batch["attention_mask"][1, 0, :, 9:] < -1e30).all()
    assert (batch["attention_mask"][1, 0, 0, :5] == 0).all() and (
        batch["attention_mask"][1, 0, 5, 6:] < 0
    ).all()
    written = model.write(Cursor(tokens[:prefix], prefix=prefix), set(), max_new=3)
    assert written.tokens[0] == int(full[prefix - 1].argmax()) and written.cursor.prefix == prefix


def test_eval_dst_tracks_only_the_sample_asked(tiny_model, data_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from tests.test_cli import tod

    tiny_model.save(tmp_path / "tiny")
    out = tmp_path / "dst.json"
    args = ("eval", "dst", "--model", str(tmp_path / "tiny"), "--sample", "2", "--json", str(out))
    result = tod(*args, "--data-dir", str(data_dir), "--quiet")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["n_dialogues"] == 2 and report["invalid_items"] == 0 and report["beams"] == 1
    beamed = tod(*args, "--beams", "2", "--data-dir", str(data_dir), "--quiet")
    assert beamed.returncode == 0, beamed.stderr
    report = json.loads(out.read_text())
    assert report["beams"] == 2 and report["n_frames"] > 0 and report["invalid_items"] == 0
    from dialog.data.sgd import read_sgd_schemas
    from dialog.e2e.align import save_trained

    save_trained(read_sgd_schemas(data_dir, "train"), tmp_path / "tiny")  # new services are now aligned
    aligned = tod(*args, "--data-dir", str(data_dir), "--quiet")
    assert aligned.returncode == 0, aligned.stderr
    report = json.loads(out.read_text())
    assert report["aligned"]["Restaurants_2"]["with"] == "Restaurants_1" and report["n_frames"] > 0
    assert tod(*args, "--no-align", "--data-dir", str(data_dir), "--quiet").returncode == 0
    assert json.loads(out.read_text())["aligned"] == {}
    assert tod(*args, "--align-min", "1", "--data-dir", str(data_dir), "--quiet").returncode == 0
    assert json.loads(out.read_text())["aligned"] == {}  # no other name is that close
    reworded = tod(*args, "--sgd-x", "5", "--data-dir", str(data_dir), "--quiet")  # every name new
    assert reworded.returncode == 0, reworded.stderr
    report = json.loads(out.read_text())
    assert report["sgd_x"] == 5 and report["n_dialogues"] == 2
    assert "Restaurants_1" in {a["with"] for a in report["aligned"].values()}
    refused = tod("eval", "dst", "--model", "dst-bert", "--beams", "2", "--json", str(out), "--quiet")
    assert refused.returncode != 0 and "--beams applies to simpletod" in refused.stderr


def test_int8_weights_load_back_close_and_smaller(tiny_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tiny_model.save(tmp_path / "fp16")
    tiny_model.save(tmp_path / "int8", int8=True)
    small, big = ((tmp_path / d / "weights.safetensors").stat().st_size for d in ("int8", "fp16"))
    assert small < 0.7 * big
    loaded = dict(SimpleTOD.load(tmp_path / "int8").model.named_parameters())
    for name, param in tiny_model.model.named_parameters():
        if param.requires_grad:
            assert (loaded[name] - param).abs().max() <= 0.01 * param.abs().max() + 1e-3, name


def test_int8_inference_quantizes_the_layers_and_writes_the_same_belief(
    tiny_model, showcase, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from dialog.e2e.track import context, write_belief
    from dialog.infra.artifacts import update_meta

    tiny_model.save(tmp_path)
    vocab = Vocabulary(tiny_model.tokenizer, list(showcase.values()))
    beliefs = []
    for int8 in (False, True):
        model = SimpleTOD.load(tmp_path, int8=int8)
        kinds = {type(m).__module__ for m in model.model.bert.encoder.modules()}
        assert any("quantized" in k for k in kinds) == int8
        ctx = context(model, vocab, "", "italian food in porto", {})
        beliefs.append(write_belief(model, vocab, ctx).frames)
    assert beliefs[0] == beliefs[1] and beliefs[0]
    update_meta(tmp_path, {"inference": {"int8": True}})  # the default follows the meta
    assert any("quantized" in type(m).__module__ for m in SimpleTOD.load(tmp_path).model.modules())
    assert not any(
        "quantized" in type(m).__module__ for m in SimpleTOD.load(tmp_path, merge=False).model.modules()
    )


COMMITTED = pytest.mark.skipif(
    not (Path(__file__).resolve().parents[2] / "data" / "models" / "simpletod" / "meta.json").is_file(),
    reason="no committed SimpleTOD model",
)


@COMMITTED
def test_committed_model_writes_a_valid_belief_on_a_known_turn(data_dir) -> None:  # type: ignore[no-untyped-def]
    from dialog.data.sgd import read_sgd_schemas
    from dialog.e2e.track import context, write_belief

    model = SimpleTOD.load("simpletod")
    schemas = read_sgd_schemas(data_dir, "dev")
    vocab = Vocabulary(model.tokenizer, schemas)
    text = "I want to make a restaurant reservation for 2 people at half past 11 in the morning."
    ctx = context(model, vocab, "", text, {})
    belief = write_belief(model, vocab, ctx, ["Restaurants_2"])
    assert belief.invalid == [] and set(belief.frames) == {"Restaurants_2"}
    frame = belief.frames["Restaurants_2"]
    assert frame.active_intent == "ReserveRestaurant"
    for slot, values in frame.slot_values.items():  # every value is the schema's or copied from the turn
        spec = schemas[[s.service for s in schemas].index("Restaurants_2")].slot(slot)
        assert values[0] in spec.values or values[0] in text or values[0] == "dontcare"


@COMMITTED
def test_committed_agent_answers_odd_input_and_leaves_the_tables_alone(showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.backend import open_backends
    from dialog.conversation.agent import create_agent

    schemas = list(showcase.values())
    backends = open_backends(schemas)
    agent = create_agent("simpletod", schemas, backends)
    before = {name: backend.fingerprint() for name, backend in backends.items()}
    state = DialogueState()
    for text in (
        "",
        "x" * 20_000,
        "Robert'); DROP TABLE restaurants;--",
        "{restaurant_name} {{7*7}}",
        "日本語で",
    ):
        reply = agent.respond(text, state)
        assert reply.text.strip()
        state = reply.state
    reply = agent.respond("I want to eat italian food in Porto", DialogueState())
    assert reply.text.strip() and reply.acts
    assert {name: backend.fingerprint() for name, backend in backends.items()} == before


@COMMITTED
def test_an_action_without_its_value_is_dropped_and_said_so(showcase) -> None:  # type: ignore[no-untyped-def]
    """An offer with no result to take it from is dropped; the agent then answers with the template,
    since the model's reply would follow the actions it wrote."""
    from dialog.backend import open_backends
    from dialog.conversation.agent import create_agent

    schemas = list(showcase.values())
    agent = create_agent("simpletod", schemas, open_backends(schemas))
    bank = showcase["BankTransfer"]
    acts, dropped = agent._fill(
        [(A.OFFER, "balance", None), (A.REQUEST, "amount", None)], bank, DialogueState()
    )
    assert dropped and [(a.act, a.slot) for a in acts] == [(A.REQUEST, "amount")]
    acts, dropped = agent._fill([(A.REQUEST, "amount", None)], bank, DialogueState())
    assert not dropped


def test_renamed_names_are_swapped_in_every_part_and_nowhere_else(showcase) -> None:  # type: ignore[no-untyped-def]
    import random

    from dialog.e2e.train import renamed, variants

    schema = showcase[SERVICE]
    names = variants([schema], random.Random(0))
    assert names["restaurantbooking"].startswith("restaurantbooking_")
    assert all(new != old for old, new in names.items())
    names = {"restaurantbooking": "eat_12", "findrestaurant": "search_restaurant", "city": "city_located"}
    seg = Segments(
        "which city?", "porto, the city of bridges", "restaurantbooking findrestaurant ; city = porto |",
        "city = porto", "inform", "restaurantbooking findrestaurant ; city = porto |", "3",
        "request cuisine ; offer city", "what food in [city]?",
        services=schema_text([schema]),
    )  # fmt: skip
    out = renamed(seg, names)
    assert out.system == seg.system and out.user == seg.user  # the utterances are what values come from
    assert out.belief == "eat_12 search_restaurant ; city_located = porto |" == out.previous
    assert out.offers == "city_located = porto" and out.actions == "request cuisine ; offer city_located"
    assert out.response == "what food in [city_located]?"
    assert out.services.startswith("eat_12 : search_restaurant ( city_located cuisine )")


def test_a_written_default_is_read_back_as_the_schema_writes_it(tokenizer, showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.e2e.format import lookup

    vocab = Vocabulary(tokenizer, list(showcase.values()))
    assert vocab.defaults[SERVICE, "party_size"] == ["2"]
    assert lookup(vocab.defaults[SERVICE, "party_size"], "2") == "2"
    assert lookup(vocab.defaults[SERVICE, "party_size"], "3") is None
    assert lookup(vocab.defaults.get((SERVICE, "city"), []), "2") is None  # not another slot's
    assert lookup(["2019-03-01"], "2019 - 03 - 01") == "2019-03-01"  # decoded text is spaced


def test_a_copied_value_does_not_end_with_a_comma(tokenizer, vocab) -> None:  # type: ignore[no-untyped-def]
    values = vocab.context_values([ids(tokenizer, "make it porto, please")])
    assert values.walk(ids(tokenizer, "porto")).terminal
    assert not values.walk(ids(tokenizer, "porto,")).terminal
    assert values.walk(ids(tokenizer, "porto, please")).terminal  # inside a value it may stay


def test_export_int8_stores_one_model_or_the_mean_of_several(tiny_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tiny_model.save(tmp_path / "a")
    first = dict(tiny_model.model.named_parameters())
    other = SimpleTOD.load(tmp_path / "a")  # a copy, so that the shared fixture stays as it is
    with torch.no_grad():
        for param in other.model.parameters():
            param.add_(0.5)
    other.save(tmp_path / "b")
    (tmp_path / "a" / "trained_schemas.json").write_text("[]\n")  # a side file, which goes along
    tod = [sys.executable, "-m", "dialog.cli", "export", "int8"]
    one = subprocess.run(
        [*tod, "--model", str(tmp_path / "a"), "--out", str(tmp_path / "int8")],
        capture_output=True,
        text=True,
    )
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["largest_relative_change"] < 0.01  # int8 rows, one scale each
    both = ["--model", str(tmp_path / "a"), "--model", str(tmp_path / "b")]
    done = subprocess.run([*tod, *both, "--out", str(tmp_path / "mean")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mean" / "trained_schemas.json").read_text() == "[]\n"
    mean = dict(SimpleTOD.load(tmp_path / "mean").model.named_parameters())
    for name, param in first.items():
        if param.requires_grad:
            expected = param + 0.25
            assert (mean[name] - expected).abs().max() <= 0.01 * expected.abs().max() + 1e-3, name
    assert "the mean of" in json.loads((tmp_path / "mean" / "meta.json").read_text())["weights"]
