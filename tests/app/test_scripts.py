"""Conversation scripts: located loading errors, a failing script's diff, the CLI and the shipped scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from dialog.app.scripts import diff_lines, junit_xml, load_scripts, parse_act, run_script
from dialog.common.yamlpos import YamlProblems
from dialog.types import ActType, DialogueAct

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "script.yaml"
    path.write_text(text)
    return path


def test_acts_are_read_from_their_short_form() -> None:
    spec = parse_act("CONFIRM(time=9 pm)")
    assert spec.act is ActType.CONFIRM and spec.slot == "time" and spec.values == ("9 pm",)
    assert spec.matches(DialogueAct(ActType.CONFIRM, "time", ("9 PM",), "R"))
    assert not spec.matches(DialogueAct(ActType.CONFIRM, "date", ("9 pm",), "R"))
    assert parse_act("REQUEST(time=09:00|14:00)").values == ("09:00", "14:00")
    assert parse_act("GOODBYE").slot is None
    with pytest.raises(ValueError, match="unknown act type 'OFERR'"):
        parse_act("OFERR(city)")


def test_loading_errors_are_located_and_all_reported(tmp_path: Path, showcase) -> None:  # type: ignore[no-untyped-def]
    path = write(
        tmp_path,
        """version: 1
scripts:
  - name: broken
    services: [RestaurantBooking, Nowhere]
    turns:
      - user: yes
      - acts: [INFORM(colour=red)]
        expect: {acts: [OFERR], call: FlyToMars, reply: "(unclosed"}
      - acts: [NOTIFY_SUCCESS]
      - expect: {state: {RestaurantBooking: {mood: happy}}}
""",
    )
    with pytest.raises(YamlProblems) as caught:
        load_scripts(path, showcase)
    text = str(caught.value)
    assert (
        "script.yaml:6:15: scripts.0.turns.0.user: Input should be a valid string (YAML reads yes/no" in text
    )
    # Once the YAML types are right, the checks against the schemas run, every one located.
    path.write_text(path.read_text().replace("- user: yes", "- user: 'yes'"))
    with pytest.raises(YamlProblems) as caught:
        load_scripts(path, showcase)
    lines = str(caught.value).splitlines()
    expected = [
        ":4:35: unknown service 'Nowhere'",
        ":7:16: no slot 'colour' in the script's services",
        ":8:25: unknown act type 'OFERR'",
        ":8:39: no intent 'FlyToMars' in RestaurantBooking",
        ":8:57: bad pattern",
        ":9:16: NOTIFY_SUCCESS is not a user act",
        ":10:9: a turn needs either `user` (words) or `acts`",
        ":10:52: RestaurantBooking has no slot 'mood'",
    ]
    for fragment in expected:
        assert any(fragment in line for line in lines), (fragment, lines)


def test_a_failing_script_shows_expected_and_actual_side_by_side(tmp_path: Path, form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, _ = form_agent
    path = write(
        tmp_path,
        """version: 1
scripts:
  - name: wrong on purpose
    services: [RestaurantBooking]
    turns:
      - user: I'd like a cheap italian restaurant in Lisbon
        expect:
          acts: [OFFER(restaurant_name=Il Forno)]
          state: {RestaurantBooking: {city: Porto}}
          call: BookTable
          reply: Il Forno
""",
    )
    schemas = agent.policy.schemas
    [loaded] = load_scripts(path, schemas)
    result = run_script(loaded, agent)
    assert not result.passed
    lines = diff_lines(result)
    assert lines[0] == f"FAILED {path}:3: wrong on purpose"
    assert lines[2].split("|")[0].strip() == "expected acts"
    assert "OFFER(restaurant_name=Il Forno)" in lines[3] and "OFFER(restaurant_name=Casa Nonna)" in lines[3]
    failures = [line.strip() for line in lines if line.strip().startswith("- ")]
    assert failures == [
        "- missing act OFFER(restaurant_name=Il Forno)",
        "- state RestaurantBooking.city: expected 'Porto', got 'Lisbon'",
        "- backend call BookTable: made ['FindRestaurant']",
        "- reply does not match /Il Forno/: 'How about Casa Nonna? It is a cheap italian place in Lisbon. Restaurants that match: 1.'",
    ]
    suite = ElementTree.fromstring(junit_xml([result]))
    assert suite.get("failures") == "1" and suite.find("testcase/failure") is not None


def test_cli_runs_the_shipped_scripts_and_fails_on_a_broken_one(tmp_path: Path) -> None:
    def tod(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dialog.cli", *args], capture_output=True, text=True, cwd=ROOT
        )

    showcase = str(ROOT / "schemas/showcase/*.yaml")
    junit = tmp_path / "junit.xml"
    result = tod(
        "test", "scripts", str(ROOT / "data/scripts/showcase"), "--schemas", showcase, "--junit", str(junit)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 of 9 scripts passed (form: nlu rule, dst rule, policy form, nlg template)" in result.stdout
    assert ElementTree.parse(junit).getroot().get("tests") == "9"
    broken = write(
        tmp_path,
        "version: 1\nscripts:\n  - name: x\n    services: [RestaurantBooking]\n    turns:\n      - acts: [GOODBYE]\n        expect: {acts: [OFFER]}\n",
    )
    result = tod("test", "scripts", str(broken), "--schemas", showcase)
    assert result.returncode == 1 and "0 of 1 scripts passed" in result.stdout


OUTCOMES = """version: 1
scripts:
  - name: a transfer, refused at the confirmation
    services: [BankTransfer]
    turns:
      - user: I want to transfer 50 euros to Maria Silva from my checking account
      - user: no, don't send it
        expect: {call: none}
    expect: {call: none}
  - name: a transfer, confirmed
    services: [BankTransfer]
    turns:
      - user: I want to transfer 50 euros to Maria Silva from my checking account
      - user: "yes"
        expect: {call: TransferMoney, call_args: {amount: "50", recipient_name: maria silva}}
    expect:
      call: TransferMoney
      call_args: {recipient_name: Maria Silva, account_type: checking}
      state: {BankTransfer: {amount: 50 euros}}
      reply: (?i)has been sent
  - name: the wrong payee expected
    services: [BankTransfer]
    turns:
      - user: I want to transfer 50 euros to Maria Silva from my checking account
      - user: "yes"
        expect: {call: none}
    expect: {call_args: {recipient_name: Carlos Ortega}, reply: "(?i)carlos"}
"""


def test_outcomes_of_a_whole_conversation(tmp_path: Path, form_agent) -> None:  # type: ignore[no-untyped-def]
    agent, _ = form_agent
    refused, confirmed, wrong = load_scripts(write(tmp_path, OUTCOMES), agent.policy.schemas)
    assert run_script(refused, agent).passed
    result = run_script(confirmed, agent)
    assert result.passed, diff_lines(result)
    assert result.steps[-1].said == "(the whole conversation)"  # the outcome is checked as a step
    result = run_script(wrong, agent)
    lines = [line.strip() for line in diff_lines(result)]
    assert "outcome of the conversation:" in lines
    assert any(line.startswith("- expected no transaction, executed TransferMoney(") for line in lines)
    assert any(line.startswith("- call arguments {'recipient_name': 'Carlos Ortega'}: made TransferMoney(")
               for line in lines)  # fmt: skip
    assert "- no reply matches /(?i)carlos/" in lines


def test_outcome_expectations_are_checked_against_the_schemas(tmp_path: Path, showcase) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, """version: 1
scripts:
  - name: x
    services: [BankTransfer]
    turns:
      - user: hello
        expect: {call: none, call_args: {amount: "5"}}
    expect: {call: Fly, call_args: {colour: red}, reply: "(", state: {BankTransfer: {mood: ok}}}
""")  # fmt: skip
    with pytest.raises(YamlProblems) as caught:
        load_scripts(path, showcase)
    text = str(caught.value)
    for fragment in (":7:41: call_args with `call: none`", ":8:20: no intent 'Fly' in BankTransfer",
                     ":8:45: no slot 'colour'", ":8:58: bad pattern", ":8:92: BankTransfer has no slot 'mood'"):  # fmt: skip
        assert fragment in text, (fragment, text)


def test_cli_needs_no_built_database_for_the_showcase_and_names_missing_backends(tmp_path: Path) -> None:
    """On a fresh clone (no data/db), the showcase scripts run; a script on an imported SGD service
    says that its service has no backend."""
    import os

    env = {**os.environ, "TOD_DB_DIR": str(tmp_path / "no-db")}
    result = subprocess.run([sys.executable, "-m", "dialog.cli", "test", "scripts", str(ROOT / "data/scripts/showcase")],
                            capture_output=True, text=True, cwd=ROOT, env=env)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 of 9 scripts passed" in result.stdout
    sgd = write(
        tmp_path,
        "version: 1\nscripts:\n  - name: alarm\n    services: [Alarm_1]\n    turns:\n      - user: hi\n",
    )
    result = subprocess.run([sys.executable, "-m", "dialog.cli", "test", "scripts", str(sgd)],
                            capture_output=True, text=True, cwd=ROOT, env=env)  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "skipped" in result.stdout and "Alarm_1: database not found" in result.stdout
    assert "1 could not run: their services have no backend" in result.stdout


def test_the_natural_scripts_load_and_cover_the_showcase(showcase) -> None:  # type: ignore[no-untyped-def]
    """data/scripts/natural: conversations in people's words, at least 40, 10 of them with all three
    showcase services active, each checking an outcome."""
    scripts = [
        s
        for path in sorted((ROOT / "data/scripts/natural").glob("*.yaml"))
        for s in load_scripts(path, showcase)
    ]
    assert len(scripts) >= 40
    assert sum(set(s.script.services) == set(showcase) for s in scripts) >= 10
    assert all(s.script.expect.model_dump(exclude_defaults=True) for s in scripts)
    assert all(turn.user is not None for s in scripts for turn in s.script.turns)  # words, not acts
