"""Conversation scripts: fixed, readable conversations that must keep working (like Rasa's test stories).

A script file (YAML, version 1) holds one or more scripts::

    version: 1
    scripts:
      - name: find an italian restaurant and book it
        services: [RestaurantBooking]
        turns:
          - user: I'd like an italian restaurant in Porto      # words (every stage runs) ...
            expect:
              acts: [OFFER(restaurant_name), INFORM_COUNT]     # each must be among the system's acts
              state: {RestaurantBooking: {city: Porto, cuisine: italian}}
              call: FindRestaurant                             # the backend call made this turn
              reply: (?i)il forno                              # a regular expression the reply matches
          - acts: [AFFIRM_INTENT(intent=BookTable)]            # ... or user acts (NLU skipped)
            expect: {acts: [REQUEST(date)], exact: true}        # exact: the system's acts are these
          - user: no, wait
            expect: {call: none}                               # no transaction carried out this turn
        expect:                                                # the outcome of the whole conversation
          call: BookTable                                      # made at some turn (none: no transaction)
          call_args: {restaurant_name: Il Forno, time: "19:30"} # ... with these arguments
          state: {RestaurantBooking: {party_size: "4"}}        # the state at the end
          reply: (?i)booked                                    # some reply matches

Act values, states and ``call_args`` are compared by meaning where they are dates, times or amounts
("7:30 pm" is "19:30", "tomorrow" is tomorrow's date; ``dialog.common.values.same_value``), else
case-blind. A script-level ``expect`` asks for an
outcome, not for the order of the system's questions, so a conversation in a person's words can check
what got done however the agent went about it.

An act is written ``ACT``, ``ACT(slot)`` or ``ACT(slot=value)`` (a value with ``|`` for several).
Loading is strict: unknown keys, unknown services, slots, intents or act types are located errors
(``file:line:col: message``) before anything runs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dialog.common.values import same_value
from dialog.common.yamlpos import Located, Problem, YamlProblems, read_located
from dialog.conversation.session import Session
from dialog.schema import Schema
from dialog.types import ActType, BackendResult, DialogueAct, DialogueState, ServiceCall

ACT = re.compile(r"^\s*([A-Z_]+)\s*(?:\(\s*([A-Za-z0-9_]*)\s*(?:=\s*(.*?))?\s*\))?\s*$")
USER_ACTS = {
    "INFORM_INTENT", "NEGATE_INTENT", "AFFIRM_INTENT", "INFORM", "REQUEST", "AFFIRM", "NEGATE", "SELECT",
    "REQUEST_ALTS", "THANK_YOU", "GOODBYE",
}  # fmt: skip
SERVICELESS = (ActType.GOODBYE, ActType.THANK_YOU)
NO_CALL = "none"  # ``call: none``: no transaction was executed
OUTCOME = "(the whole conversation)"  # the step that checks a script's ``expect``


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    acts: list[str] = Field(default_factory=list)
    exact: bool = False
    state: dict[str, dict[str, str]] = Field(default_factory=dict)
    call: str | None = None
    call_args: dict[str, str] = Field(default_factory=dict)
    reply: str | None = None


class Outcome(BaseModel):
    """What a whole conversation must have done, whatever the order of its turns."""

    model_config = ConfigDict(extra="forbid")

    call: str | None = None
    call_args: dict[str, str] = Field(default_factory=dict)
    state: dict[str, dict[str, str]] = Field(default_factory=dict)
    reply: str | None = None  # a regular expression that some reply of the conversation matches


class ScriptTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str | None = None
    acts: list[str] | None = None
    expect: Expect = Field(default_factory=Expect)


class Script(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    services: list[str]
    turns: list[ScriptTurn]
    expect: Outcome = Field(default_factory=Outcome)


class ScriptFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    scripts: list[Script]


@dataclass(frozen=True)
class ActSpec:
    """An expected act: its type, and the slot and values when given."""

    act: ActType
    slot: str | None = None
    values: tuple[str, ...] | None = None

    def matches(self, act: DialogueAct) -> bool:
        if act.act is not self.act or (self.slot is not None and act.slot != self.slot):
            return False
        if self.values is None:
            return True  # values by meaning: CONFIRM(date=tomorrow) is tomorrow's 2026-12-09
        return len(act.values) == len(self.values) and all(
            same_value(want, got) for want, got in zip(self.values, act.values, strict=True)
        )

    def __str__(self) -> str:
        inside = (
            ""
            if self.slot is None
            else self.slot + ("" if self.values is None else "=" + "|".join(self.values))
        )
        return f"{self.act.value}({inside})" if inside else self.act.value


def parse_act(text: str) -> ActSpec:
    match = ACT.match(text)
    if match is None:
        raise ValueError(f"cannot read the act {text!r} (write ACT, ACT(slot) or ACT(slot=value))")
    kind, slot, value = match.groups()
    try:
        act = ActType(kind)
    except ValueError:
        known = ", ".join(a.value for a in ActType)
        raise ValueError(f"unknown act type {kind!r} (known: {known})") from None
    values = tuple(v.strip() for v in value.split("|")) if value is not None else None
    return ActSpec(act, slot or None, values)


@dataclass
class LoadedScript:
    script: Script
    file: str
    line: int
    user_acts: list[list[ActSpec] | None]
    expected: list[list[ActSpec]]


def load_scripts(path: Path, schemas: Mapping[str, Schema]) -> list[LoadedScript]:
    """Read and check a script file against the schemas; every problem located, all at once."""
    located = read_located(path)
    file = str(path)
    problems: list[Problem] = []
    try:
        parsed = ScriptFile.model_validate(located.data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            pos = located.position(loc, prefer_key=err["type"] == "extra_forbidden")
            dotted = ".".join(str(x) for x in loc)
            hint = (
                " (YAML reads yes/no/on/off as true/false: quote it)"
                if isinstance(err.get("input"), bool)
                else ""
            )
            problems.append(Problem(file, pos.line, pos.col, f"{dotted}: {err['msg']}{hint}"))
        raise YamlProblems(problems) from None
    out = []
    if parsed.version != 1:
        problems.append(
            _problem(located, file, ("version",), f"version {parsed.version} is not supported (1)")
        )
    for i, script in enumerate(parsed.scripts):
        base: tuple[Any, ...] = ("scripts", i)
        known = [s for s in script.services if s in schemas]
        for j, service in enumerate(script.services):
            if service not in schemas:
                message = f"unknown service {service!r} (loaded: {', '.join(sorted(schemas)) or 'none'})"
                problems.append(_problem(located, file, (*base, "services", j), message))
        slots = {slot for s in known for slot in schemas[s].slot_names} | {"intent", "count"}
        intents = {name for s in known for name in schemas[s].intent_names}
        user_acts: list[list[ActSpec] | None] = []
        expected: list[list[ActSpec]] = []
        for t, turn in enumerate(script.turns):
            where = (*base, "turns", t)
            if (turn.user is None) == (turn.acts is None):
                problems.append(
                    _problem(located, file, where, "a turn needs either `user` (words) or `acts`")
                )
            specs_user = _specs(turn.acts or [], (*where, "acts"), located, file, problems, slots, intents)
            if turn.acts is not None:
                for k, spec in enumerate(specs_user):
                    if spec.act.value not in USER_ACTS:
                        problems.append(
                            _problem(
                                located, file, (*where, "acts", k), f"{spec.act.value} is not a user act"
                            )
                        )
            user_acts.append(specs_user if turn.acts is not None else None)
            expected.append(
                _specs(turn.expect.acts, (*where, "expect", "acts"), located, file, problems, slots, intents)
            )
            _check_outcome(turn.expect, (*where, "expect"), located, file, problems, schemas, known)
            if turn.expect.reply is not None:
                try:
                    re.compile(turn.expect.reply)
                except re.error as exc:
                    problems.append(
                        _problem(located, file, (*where, "expect", "reply"), f"bad pattern: {exc}")
                    )
        _check_outcome(script.expect, (*base, "expect"), located, file, problems, schemas, known)
        out.append(LoadedScript(script, file, located.position(base).line, user_acts, expected))
    if problems:
        raise YamlProblems(problems)
    return out


def _check_outcome(
    expect: Expect | Outcome,
    where: tuple[Any, ...],
    located: Located,
    file: str,
    problems: list[Problem],
    schemas: Mapping[str, Schema],
    known: Sequence[str],
) -> None:
    """The services, slots and intents an expectation names must exist."""
    for service, values in expect.state.items():
        if service not in known:
            problems.append(
                _problem(located, file, (*where, "state", service), f"unknown service {service!r}")
            )
            continue
        for slot in values:
            if slot not in schemas[service].slot_names:
                message = f"{service} has no slot {slot!r}"
                problems.append(_problem(located, file, (*where, "state", service, slot), message))
    intents = {name for s in known for name in schemas[s].intent_names}
    if expect.call is not None and expect.call != NO_CALL and expect.call not in intents:
        message = f"no intent {expect.call!r} in {', '.join(known)} (or `none`: nothing executed)"
        problems.append(_problem(located, file, (*where, "call"), message))
    if expect.call_args and expect.call == NO_CALL:
        problems.append(_problem(located, file, (*where, "call_args"), "call_args with `call: none`"))
    if isinstance(expect, Outcome) and expect.reply is not None:
        try:
            re.compile(expect.reply)
        except re.error as exc:
            problems.append(_problem(located, file, (*where, "reply"), f"bad pattern: {exc}"))
    slots = {slot for s in known for slot in schemas[s].slot_names}
    for slot in expect.call_args:
        if slot not in slots:
            message = f"no slot {slot!r} in the script's services"
            problems.append(_problem(located, file, (*where, "call_args", slot), message))


def _problem(located: Located, file: str, loc: tuple[Any, ...], message: str) -> Problem:
    pos = located.position(loc)
    return Problem(file, pos.line, pos.col, message)


def _specs(
    texts: Sequence[str],
    where: tuple[Any, ...],
    located: Located,
    file: str,
    problems: list[Problem],
    slots: set[str],
    intents: set[str],
) -> list[ActSpec]:
    out = []
    for k, text in enumerate(texts):
        try:
            spec = parse_act(text)
        except ValueError as exc:
            problems.append(_problem(located, file, (*where, k), str(exc)))
            continue
        if spec.slot is not None and spec.slot not in slots:
            problems.append(
                _problem(located, file, (*where, k), f"no slot {spec.slot!r} in the script's services")
            )
        if spec.slot == "intent" and spec.values and not set(spec.values) <= intents:
            problems.append(
                _problem(located, file, (*where, k), f"no intent {spec.values[0]!r} in the services")
            )
        out.append(spec)
    return out


# --- running ---------------------------------------------------------------------------------


@dataclass
class StepResult:
    turn: int
    said: str
    failures: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    actual: list[str] = field(default_factory=list)
    reply: str = ""


@dataclass
class ScriptResult:
    name: str
    file: str
    line: int
    steps: list[StepResult]
    seconds: float

    @property
    def passed(self) -> bool:
        return all(not s.failures for s in self.steps)


def run_script(loaded: LoadedScript, agent: Any) -> ScriptResult:
    """Play the script's turns against the agent (in a backend sandbox) and check each expectation."""
    start = time.perf_counter()
    steps = []
    everything: list[BackendResult] = []
    default_service = loaded.script.services[0]
    mine = [agent.lookup.backends[s] for s in loaded.script.services if s in agent.lookup.backends]
    with Session(agent, mine) as session:
        for t, (turn, user_acts, expected) in enumerate(
            zip(loaded.script.turns, loaded.user_acts, loaded.expected, strict=True)
        ):
            if user_acts is None:
                said = turn.user or ""
                reply = session.step(said)
            else:
                # Acts belong to the script's first service (a goodbye or thanks to none).
                acts = tuple(
                    DialogueAct(
                        s.act, s.slot, s.values or (), None if s.act in SERVICELESS else default_service
                    )
                    for s in user_acts
                )
                said = " ".join(str(s) for s in user_acts)
                reply = session.step(acts=acts)
                text = agent.nlg.generate(reply.acts, reply.state)
                reply = type(reply)(text, reply.state, reply.trace, reply.acts)
            steps.append(check(t, said, reply, turn.expect, expected))
            everything += calls(reply)
    state = session.state
    outcome = loaded.script.expect
    if outcome != Outcome():
        end = StepResult(len(steps), OUTCOME, reply=steps[-1].reply if steps else "")
        end.failures = outcome_failures(outcome, everything, state, [s.reply for s in steps])
        steps.append(end)
    return ScriptResult(loaded.script.name, loaded.file, loaded.line, steps, time.perf_counter() - start)


def check(t: int, said: str, reply: Any, expect: Expect, expected: Sequence[ActSpec]) -> StepResult:
    result = StepResult(
        t, said, expected=[str(s) for s in expected], actual=[str(a) for a in reply.acts], reply=reply.text
    )
    for spec in expected:
        if not any(spec.matches(a) for a in reply.acts):
            result.failures.append(f"missing act {spec}")
    if expect.exact:
        for act in reply.acts:
            if not any(spec.matches(act) for spec in expected):
                result.failures.append(f"unexpected act {act}")
    for service, values in expect.state.items():
        frame = reply.state.frame(service).slot_values
        for slot, value in values.items():
            got = frame.get(slot, ())
            if not got or not same_value(str(value), got[0]):
                result.failures.append(
                    f"state {service}.{slot}: expected {value!r}, got {got[0] if got else None!r}"
                )
    made = calls(reply)
    result.failures += call_failures(expect, made)
    if expect.reply is not None and not re.search(expect.reply, reply.text):
        result.failures.append(f"reply does not match /{expect.reply}/: {reply.text!r}")
    return result


def calls(reply: Any) -> list[BackendResult]:
    """The backend calls of a turn, with what came back."""
    return [
        stage.output
        for stage in reply.trace
        if stage.stage == "backend" and isinstance(stage.output, BackendResult)
    ]


def _written(call: ServiceCall) -> str:
    return f"{call.method}({', '.join(f'{k}={v}' for k, v in call.parameters.items())})"


def call_failures(expect: Expect | Outcome, made: Sequence[BackendResult]) -> list[str]:
    """What ``made`` (the calls of a turn, or of a whole conversation) lacks of ``expect``'s call.
    ``call: none`` holds when no transaction was carried out (an attempt the backend refused, such as
    a transfer to a payee it does not know, moved nothing)."""
    if expect.call == NO_CALL:
        executed = [_written(r.call) for r in made if r.transactional and r.success]
        return [f"expected no transaction, executed {'; '.join(executed)}"] if executed else []
    out = []
    methods = [r.call.method for r in made]
    if expect.call is not None and expect.call not in methods:
        out.append(f"backend call {expect.call}: made {methods or 'none'}")
    if expect.call_args:
        candidates = [r.call for r in made if expect.call is None or r.call.method == expect.call]
        if not any(
            all(same_value(v, c.parameters.get(k, "")) for k, v in expect.call_args.items())
            for c in candidates
        ):
            seen = "; ".join(_written(c) for c in candidates) or "no call"
            out.append(f"call arguments {dict(expect.call_args)}: made {seen}")
    return out


def outcome_failures(
    outcome: Outcome, made: Sequence[BackendResult], state: DialogueState, replies: Sequence[str]
) -> list[str]:
    """What the whole conversation lacks of the script's ``expect``."""
    out = call_failures(outcome, made)
    if outcome.reply is not None and not any(re.search(outcome.reply, r) for r in replies):
        out.append(f"no reply matches /{outcome.reply}/")
    for service, values in outcome.state.items():
        frame = state.frame(service).slot_values
        for slot, value in values.items():
            got = frame.get(slot, ())
            if not got or not same_value(str(value), got[0]):
                out.append(
                    f"final state {service}.{slot}: expected {value!r}, got {got[0] if got else None!r}"
                )
    return out


def diff_lines(result: ScriptResult) -> list[str]:
    """For each failing step: what was expected and what happened, side by side."""
    lines = [f"FAILED {result.file}:{result.line}: {result.name}"]
    for step in result.steps:
        if not step.failures:
            continue
        if step.turn >= len(result.steps) - 1 and step.said == OUTCOME:
            lines.append("  outcome of the conversation:")
            lines += [f"    - {f}" for f in step.failures]
            lines.append("    the conversation:")
            for turn in result.steps[:-1]:
                lines += [f"      user:   {turn.said}", f"      system: {turn.reply}"]
            continue
        lines.append(f"  turn {step.turn + 1}: user: {step.said}")
        width = max([len("expected acts"), *(len(a) for a in step.expected)])
        lines.append(f"    {'expected acts':<{width}} | actual acts")
        for i in range(max(len(step.expected), len(step.actual))):
            left = step.expected[i] if i < len(step.expected) else ""
            right = step.actual[i] if i < len(step.actual) else ""
            lines.append(f"    {left:<{width}} | {right}")
        lines.append(f"    system said: {step.reply}")
        lines += [f"    - {f}" for f in step.failures]
    return lines


def junit_xml(results: Sequence[ScriptResult]) -> str:
    suite = ElementTree.Element(
        "testsuite",
        name="tod scripts",
        tests=str(len(results)),
        failures=str(sum(not r.passed for r in results)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for r in results:
        case = ElementTree.SubElement(
            suite, "testcase", classname=Path(r.file).stem, name=r.name, time=f"{r.seconds:.3f}"
        )
        if not r.passed:
            failure = ElementTree.SubElement(
                case, "failure", message=f"{sum(len(s.failures) for s in r.steps)} failed checks"
            )
            failure.text = "\n".join(diff_lines(r))
    return ElementTree.tostring(suite, encoding="unicode")


# --- recording -------------------------------------------------------------------------------


def record(state: DialogueState, name: str, services: Sequence[str] | None = None) -> str:
    """A conversation held (e.g. in the app) as a script: each user turn's words, with the acts the
    system answered (and its backend call) as the expectations, to edit before saving."""
    import yaml

    from dialog.types import Speaker

    turns: list[dict[str, Any]] = []
    history = state.history
    for i, turn in enumerate(history):
        if turn.speaker is not Speaker.USER:
            continue
        answer = history[i + 1] if i + 1 < len(history) else None
        expect: dict[str, Any] = {}
        if answer is not None:
            expect["acts"] = [str(a) for a in answer.acts]
            calls = [f.service_call.method for f in answer.frames if f.service_call is not None]
            if calls:
                expect["call"] = calls[0]
        entry: dict[str, Any] = {"user": turn.utterance}
        if expect:
            entry["expect"] = expect
        turns.append(entry)
    used = list(services or dict.fromkeys(f.service for t in history for f in t.frames if f.service))
    document = {"version": 1, "scripts": [{"name": name, "services": used, "turns": turns}]}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110)
