from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.test_schema import GOOD


def tod(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dialog.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_validate_passes_on_committed_schemas(schemas_dir: Path) -> None:
    result = tod("schema", "validate", f"{schemas_dir}/**/*.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "37 schema(s) valid" in result.stdout


def test_validate_reports_located_problems(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(GOOD.replace("required_slots: [drink]", "required_slots: [milk]"))
    (tmp_path / "empty.yaml").write_text("")
    result = tod(
        "schema", "validate", f"{tmp_path}/good.yaml,{tmp_path}/bad.yaml", str(tmp_path / "empty.yaml")
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines == [
        f"{tmp_path}/bad.yaml:18:22: intent 'OrderDrink' names unknown slot 'milk' "
        "(slots: drink, pickup_time, size)",
        f"{tmp_path}/empty.yaml:1:1: the file is empty: expected a YAML mapping",
    ]
    assert "Traceback" not in result.stderr


def test_validate_with_nothing_to_match(tmp_path: Path) -> None:
    result = tod("schema", "validate", f"{tmp_path}/*.yaml")
    assert result.returncode == 1 and "error: no schema files match" in result.stderr


def test_import_sgd_and_db_build(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "schemas"
    result = tod("schema", "import-sgd", "--data-dir", str(data_dir), "--split", "dev", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "wrote 17 services" in result.stdout and len(list(out.glob("*.yaml"))) == 17
    assert tod("schema", "validate", str(out)).returncode == 0
    db = tmp_path / "db"
    result = tod(
        "db", "build", "--split", "dev", "--schemas", f"{out}/Alarm_1.yaml", "--out", str(db), "--quiet",
        env={"TOD_DATA_DIR": str(data_dir)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (db / "Alarm_1.sqlite").is_file() and "for 1 services" in result.stdout


def test_missing_data_dir_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    env = {"TOD_DATA_DIR": ""}
    result = tod("schema", "import-sgd", "--out", str(tmp_path), env=env)
    assert result.returncode == 1
    assert "error: no data directory: pass --data-dir DIR or set TOD_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr


def test_eval_dialogues_writes_every_key_and_a_report(tmp_path: Path, schemas_dir: Path) -> None:
    out, report = tmp_path / "m.json", tmp_path / "report"
    args = ["eval", "dialogues", "--agent", "form", "--schemas", f"{schemas_dir}/showcase/*.yaml"]
    result = tod(
        *args, "--n", "10", "--seed", "1", "--level", "text", "--json", str(out), "--report", str(report)
    )
    assert result.returncode == 0, result.stderr
    import json

    metrics = json.loads(out.read_text())
    assert metrics["n_dialogues"] == 30 and set(metrics["per_schema"]) == {
        "RestaurantBooking", "ClinicAppointment", "BankTransfer"
    }  # fmt: skip
    for key in ("success_rate", "complete_rate", "book_rate", "inform_f1", "avg_turns", "slot_accuracy",
                "joint_goal_accuracy", "repetition_rate", "distinct_1", "abandon_rate", "turn_latency_ms_p99"):  # fmt: skip
        assert key in metrics
    assert "| RestaurantBooking | 10 |" in (report / "report.md").read_text()


def test_eval_dialogues_with_the_ppo_policy(tmp_path: Path, schemas_dir: Path) -> None:
    out = tmp_path / "m.json"
    args = [
        "eval",
        "dialogues",
        "--agent",
        "pipeline",
        "--policy",
        "ppo",
        "--schemas",
        f"{schemas_dir}/showcase/*.yaml",
    ]
    result = tod(*args, "--n", "5", "--seed", "1", "--nlu-error", "0.2", "--json", str(out))
    assert result.returncode == 0, result.stderr
    import json

    metrics = json.loads(out.read_text())
    assert metrics["config"]["stages"]["policy"] == "ppo" and metrics["n_dialogues"] == 15


def test_eval_dialogues_unknown_agent_and_level(tmp_path: Path, schemas_dir: Path) -> None:
    showcase = f"{schemas_dir}/showcase/*.yaml"
    result = tod(
        "eval", "dialogues", "--agent", "nope", "--schemas", showcase, "--json", str(tmp_path / "m.json")
    )
    assert (
        result.returncode == 1
        and "unknown agent component 'nope' (known: form, pipeline, simpletod)" in result.stderr
    )
    result = tod(
        "eval", "dialogues", "--level", "speech", "--schemas", showcase, "--json", str(tmp_path / "m.json")
    )
    assert result.returncode == 1 and "--level must be acts or text" in result.stderr


def test_imported_services_without_built_tables_are_a_clear_error(tmp_path: Path, schemas_dir: Path) -> None:
    result = tod(
        "eval", "dialogues", "--schemas", f"{schemas_dir}/sgd/Alarm_1.yaml", "--db-dir", str(tmp_path),
        "--json", str(tmp_path / "m.json"),
    )  # fmt: skip
    assert result.returncode == 1
    assert "database not found" in result.stderr and "tod db build" in result.stderr


def test_eval_dst_predictions_score_the_same_from_files(tmp_path: Path, data_dir: Path) -> None:
    import json

    out, pred = tmp_path / "dst.json", tmp_path / "pred"
    common = ["--data-dir", str(data_dir), "--split", "dev", "--quiet"]
    result = tod("eval", "dst", "--model", "dst-bert", "--limit", "8", "--predictions-out", str(pred),
                 "--json", str(out), *common)  # fmt: skip
    assert result.returncode == 0, result.stderr
    tracked = json.loads(out.read_text())
    for key in ("joint_goal_accuracy", "average_goal_accuracy", "active_intent_accuracy", "requested_slots_f1",
                "latency_ms_p50"):  # fmt: skip
        assert key in tracked
    assert sorted(p.name for p in pred.iterdir()) == ["dialogues_001.json"]
    rescored = tmp_path / "rescored.json"
    result = tod("eval", "dst", "--score", str(pred), "--json", str(rescored), *common)
    assert result.returncode == 0, result.stderr
    again = json.loads(rescored.read_text())
    for key in ("joint_goal_accuracy", "average_goal_accuracy", "active_intent_accuracy", "seen", "unseen"):
        assert again.get(key) == tracked.get(key)
    # a file that does not fit the split is a message, not a traceback
    (pred / "dialogues_001.json").write_text('[{"dialogue_id": "nope", "turns": []}]')
    result = tod("eval", "dst", "--score", str(pred), "--json", str(rescored), *common)
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_bench_writes_stage_latencies(tmp_path: Path, schemas_dir: Path) -> None:
    import json

    out = tmp_path / "bench.json"
    result = tod(
        "bench",
        "--agent",
        "form",
        "--schemas",
        f"{schemas_dir}/showcase/*.yaml",
        "--n",
        "2",
        "--json",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    for key in ("turn_ms_p50", "turn_ms_p99", "nlu_ms_p50", "policy_ms_p99", "nlg_ms_p50", "dialogues_per_s"):
        assert figures[key] >= 0
    assert figures["turn_ms_p99"] >= figures["turn_ms_p50"] and figures["peak_memory_mb"] > 10
    assert figures["encoder_pass_ms"] > 0  # the yardstick, timed in the same run
    assert figures["turn_p50_in_passes"] == round(figures["turn_ms_p50"] / figures["encoder_pass_ms"], 2)


def test_every_long_command_takes_quiet() -> None:
    """Every `tod eval`, `tod train` and `tod bench` stays quiet with --quiet (ARCHITECTURE.md)."""
    from typer.main import get_command

    from dialog.cli import app

    root = get_command(app)
    commands = [(f"{g} {n}", c) for g in ("eval", "train") for n, c in root.commands[g].commands.items()]  # type: ignore[attr-defined]
    commands.append(("bench", root.commands["bench"]))  # type: ignore[attr-defined]
    missing = [name for name, c in commands if not any("--quiet" in p.opts for p in c.params)]
    assert len(commands) > 10 and missing == []
