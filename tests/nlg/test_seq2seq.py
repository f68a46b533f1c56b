"""The Transformer NLG: delexicalisation and the slot-error counter on hand-made cases, the decoding
options, the guard's fallback, a few training steps, and the committed model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dialog.common.delex import (
    delexicalise,
    delexicalise_text,
    lexicalise,
    literals,
    options_clause,
    slot_errors,
)
from dialog.common.paths import models_dir
from dialog.common.text import tidy
from dialog.errors import TodError
from dialog.generation import Network, shortlist
from dialog.generation.lean import LeanDecoder
from dialog.generation.rules import NoStutter, SlotConstraint
from dialog.nlg.seq2seq import NLGConfig, Seq2SeqNLG, degenerate
from dialog.nlg.template import TemplateNLG
from dialog.types import ActType, DialogueAct, DialogueState, GenerationSettings

A = ActType
OFFER = (
    DialogueAct(A.OFFER, "restaurant_name", ("Il Forno",), "R"),
    DialogueAct(A.OFFER, "city", ("Porto",), "R"),
    DialogueAct(A.INFORM, "has_wifi", ("True",), "R"),
)


def test_values_become_placeholders_and_come_back() -> None:
    delexed, values = delexicalise(OFFER)
    assert values == {"restaurant_name": "Il Forno", "city": "Porto"}  # yes/no is said in words
    assert delexed[0].values == ("[restaurant_name]",) and delexed[2].values == ("True",)
    target = delexicalise_text("How about il forno in Porto? It has wifi.", values)
    assert target == "How about [restaurant_name] in [city]? It has wifi."
    assert delexicalise_text("How about Il Forno?", values) is None  # Porto not said: not a clean pair
    assert lexicalise("how about [restaurant_name] in [city]? it has wifi .", values) == (
        "How about Il Forno in Porto? It has wifi."
    )
    assert tidy("at [ restaurant _ name ] at 7 : 30 for $ 30") == "at [restaurant_name] at 7:30 for $30"
    assert (
        tidy("on 2026 - 12 - 01 , 120. 5 euros , match : 1. five")
        == "on 2026-12-01 , 120.5 euros , match: 1. five"
    )


@pytest.mark.parametrize(
    ("text", "expected", "errors"),
    [
        ("how about [restaurant_name] in [city]?", ["restaurant_name", "city"], (0, 0)),
        ("how about [restaurant_name]?", ["restaurant_name", "city"], (1, 0)),  # city missing
        ("[restaurant_name] in [city] at [time]", ["restaurant_name", "city"], (0, 1)),  # time invented
        ("[city] or [city]? [restaurant_name]", ["restaurant_name", "city"], (0, 1)),  # city twice
        ("nothing at all", ["restaurant_name"], (1, 0)),
        ("is there anything else?", [], (0, 0)),
    ],
)
def test_slot_error_counter(text: str, expected: list[str], errors: tuple[int, int]) -> None:
    assert slot_errors(text, expected) == errors


@pytest.fixture(scope="module")
def untrained() -> Seq2SeqNLG:
    torch.manual_seed(0)
    return Seq2SeqNLG.from_config(NLGConfig(decoder_layers=1, max_target=12))


def test_decoding_options(untrained: Seq2SeqNLG) -> None:
    source = [untrained.source(OFFER)[0]]
    greedy = untrained._decode(source, GenerationSettings(), 1)[0][0]
    assert untrained._decode(source, GenerationSettings(), 1)[0][0] == greedy  # deterministic
    beams = untrained._decode(source, GenerationSettings(num_beams=3), 3)[0]
    assert len(beams) == 3
    torch.manual_seed(1)
    top1 = untrained._decode(source, GenerationSettings(do_sample=True, top_k=1), 1)[0][0]
    assert top1 == greedy  # sampling from the single best token is greedy
    torch.manual_seed(1)
    hot = [
        untrained._decode(source, GenerationSettings(do_sample=True, temperature=5.0), 1)[0][0]
        for _ in range(3)
    ]
    assert len(set(hot)) > 1  # a hot sampler varies
    nucleus = untrained._decode(source, GenerationSettings(do_sample=True, top_p=0.5), 1)[0][0]
    assert isinstance(nucleus, str)
    biased = untrained._decode(source, GenerationSettings(logit_bias=(("hello", 100.0),)), 1)[0][0]
    assert biased.split()[0] == "hello"
    penalised = untrained._decode(source, GenerationSettings(repetition_penalty=10.0), 1)[0][0]
    words = penalised.split()
    assert len(words) == len(set(words)) or penalised != greedy


def test_guard_falls_back_on_the_template_when_every_beam_errs(untrained: Seq2SeqNLG) -> None:
    free = untrained.configured(constrain=False)
    [gen] = free.realise([(OFFER, DialogueState())])
    assert gen.fallback and len(gen.candidates) == 5  # greedy, then four beams
    assert gen.text == TemplateNLG([]).generate(OFFER, DialogueState())
    [raw] = free.realise([(OFFER, DialogueState())], guard=False)
    assert not raw.fallback and raw.missing == 2  # an untrained decoder writes no placeholder


def test_no_stutter_bars_repeated_trigrams_and_doubled_marks_outside_placeholders() -> None:
    from dialog.infra.encoder import load_tokenizer

    tokenizer = load_tokenizer()
    rule = NoStutter(tokenizer)

    def ids(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    def banned(text: str) -> set[str]:
        return set(tokenizer.convert_ids_to_tokens(sorted(rule.banned(ids(text)))))

    assert banned("the table is booked. the table") == {"is"}
    assert banned("is that right?") == set(NoStutter.MARKS)
    assert banned("at [time], [city] at [time], [city] at") == set()  # placeholders may recur
    assert banned("the table is booked") == set()
    # A row whose only allowed token would stutter keeps it: the rule never leaves a row without one.
    row = torch.tensor([[tokenizer.cls_token_id, *ids("the table is booked. the table")]])
    scores = torch.full((1, len(tokenizer)), float("-inf"))
    scores[0, tokenizer.convert_tokens_to_ids("is")] = 0.0
    assert torch.isfinite(rule(row, scores.clone())).sum() == 1
    scores[0, tokenizer.convert_tokens_to_ids("was")] = -1.0
    kept = rule(row, scores.clone())[0]
    assert kept[tokenizer.convert_tokens_to_ids("is")] == float("-inf") and torch.isfinite(kept).sum() == 1


def test_options_left_unsaid_are_said_in_a_clause_not_decoded_again(
    untrained: Seq2SeqNLG, monkeypatch: pytest.MonkeyPatch
) -> None:
    ask = (DialogueAct(A.REQUEST, "city", ("Lisbon", "Porto"), "R"),)
    assert options_clause(ask, "what city?") == "For example Lisbon or Porto."
    assert options_clause(ask, "lisbon or porto?") is None  # nothing left out
    both = (DialogueAct(A.INFORM, "city", ("Lisbon", "Porto"), "R"),)
    assert options_clause(both, "the city is nice") is None  # not a REQUEST: no clause mends it
    beams: list[int] = []

    def decode(sources, settings, n, slots=None):  # type: ignore[no-untyped-def]
        beams.append(settings.num_beams)
        return [["what city should i search in?"] * n for _ in sources]

    base = untrained.configured()  # a copy: patching the fixture would pin its own bound method
    monkeypatch.setattr(base, "_decode", decode)
    [gen] = base.configured(repair=True).realise([(ask, DialogueState())])
    assert gen.mended and not gen.fallback and beams == [1]  # no second decoding
    assert gen.text == "What city should I search in? For example Lisbon or Porto."
    [plain] = base.realise([(ask, DialogueState())])  # off by default
    assert not plain.mended and plain.fallback and beams[1:] == [1, 4]  # beams, then the template


def test_the_input_shows_every_value_even_one_the_schema_template_leaves_out(showcase) -> None:  # type: ignore[no-untyped-def]
    nlg = Seq2SeqNLG.__new__(Seq2SeqNLG)  # the input needs no network
    nlg.template = TemplateNLG(list(showcase.values()))
    confirm = tuple(
        DialogueAct(A.CONFIRM, slot, (value,), "BankTransfer")
        for slot, value in [
            ("recipient_account_type", "checking"),
            ("account_type", "savings"),
            ("amount", "50 euros"),
            ("recipient_name", "Emma Duarte"),
        ]
    )
    source, values = nlg.source(confirm)
    assert source == (
        "Please confirm a transfer of [amount] from your [account_type] account to [recipient_name]."
        " The recipient account type is [recipient_account_type]."
    )
    assert set(values) == {"recipient_account_type", "account_type", "amount", "recipient_name"}


def test_slot_constrained_decoding_says_each_value_once() -> None:
    torch.manual_seed(0)
    nlg = Seq2SeqNLG.from_config(NLGConfig(decoder_layers=1, max_target=40))
    [gen] = nlg.realise([(OFFER, DialogueState())], guard=False)
    said = gen.candidates[0].text
    assert said.count("[restaurant_name]") == 1 and said.count("[city]") == 1 and said.count("[") == 2
    assert "Il Forno" in gen.text and "Porto" in gen.text  # even an untrained decoder, forced


def test_plain_beam_search_keeps_the_slot_constraint() -> None:
    torch.manual_seed(0)
    nlg = Seq2SeqNLG.from_config(NLGConfig(decoder_layers=1, max_target=40))
    source, values = nlg.source(OFFER)
    texts = nlg._decode([source], GenerationSettings(num_beams=4), 4, [list(values)])[0]
    assert len(texts) == 4
    for text in texts:  # each beam, even of an untrained decoder, says each placeholder once
        assert text.count("[restaurant_name]") == 1 and text.count("[city]") == 1 and text.count("[") == 2


def test_a_few_steps_teach_one_pair(tmp_path: Path) -> None:
    from dialog.train.loop import TrainConfig, train

    torch.manual_seed(0)
    nlg = Seq2SeqNLG.from_config(NLGConfig(decoder_layers=1, max_target=16))
    source, _ = nlg.source(OFFER)
    target = "what about [restaurant_name] in [city]?"
    features = nlg.encode([source] * 8, [target] * 8)
    network = Network(nlg.model)

    def loss() -> float:
        with torch.no_grad():
            return float(network(**Seq2SeqNLG.collate(features)).loss)

    before = loss()
    train(
        network, features, Seq2SeqNLG.collate, lambda out, _b: out.loss,
        TrainConfig(epochs=30, batch_size=8, lr=3e-3, head_lr=3e-3, warmup=0.0), progress=False,
    )  # fmt: skip
    assert loss() < 0.1 * before
    [gen] = nlg.realise([(OFFER, DialogueState())])
    assert gen.text == "What about Il Forno in Porto?" and not gen.fallback
    nlg.save(tmp_path / "m")
    loaded = Seq2SeqNLG.load(tmp_path / "m")
    assert loaded.generate(OFFER, DialogueState()) == gen.text
    # The fast forms say the same: int8 linears, and an output layer over the target's word pieces
    # (the placeholders' pieces come from the input).
    with pytest.raises(TodError, match=r"no shortlist\.json"):
        Seq2SeqNLG.load(tmp_path / "m", shortlist=True)
    shortlist.write(tmp_path / "m", shortlist.target_ids(nlg.tokenizer, ["what about in?"]))
    fast = Seq2SeqNLG.load(tmp_path / "m", int8=True, shortlist=True)
    assert fast.shortlist is not None
    assert fast.generate(OFFER, DialogueState()) == gen.text


def test_missing_or_damaged_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TodError, match="missing"):
        Seq2SeqNLG.load(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({"kind": "nlu-bert", "format_version": 1}))
    (tmp_path / "weights.safetensors").write_bytes(b"junk")
    with pytest.raises(TodError, match="not a nlg-seq2seq"):
        Seq2SeqNLG.load(tmp_path)


@pytest.mark.skipif(not (models_dir() / "nlg-seq2seq").exists(), reason="no committed NLG yet")
def test_committed_model_still_scores_on_sgd_dev(data_dir: Path) -> None:
    import random

    from dialog.data.sgd import load_dialogues, read_sgd_schemas
    from dialog.data.views import nlg_pairs
    from dialog.eval.nlg import score_examples

    nlg = Seq2SeqNLG.load("nlg-seq2seq").with_schemas(read_sgd_schemas(data_dir, "dev"))
    pairs = [p for p in nlg_pairs(load_dialogues(data_dir, "dev")) if p.acts]
    sample = random.Random(0).sample(pairs, 120)
    scores = score_examples(nlg, sample)
    recorded = next(v for k, v in nlg.meta["metrics"].items() if k.startswith("sgd_dev"))
    assert scores["bleu"] >= recorded["bleu"] - 6  # a small slice varies
    assert scores["slot_error_rate"] <= 0.03
    # The latency figure decodes each reply, though the replies above are in the model's memo.
    from dialog.eval.nlg import latency
    from dialog.types import GenerationSettings

    memo = nlg.inference.memo_size
    timed = latency(nlg, sample, n=10, settings=GenerationSettings())
    assert timed["latency_ms_p50"] > 2.0 and nlg.inference.memo_size == memo


def test_shortlist_scores_only_its_pieces_and_the_inputs(untrained: Seq2SeqNLG) -> None:
    from torch import nn

    full = nn.Linear(8, 50)
    head = shortlist.ShortlistHead(full, [0, 3, 7])
    head.use_inputs(torch.tensor([[7, 9, 9, 12]]))
    hidden = torch.randn(2, 1, 8)
    out = head(hidden)
    expected = full(hidden).detach()
    scored = [0, 3, 7, 9, 12]
    assert torch.allclose(out[..., scored], expected[..., scored], atol=1e-6)
    others = [i for i in range(50) if i not in scored]
    assert torch.isinf(out[..., others]).all() and (out[..., others] < 0).all()


def test_deterministic_decodings_are_remembered(
    untrained: Seq2SeqNLG, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = [untrained.source(OFFER)[0]]
    runs = []
    real = untrained._run
    monkeypatch.setattr(untrained, "_run", lambda *a, **k: runs.append(a[0]) or real(*a, **k))
    untrained.memo.clear()
    first = untrained._decode(source, GenerationSettings(), 1)
    assert untrained._decode(source, GenerationSettings(), 1) == first and len(runs) == 1
    untrained._decode([*source, "Goodbye."], GenerationSettings(), 1)
    assert runs[-1] == ["Goodbye."]  # only the new source is decoded
    untrained._decode(source, GenerationSettings(do_sample=True), 1)
    assert len(runs) == 3  # sampling is never remembered
    untrained.configured(memo_size=1)._decode(["Hello."], GenerationSettings(), 1)
    assert len(untrained.memo) == 1  # bounded (the memo is shared with the configured copy)


def test_key_value_cache_gives_the_same_reply(untrained: Seq2SeqNLG) -> None:
    batch = untrained.collate(untrained.encode([untrained.source(OFFER)[0]]))
    untrained.model.eval()
    with torch.inference_mode():
        cached = untrained.model.generate(**batch, max_new_tokens=10, use_cache=True)
        plain = untrained.model.generate(**batch, max_new_tokens=10, use_cache=False)
    assert torch.equal(cached, plain)


def test_the_options_of_a_request_must_be_said_as_they_are() -> None:
    acts = (
        DialogueAct(A.REQUEST, "recipient_name", ("Maria Silva", "Carlos Ortega"), "B"),
        DialogueAct(A.REQUEST, "account_type", (), "B"),
    )
    words = literals(acts)
    assert words == ["Maria Silva", "Carlos Ortega"]
    assert slot_errors("Who should get it: maria silva or Carlos Ortega?", [], words) == (0, 0)
    assert slot_errors("Do you want to send me to visit to?", [], words) == (2, 0)
    assert degenerate("The transfer is 120.5.......... Is this correct?")
    assert degenerate("the transfer is savings and the transfer is savings")
    assert not degenerate("Please confirm: a transfer of [amount] to [recipient_name]. Is that right?")
    assert tidy("please confirm the following details : transfer 7 : 30") == (
        "please confirm the following details: transfer 7:30"
    )


def test_the_plain_greedy_loop_writes_what_generate_writes() -> None:
    from transformers import LogitsProcessorList

    nlg = Seq2SeqNLG.load("nlg-seq2seq").with_schemas([])
    sources = [
        "How about [restaurant_name] (city [city])?",
        "Which city would you like to eat in?",
        "Goodbye.",
    ]
    slots = [["restaurant_name", "city"], [], []]
    batch = nlg.collate(nlg.encode(sources))
    mine = nlg._search(batch, GenerationSettings(), slots, 1)
    constraint = SlotConstraint(nlg.tokenizer, slots, 1, nlg.config.max_target)
    with torch.inference_mode():
        out = nlg.model.generate(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            max_new_tokens=nlg.config.max_target,
            num_beams=1,
            do_sample=False,
            logits_processor=LogitsProcessorList([constraint]),
        )
    theirs = [tidy(t) for t in nlg.tokenizer.batch_decode(out, skip_special_tokens=True)]
    assert mine == theirs
    assert "[restaurant_name]" in mine[0] and "[city]" in mine[0]


def test_the_lean_decoder_step_scores_what_the_transformers_decoder_scores() -> None:
    nlg = Seq2SeqNLG.load("nlg-seq2seq", int8=False, shortlist=False)
    sources = [
        "Please confirm: a table for [party_size] at [restaurant_name] on [date]. Is that right?",
        "Goodbye.",
    ]
    batch = nlg.collate(nlg.encode(sources))  # padded: the source mask is exercised
    reply = nlg.tokenizer(["[CLS] how about [restaurant_name] in [city]?"] * 2, add_special_tokens=False)
    tokens = torch.tensor(reply["input_ids"])
    nlg.model.eval()
    with torch.inference_mode():
        memory = nlg.model.encoder(**batch).last_hidden_state
        whole = nlg.model.decoder(
            input_ids=tokens, encoder_hidden_states=memory, encoder_attention_mask=batch["attention_mask"]
        ).logits
        lean = LeanDecoder(nlg.model.decoder)
        lean.start(memory, batch["attention_mask"])
        stepped = torch.stack([lean.feed(tokens[:, i : i + 1]) for i in range(tokens.shape[1])], 1)
    assert torch.allclose(stepped, whole, atol=1e-3)


def test_sampling_several_replies_per_source_keeps_each_sources_placeholders() -> None:
    torch.manual_seed(0)
    nlg = Seq2SeqNLG.from_config(NLGConfig(decoder_layers=1, max_target=30))
    sources = [nlg.source(OFFER), nlg.source((DialogueAct(A.REQUEST, "date", (), "R"),))]
    settings = GenerationSettings(do_sample=True, seed=1)
    replies = nlg._decode([s for s, _ in sources], settings, 3, [list(v) for _, v in sources])
    assert [len(r) for r in replies] == [3, 3]
    assert all(t.count("[restaurant_name]") == 1 and t.count("[city]") == 1 for t in replies[0])
    assert not any("[restaurant_name]" in t or "[city]" in t for t in replies[1])  # not another's


def test_the_question_which_service_is_the_templates(untrained: Seq2SeqNLG) -> None:
    acts = (
        DialogueAct(ActType.OFFER_INTENT, "intent", ("FindDoctor",), "Clinic"),
        DialogueAct(ActType.OFFER_INTENT, "intent", ("BookTable",), "Restaurant"),
    )
    assert untrained.generate(acts, DialogueState()) == "Do you want to find doctor or book table?"
