"""Corpus replay: real user turns to an agent that keeps its own state, and the scoring of its turns
and transactions (hand-built dialogues over the showcase bank, and a slice of SGD dev)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from dialog.conversation.agent import create_agent
from dialog.eval.corpus import CorpusConfig, acts_f1, evaluate_corpus, same_call
from dialog.types import (
    ActType,
    Dialogue,
    DialogueAct,
    Frame,
    FrameState,
    ServiceCall,
    Speaker,
    Turn,
)

A = ActType
BANK = "BankTransfer"


def user(text: str, acts: Sequence[DialogueAct] = (), **values: str) -> Turn:
    state = FrameState("TransferMoney", (), {k: [v] for k, v in values.items()})
    return Turn(Speaker.USER, text, (Frame(BANK, tuple(acts), state=state),))


def system(text: str, acts: Sequence[DialogueAct] = (), call: ServiceCall | None = None) -> Turn:
    return Turn(Speaker.SYSTEM, text, (Frame(BANK, tuple(acts), service_call=call),))


def transfer_dialogue(recipient_in_corpus: str) -> Dialogue:
    """The user asks to send 50 euros to Maria Silva; the corpus (its state and call) says
    ``recipient``: another name stands for an agent that misheard."""
    values = {"amount": "50 euros", "recipient_name": recipient_in_corpus, "account_type": "checking"}
    call = ServiceCall("TransferMoney", values)
    confirm = tuple(DialogueAct(A.CONFIRM, k, (v,), BANK) for k, v in values.items())
    return Dialogue(
        "1_00001",
        (BANK,),
        (
            user("I want to transfer 50 euros to Maria Silva from my checking account", **values),
            system("Please confirm: 50 euros to Maria Silva from checking.", confirm),
            user("yes", (DialogueAct(A.AFFIRM, service=BANK),), **values),
            system("Sent.", (DialogueAct(A.NOTIFY_SUCCESS, service=BANK),), call),
        ),
    )


def run(showcase, dialogues, agent: str = "form"):  # type: ignore[no-untyped-def]
    config = CorpusConfig(agent=agent)
    return evaluate_corpus(
        config,
        lambda schemas, backends: create_agent(agent, schemas, backends),
        schemas=list(showcase.values()),
        dialogues=dialogues,
        seen=set(),
    )


def test_the_right_transaction_at_its_turn(showcase) -> None:  # type: ignore[no-untyped-def]
    metrics, (record,) = run(showcase, [transfer_dialogue("Maria Silva")])
    assert record.corpus_calls == 1 and record.right_calls == 1 and not record.wrong_calls
    assert metrics["transaction_right_rate"] == 1.0
    assert metrics["transaction_wrong_rate"] == 0.0 and metrics["transaction_missed_rate"] == 0.0
    assert metrics["joint_goal_accuracy"] == 1.0  # the form agent tracked what the user said
    assert metrics["wrong_service_rate"] == 0.0
    assert metrics["unseen"]["n_dialogues"] == 1 and metrics["seen"]["n_dialogues"] == 0


def test_a_transaction_with_other_arguments_is_wrong_and_missed(showcase) -> None:  # type: ignore[no-untyped-def]
    # The agent's call names another payee than the corpus's: it matches none of the corpus's
    # calls, so it counts as wrong, and the corpus call as missed.
    metrics, (record,) = run(showcase, [transfer_dialogue("Carlos Ortega")])
    assert record.right_calls == 0 and len(record.wrong_calls) == 1
    assert "Maria Silva" in record.wrong_calls[0]
    assert metrics["transaction_wrong_rate"] == 1.0 and metrics["transaction_missed_rate"] == 1.0
    assert metrics["wrong_transactions"] == [f"1_00001: {record.wrong_calls[0]}"]


def test_an_agent_that_crashes_fails_the_dialogue_and_the_run_goes_on(showcase) -> None:  # type: ignore[no-untyped-def]
    class Crashing:
        def respond(self, text: str, state: object) -> object:
            raise RuntimeError("boom")

    config = CorpusConfig(agent="crashing")
    dialogues = [transfer_dialogue("Maria Silva"), Dialogue("1_00002", ("Nowhere_1",), ())]
    metrics, records = evaluate_corpus(
        config, lambda s, b: Crashing(), schemas=list(showcase.values()), dialogues=dialogues, seen=set()
    )
    assert metrics["n_dialogues"] == 1 and metrics["n_errors"] == 1
    assert metrics["errors"] == ["1_00001: turn 0: RuntimeError: boom"]
    assert records[0].jga == [0.0, 0.0] and metrics["transaction_missed_rate"] == 1.0
    # a dialogue whose service has no schema is skipped and counted, never silently
    assert metrics["skipped"] == {"n_dialogues": 1, "services": {"Nowhere_1": 1}}


def test_same_call_reads_values_as_the_sgd_metric_does(showcase) -> None:  # type: ignore[no-untyped-def]
    schema = showcase[BANK]
    ref = ServiceCall(
        "TransferMoney", {"account_type": "checking", "amount": "50", "recipient_name": "Maria"}
    )
    said = {"amount": ["50 euros"]}
    hyp = {"account_type": "Checking", "amount": "50 euros", "recipient_name": "maria"}
    assert same_call(ref, ServiceCall("TransferMoney", hyp), schema, said)
    # a free-form value the state never listed does not match
    assert not same_call(ref, ServiceCall("TransferMoney", {**hyp, "amount": "500 euros"}), schema, {})
    # categorical values match exactly
    assert not same_call(ref, ServiceCall("TransferMoney", {**hyp, "account_type": "savings"}), schema, said)
    # an argument left out matches only the intent's default (recipient_account_type: dontcare)
    assert same_call(
        ref, ServiceCall("TransferMoney", {**hyp, "recipient_account_type": "dontcare"}), schema, said
    )
    assert not same_call(
        ref, ServiceCall("TransferMoney", {**hyp, "recipient_account_type": "savings"}), schema, said
    )
    # a free-form value the state never listed may still be the same amount, date or time
    assert same_call(ref, ServiceCall("TransferMoney", {**hyp, "amount": "50 bucks"}), schema, {})
    assert not same_call(ref, ServiceCall("CheckBalance", hyp), schema, said)


def test_act_f1_over_act_types_and_slots() -> None:
    ref = (DialogueAct(A.REQUEST, "city"), DialogueAct(A.REQUEST, "date"))
    assert acts_f1(ref, ref) == 1.0
    assert acts_f1(ref, (DialogueAct(A.REQUEST, "city", ("Porto",)),)) == pytest.approx(2 / 3)
    assert acts_f1((), ()) == 1.0 and acts_f1(ref, ()) == 0.0


def test_cli_replays_sgd_dev_dialogues(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "corpus.json"
    result = subprocess.run(
        [sys.executable, "-m", "dialog.cli", "eval", "corpus", "--agent", "form", "--split", "dev",
         "--sample", "4", "--data-dir", str(data_dir), "--quiet", "--json", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    m = json.loads(out.read_text())
    for key in ("n_dialogues", "joint_goal_accuracy", "act_f1", "bleu", "transaction_right_rate",
                "transaction_wrong_rate", "transaction_missed_rate", "inform_rate", "request_rate",
                "wrong_transaction_rate", "hallucinated_value_rate", "wrong_service_rate"):  # fmt: skip
        assert key in m and key in m["seen"] and key in m["unseen"]
    assert m["n_dialogues"] == 4 == m["seen"]["n_dialogues"] + m["unseen"]["n_dialogues"]
    assert 0.0 <= m["joint_goal_accuracy"] <= 1.0 and m["n_frames"] > 4
    assert m["config"]["agent"] == "form" and m["per_service"]
    # a split that is not there is a message, not a traceback
    result = subprocess.run(
        [sys.executable, "-m", "dialog.cli", "eval", "corpus", "--agent", "form", "--split", "nope",
         "--data-dir", str(data_dir), "--quiet", "--json", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "split 'nope' not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_split_the_project_never_saw_is_built_and_replayed(tmp_path: Path, data_dir: Path) -> None:
    """A held-out split (here: dev's Alarm_1 dialogues under a service name schemas/sgd lacks) gets its
    tables from `tod db build --split` and is replayed by `tod eval corpus --split`."""
    import gzip

    from dialog.data.sgd import raw_dialogues

    split = tmp_path / "data" / "sgd" / "test"
    split.mkdir(parents=True)
    with gzip.open(data_dir / "sgd" / "dev" / "schema.json.gz", "rt") as f:
        services = [s for s in json.load(f) if s["service_name"] == "Alarm_1"]
    rename = lambda text: text.replace("Alarm_1", "Clock_9")  # noqa: E731
    (split / "schema.json").write_text(rename(json.dumps(services)))
    dialogues = [d for p in sorted((data_dir / "sgd" / "dev").glob("dialogues_*.json.gz"))
                 for d in raw_dialogues(p) if d["services"] == ["Alarm_1"]][:3]  # fmt: skip
    (split / "dialogues_001.json").write_text(rename(json.dumps(dialogues)))
    (tmp_path / "data" / "sgd" / "train").symlink_to((data_dir / "sgd" / "train").resolve())
    db = tmp_path / "db"
    common = ["--data-dir", str(tmp_path / "data"), "--quiet"]
    result = subprocess.run([sys.executable, "-m", "dialog.cli", "db", "build", "--split", "test", "--out", str(db), *common],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (db / "Clock_9.sqlite").is_file() and (db / "Alarm_1.sqlite").is_file()
    out = tmp_path / "corpus.json"
    result = subprocess.run([sys.executable, "-m", "dialog.cli", "eval", "corpus", "--agent", "form", "--split", "test",
                             "--json", str(out), *common], capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    m = json.loads(out.read_text())
    assert m["n_dialogues"] == 3 and m["unseen"]["n_dialogues"] == 3 and list(m["per_service"]) == ["Clock_9"]
