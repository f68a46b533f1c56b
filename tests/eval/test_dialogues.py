from __future__ import annotations

import random

from dialog.conversation.simulation import run_dialogue
from dialog.eval.dialogues import EvalConfig, evaluate
from dialog.types import ActType, DialogueAct, Goal, SubGoal
from dialog.user.agenda import AgendaUser


def test_form_agent_succeeds_at_act_and_text_level(showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.backend import open_backends

    schemas = list(showcase.values())
    backends = open_backends(schemas)
    before = {s: b.fingerprint() for s, b in backends.items()}
    for level in ("acts", "text"):
        result = evaluate(schemas, backends, EvalConfig(n=40, seed=3, level=level))  # type: ignore[arg-type]
        assert result.metrics["n_dialogues"] == 120
        assert result.metrics["success_rate"] >= 0.95, level
        assert set(result.metrics["per_schema"]) == set(showcase)
        assert result.samples(3)
        # the form agent books only what the user asked for, in the service the user meant
        assert result.metrics["wrong_transaction_rate"] == 0.0, result.metrics["wrong_transactions"]
        assert result.metrics["wrong_service_rate"] == 0.0
        # replies are checked for invented values when there are replies
        assert (result.metrics["hallucinated_value_rate"] is None) == (level == "acts")
    # Every dialogue ran in a sandbox: the bookings are gone, the free slots are back.
    assert {s: b.fingerprint() for s, b in backends.items()} == before
    assert all(b.transactions() == [] for b in backends.values())


def test_user_errors_lower_success(showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.backend import open_backends

    schemas = list(showcase.values())
    backends = open_backends(schemas)
    clean = evaluate(schemas, backends, EvalConfig(n=40, seed=5)).metrics["success_rate"]
    noisy = evaluate(schemas, backends, EvalConfig(n=40, seed=5, nlu_error=0.3)).metrics["success_rate"]
    assert noisy < clean - 0.1


def test_every_run_with_a_seed_meets_the_same_goals(showcase) -> None:  # type: ignore[no-untyped-def]
    """Paired comparisons: how one dialogue went (here, with or without the users' NLU errors, which
    draw from the dialogue's RNG) does not change the goals of the next ones."""
    from dialog.backend import open_backends

    schemas = list(showcase.values())
    backends = open_backends(schemas)
    runs = [
        evaluate(schemas, backends, EvalConfig(n=8, seed=2, nlu_error=e), keep_transcripts=8)
        for e in (0.0, 0.4)
    ]
    goals = [[t.goal for t in run.transcripts] for run in runs]
    assert len(goals[0]) == 24 and goals[0] == goals[1]
    heard = [[turn.heard_acts for t in run.transcripts for turn in t.turns] for run in runs]
    assert heard[0] != heard[1]  # the errors did change the dialogues


def test_the_turn_cap_stops_the_dialogue_and_says_why(form_agent, showcase) -> None:  # type: ignore[no-untyped-def]
    agent, _ = form_agent
    user = AgendaUser(list(showcase.values()))
    goal = Goal((SubGoal("RestaurantBooking", "FindRestaurant", {"city": "Porto", "cuisine": "italian"}),))
    transcript = run_dialogue(agent, user, goal, random.Random(0), max_turns=1)
    assert len(transcript.turns) == 1 and transcript.end_reason == "turn cap"
    assert transcript.user is not None and transcript.user.abandoned


def test_the_system_goodbye_ends_the_dialogue(form_agent, showcase) -> None:  # type: ignore[no-untyped-def]
    agent, _ = form_agent
    user = AgendaUser(list(showcase.values()))
    goal = Goal((SubGoal("RestaurantBooking", "FindRestaurant", {"city": "Porto", "cuisine": "italian"}),))
    transcript = run_dialogue(agent, user, goal, random.Random(0))
    assert transcript.turns[-1].reply.acts == (DialogueAct(ActType.GOODBYE),)
    assert transcript.end_reason in ("goal done", "system goodbye")


def test_report_compares_runs(tmp_path, showcase) -> None:  # type: ignore[no-untyped-def]
    import json

    from dialog.backend import open_backends
    from dialog.eval.compare import load_runs, write_report
    from dialog.eval.dialogues import EvalConfig, evaluate

    schemas = list(showcase.values())
    backends = open_backends(schemas)
    paths = []
    for rate in (0.0, 0.3):
        metrics = evaluate(schemas, backends, EvalConfig(n=8, seed=2, nlu_error=rate)).metrics
        assert metrics["satisfaction"] is not None and 0.0 <= metrics["satisfaction"] <= 1.0
        assert metrics["samples"] and "satisfaction" in metrics["samples"][0]["turns"][0]
        paths.append(tmp_path / f"run{rate}.json")
        paths[-1].write_text(json.dumps(metrics))
    runs = load_runs(paths)
    assert [name for name, _ in runs] == ["form acts", "form acts err 0.3"]
    report = write_report(runs, tmp_path / "report").read_text()
    assert "| form acts err 0.3 |" in report and "## Sample transcripts" in report
    assert (tmp_path / "report" / "bars.png").stat().st_size > 1000
    assert (tmp_path / "report" / "error_curves.png").is_file()
    assert "Mirror warning" not in report  # act level: no words to mirror


def test_report_names_the_users_words_and_warns_of_the_mirror(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from dialog.eval.compare import load_runs, write_report

    def run(words: str | None) -> dict:  # type: ignore[type-arg]
        config = {"agent": "pipeline", "level": "text", **({"user_text": words} if words else {})}
        return {"success_rate": 0.5, "n_dialogues": 3, "config": config}

    paths = []
    for words in ("model", "templates", None):  # None: a run from before the key was written
        paths.append(tmp_path / f"{words}.json")
        paths[-1].write_text(json.dumps(run(words)))
    runs = load_runs(paths)
    assert [name for name, _ in runs] == [
        "pipeline text learned user",
        "pipeline text template user #2",
        "pipeline text template user #3",
    ]
    report = write_report(runs, tmp_path / "all").read_text()
    assert "Mirror warning" in report and "not comparable" in report
    learned = write_report(load_runs(paths[:1]), tmp_path / "learned").read_text()
    assert "Mirror warning" not in learned and "not comparable" not in learned


def test_bench_can_make_the_generator_greedy_and_cold(showcase) -> None:  # type: ignore[no-untyped-def]
    from dialog.backend import open_backends
    from dialog.eval.bench import bench

    schemas = [showcase["BankTransfer"]]
    backends = open_backends(schemas)
    cold = bench("pipeline", schemas, backends, n=1, stages={"nlg": "seq2seq"}, greedy=True, memo=False)
    assert cold["nlg_decoding"]["do_sample"] is False and cold["nlg_memo"] is False
    assert cold["nlg_ms_p50"] > 0 and cold["turns"] > 0
    own = bench("pipeline", schemas, backends, n=1, stages={"nlg": "seq2seq"})
    assert own["nlg_decoding"]["do_sample"] is True  # the model's own decoding (sampling, in its meta)
    assert own["nlg_memo"] is True
