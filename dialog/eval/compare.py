"""`tod eval report`: one Markdown + PNG report comparing runs of `tod eval dialogues` side by side.

A run is named by its agent, the stages it overrode, its level and its user error rate. The report
has a table of the task and quality metrics, bar charts of success, coherence and satisfaction,
success against the error rate for each agent and level with several rates, and sample transcripts
(failures first) with each reply's coherence and the user's satisfaction after it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dialog.errors import TodError

COLUMNS = (
    ("success_rate", "success"),
    ("book_rate", "book"),
    ("inform_f1", "inform F1"),
    ("avg_turns", "turns"),
    ("joint_goal_accuracy", "JGA"),
    ("coherence", "coherence"),
    ("satisfaction", "satisfaction"),
    ("distinct_2", "distinct-2"),
    ("fluency_ppl", "fluency ppl"),
    ("repetition_rate", "repetition"),
    ("abandon_rate", "abandon"),
    ("wrong_transaction_rate", "wrong transaction"),
    ("hallucinated_value_rate", "invented values"),
    ("wrong_service_rate", "wrong service"),
    ("engagingness", "engagingness"),
    ("human_likeness", "human-like"),
    ("turn_latency_ms_p50", "turn p50 ms"),
)


def report_schemas() -> tuple[list[Any], dict[str, Any]]:
    """The comparison report's services (the showcase schemas and the 8 SGD dev services unseen in
    training) and fresh backends for them, the builtins registered."""
    from dialog.backend import open_backends
    from dialog.common.paths import project_root
    from dialog.data.sgd import UNSEEN_DEV_SERVICES
    from dialog.registry import load_builtins
    from dialog.schema import expand_paths, load_schemas

    load_builtins()
    paths = ["schemas/showcase/*.yaml", *[f"schemas/sgd/{s}.yaml" for s in UNSEEN_DEV_SERVICES]]
    schemas = load_schemas(expand_paths([str(project_root() / p) for p in paths]))
    return schemas, dict(open_backends(schemas))


USER_WORDS = {"model": "learned", "templates": "template", "sgd": "SGD-mined"}  # --user-text -> name


def run_name(metrics: Mapping[str, Any]) -> str:
    config = metrics.get("config", {})
    stages = config.get("stages") or {}
    parts = [str(config.get("agent", "?"))]
    learned = [f"{k}={v}" for k, v in stages.items() if v and v not in ("rule", "form", "template")]
    if learned:
        parts.append("(" + ", ".join(learned) + ")")
    parts.append(f"{config.get('level', '?')}")
    if config.get("level") == "text":
        parts.append(
            f"{USER_WORDS.get(config.get('user_text') or 'templates', config.get('user_text'))} user"
        )
    if config.get("nlu_error"):
        parts.append(f"err {config['nlu_error']:g}")
    return " ".join(parts)


def load_runs(paths: Sequence[Path]) -> list[tuple[str, dict[str, Any]]]:
    runs = []
    for path in paths:
        try:
            metrics = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise TodError(f"{path}: cannot read the run: {exc}") from None
        if "success_rate" not in metrics:
            raise TodError(f"{path}: not the output of `tod eval dialogues` (no success_rate)")
        runs.append((run_name(metrics), metrics))
    names = [n for n, _ in runs]
    return [(f"{n} #{i + 1}" if names.count(n) > 1 else n, m) for i, (n, m) in enumerate(runs)]


def _level(metrics: Mapping[str, Any]) -> str:
    return str(metrics.get("config", {}).get("level", ""))


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def write_report(runs: Sequence[tuple[str, Mapping[str, Any]]], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Agents compared",
        "",
        f"{len(runs)} runs of `tod eval dialogues`. A run is named by its agent, the stages in which it "
        "differs from the rule agent `form` (rule NLU, rule DST, form policy, template NLG), its level and "
        "the user's words at text level (learned, template or SGD-mined) and its user error rate.",
        "",
    ]
    words = {m.get("config", {}).get("user_text") or "templates" for _, m in runs if _level(m) == "text"}
    if "templates" in words:
        lines += [
            "**Mirror warning.** A text-level run with the template user hears the schemas' own words, "
            "which the rule NLU and the templates were written beside: its figures flatter every agent. "
            "Compare agents with the learned user (`--user-text model`, the default of "
            "`bench/report_all.py` and of the app's Evaluate tab); see docs/evaluation.md.",
            "",
        ]
    if len(words) > 1:
        lines += ["Runs with different user words are not comparable with one another.", ""]
    lines.append("| run | dialogues | " + " | ".join(label for _, label in COLUMNS) + " |")
    lines.append("|---" * (len(COLUMNS) + 2) + "|")
    for name, m in runs:
        cells = [name, _cell(m.get("n_dialogues")), *(_cell(m.get(k)) for k, _ in COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    # Bars: success, coherence, satisfaction per run.
    keys = [("success_rate", "success"), ("coherence", "coherence"), ("satisfaction", "satisfaction")]
    fig, axes = plt.subplots(
        1, len(keys), figsize=(4 * len(keys) + 3, 0.5 * len(runs) + 2), squeeze=False, sharey=True
    )
    for ax, (key, label) in zip(axes[0], keys, strict=True):
        values = [m.get(key) for _, m in runs]
        ax.barh([n for n, _ in runs], [v or 0.0 for v in values], color="tab:blue")
        ax.set_xlim(0, 1)
        ax.set_title(label)
        ax.invert_yaxis()
        for i, v in enumerate(values):  # no bar where a run has no such measure (e.g. act level)
            ax.text(
                min(v or 0.0, 0.85) + 0.01, i, "n/a" if v is None else f"{v:.3f}", va="center", fontsize=8
            )
    fig.tight_layout()
    fig.savefig(out / "bars.png", dpi=100)
    plt.close(fig)
    lines += ["", "![success, coherence and satisfaction per run](bars.png)", ""]
    # Curves: success against the user's error rate, per agent and level.
    curves: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for name, m in runs:
        config = m.get("config", {})
        key = name.split(" err ")[0].split(" #")[0]
        curves[key].append((float(config.get("nlu_error") or 0.0), float(m.get("success_rate") or 0.0)))
    curves = {k: sorted(v) for k, v in curves.items() if len(v) > 1}
    if curves:
        fig, ax = plt.subplots(figsize=(6, 4))
        for key, points in curves.items():
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=key)
        ax.set_xlabel("user error rate")
        ax.set_ylabel("success")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "error_curves.png", dpi=100)
        plt.close(fig)
        lines += ["![success against the user's error rate](error_curves.png)", ""]
    lines += ["## Sample transcripts", ""]
    for name, m in runs:
        for sample in m.get("samples", [])[:1]:
            outcome = "success" if sample.get("success") else f"failure ({sample.get('end')})"
            lines += [f"### {name}: {outcome}", "", "Goal: " + "; ".join(sample.get("goal", [])), ""]
            for turn in sample.get("turns", []):
                scores = []
                if turn.get("coherence") is not None:
                    scores.append(f"coherence {turn['coherence']:.2f}")
                if turn.get("satisfaction") is not None:
                    scores.append(f"satisfaction {turn['satisfaction']:.2f}")
                lines.append(f"- **user**: {turn['user']}")
                lines.append(
                    f"- **system**: {turn['system']}" + (f"  _({', '.join(scores)})_" if scores else "")
                )
            lines.append("")
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
