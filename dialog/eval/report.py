"""Markdown reports of dialogue evaluations: the metrics, a row per schema, sample transcripts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dialog.conversation.simulation import Transcript

COLUMNS = (
    ("success_rate", "success"),
    ("complete_rate", "complete"),
    ("book_rate", "book"),
    ("inform_f1", "inform F1"),
    ("avg_turns", "turns"),
    ("slot_accuracy", "slot acc."),
    ("joint_goal_accuracy", "JGA"),
    ("repetition_rate", "repetition"),
    ("abandon_rate", "abandon"),
    ("wrong_transaction_rate", "wrong transaction"),
    ("hallucinated_value_rate", "invented values"),
    ("wrong_service_rate", "wrong service"),
    ("engagingness", "engagingness"),
    ("human_likeness", "human-like"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return str(value)


def metrics_table(rows: Mapping[str, Mapping[str, Any]], first: str = "schema") -> list[str]:
    lines = [
        "| " + " | ".join([first, "n", *(label for _, label in COLUMNS)]) + " |",
        "|---" * (len(COLUMNS) + 2) + "|",
    ]
    for name, m in rows.items():
        cells = [name, _cell(m.get("n_dialogues")), *(_cell(m.get(key)) for key, _ in COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def transcript_lines(transcript: Transcript) -> list[str]:
    tasks = "; ".join(
        f"{t.service}.{t.intent} {dict(t.constraints)}" + (f" asks {list(t.requests)}" if t.requests else "")
        for t in transcript.goal.tasks
    )
    lines = [f"Goal: {tasks}", "", f"Ended: {transcript.end_reason}", ""]
    for turn in transcript.turns:
        said = turn.user_text or " ".join(str(a) for a in turn.user_acts)
        heard = (
            ""
            if turn.heard_acts == turn.user_acts
            else f"  (heard: {' '.join(str(a) for a in turn.heard_acts)})"
        )
        lines.append(f"- **user**: {said}{heard}")
        lines.append(f"- **system**: {turn.reply.text or ' '.join(str(a) for a in turn.reply.acts)}")
    return lines


def dialogue_report(metrics: Mapping[str, Any], transcripts: Sequence[Transcript], samples: int = 3) -> str:
    config = metrics.get("config", {})
    lines = [
        "# Dialogue evaluation",
        "",
        f"Agent `{config.get('agent')}` (stages {config.get('stages')}), level `{config.get('level')}`, "
        f"{config.get('n')} dialogues per schema, seed {config.get('seed')}, user error rate "
        f"{config.get('nlu_error')}.",
        "",
        *metrics_table({"all": metrics, **metrics.get("per_schema", {})}),
        "",
        f"Turn latency: p50 {_cell(metrics.get('turn_latency_ms_p50'))} ms, "
        f"p99 {_cell(metrics.get('turn_latency_ms_p99'))} ms.",
        "",
        "## Sample transcripts",
    ]
    for i, transcript in enumerate(transcripts[:samples], start=1):
        lines += ["", f"### {i}. {transcript.goal.tasks[0].service}", "", *transcript_lines(transcript)]
    return "\n".join(lines) + "\n"
