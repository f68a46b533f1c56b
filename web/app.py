"""The Gradio app: chat with an agent and see inside each turn, author schemas, run evaluations.

A thin client of ``dialog.app.assistant.Assistant``: no dialogue logic lives here. Every agent and stage
in the registry appears in the menus without changes to this file.
"""

from __future__ import annotations

import html
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import matplotlib
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from dialog.app.assistant import Assistant, Conversation, act_rows, state_rows
from dialog.eval.report import COLUMNS, transcript_lines
from dialog.types import BackendResult, GenerationSettings

DEFAULT = "(agent's own)"
ACT_HEADERS = ["service", "act", "slot", "values"]
STATE_HEADERS = ["service", "slot", "value"]
STAGE_HEADERS = ["stage", "component", "ms", "settings"]


def _conversation(conversation: Conversation | None, assistant: Assistant) -> Conversation:
    return conversation if conversation is not None else assistant.new_conversation()


def _stage(name: str) -> str | None:
    return None if not name or name == DEFAULT else name


def _backend_views(result: BackendResult | None) -> tuple[str, list[list[str]], list[str]]:
    if result is None:
        return "No backend call this turn.", [], ["(no rows)"]
    kind = "executed" if result.transactional else "searched"
    outcome = (
        ("succeeded" if result.success else "failed") if result.transactional else f"{result.count} rows"
    )
    query = f"`{result.call.method}` {kind} with `{json.dumps(dict(result.call.parameters))}`: {outcome}"
    columns = list(dict.fromkeys(k for row in result.rows[:20] for k in row)) or ["(no rows)"]
    rows = [[row.get(c, "") for c in columns] for row in result.rows[:20]]
    return query, rows, columns


def render_problems(text: str, problems: Sequence[Any], context: int = 2) -> str:
    """Each problem beside its line, with a few lines around it for context."""
    if not problems:
        return "<p style='color:#15803d'>✔ The schema is valid.</p>"
    lines = text.splitlines() or [""]
    by_line: dict[int, list[str]] = {}
    for p in problems:
        by_line.setdefault(min(max(p.line, 1), len(lines)), []).append(f"col {p.col}: {p.message}")
    shown = sorted(
        {n for line in by_line for n in range(line - context, line + context + 1) if 1 <= n <= len(lines)}
    )
    rows, previous = [], 0
    for number in shown:
        if previous and number > previous + 1:
            rows.append("<tr><td></td><td style='color:#9ca3af'>…</td><td></td></tr>")
        notes = by_line.get(number)
        style = " class='problem' style='background:#fee2e2'" if notes else ""
        note = html.escape("; ".join(notes)) if notes else ""
        rows.append(
            f"<tr{style}><td style='color:#6b7280;text-align:right;padding-right:8px'>{number}</td>"
            f"<td><code style='white-space:pre'>{html.escape(lines[number - 1])}</code></td>"
            f"<td style='color:#b91c1c;padding-left:12px'>{note}</td></tr>"
        )
        previous = number
    count = f"<p style='color:#b91c1c'><b>{len(problems)} problem(s)</b></p>"
    table = "<table class='schema-problems' style='border-collapse:collapse;font-size:13px'>"
    return count + table + "".join(rows) + "</table>"


def build(assistant: Assistant, default_agent: str = "form") -> gr.Blocks:
    services = assistant.services()
    with gr.Blocks(title="tod: task-oriented dialogue") as demo:
        conversation = gr.State(None)
        gr.Markdown("## tod: talk to a service described in YAML")
        with gr.Tab("Chat"):
            with gr.Row():
                agent = gr.Dropdown(assistant.agent_names(), value=default_agent, label="Agent")
                chosen = gr.Dropdown(services, value=services, multiselect=True, label="Services")
            with gr.Row():
                stages = {
                    stage: gr.Dropdown(
                        [DEFAULT, *assistant.stage_names(stage)], value=DEFAULT, label=stage.upper()
                    )
                    for stage in ("nlu", "dst", "policy", "nlg")
                }
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(label="Conversation", height=420, elem_id="chatbot")
                    message = gr.Textbox(
                        label="Message",
                        placeholder="e.g. I'd like an italian restaurant in Porto",
                        elem_id="message",
                    )
                    with gr.Row():
                        send = gr.Button("Send", variant="primary", elem_id="send")
                        undo = gr.Button("Undo last turn")
                        reset = gr.Button("Reset")
                        export = gr.Button("Download as SGD JSON")
                        as_script = gr.Button("Save as script", elem_id="as-script")
                    exported = gr.File(label="Conversation (SGD JSON)", visible=True)
                    with gr.Accordion("Conversation script (edit, then check and download)", open=False):
                        script_text = gr.Code(language="yaml", interactive=True, elem_id="script")
                        check_script = gr.Button("Check and download", elem_id="check-script")
                        script_file = gr.File(label="Script (YAML)")
                    with gr.Accordion("Generator settings", open=False):
                        beams = gr.Slider(1, 8, value=1, step=1, label="Beams")
                        sample = gr.Checkbox(False, label="Sample")
                        top_p = gr.Slider(0.1, 1.0, value=1.0, step=0.05, label="Top-p")
                        temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.1, label="Temperature")
                with gr.Column(scale=2):
                    nlu_table = gr.Dataframe(headers=ACT_HEADERS, label="NLU parse", elem_id="nlu")
                    state_table = gr.Dataframe(headers=STATE_HEADERS, label="Dialogue state", elem_id="state")
                    query = gr.Markdown("No backend call yet.", elem_id="query")
                    rows = gr.Dataframe(label="Backend rows", elem_id="rows")
                    policy_table = gr.Dataframe(headers=ACT_HEADERS, label="Policy acts", elem_id="policy")
                    stage_table = gr.Dataframe(headers=STAGE_HEADERS, label="Stages", elem_id="stages")

            def respond(
                text, conv, agent_name, services_chosen, nlu, dst, policy, nlg, n_beams, do_sample, p, temp
            ):
                conv = _conversation(conv, assistant)
                settings = GenerationSettings(
                    num_beams=int(n_beams), do_sample=bool(do_sample), top_p=float(p), temperature=float(temp)
                )
                chosen_stages = {
                    "nlu": _stage(nlu),
                    "dst": _stage(dst),
                    "policy": _stage(policy),
                    "nlg": _stage(nlg),
                }
                try:
                    view = assistant.respond(
                        conv, text or "", agent_name, services_chosen or None, chosen_stages, settings
                    )
                except Exception as exc:  # the UI stays up and says what went wrong
                    raise gr.Error(str(exc)) from exc
                backend_query, backend_rows, columns = _backend_views(view.backend)
                timings = [
                    [t.stage, t.name, f"{t.ms:.2f}", json.dumps(dict(t.config)) if t.config else ""]
                    for t in view.trace
                ]
                return (
                    assistant.transcript(conv),
                    conv,
                    "",
                    act_rows(view.nlu),
                    state_rows(view.state),
                    backend_query,
                    pd.DataFrame(backend_rows, columns=columns),
                    act_rows(view.acts),
                    timings,
                )

            inputs = [
                message,
                conversation,
                agent,
                chosen,
                *stages.values(),
                beams,
                sample,
                top_p,
                temperature,
            ]
            outputs = [
                chatbot,
                conversation,
                message,
                nlu_table,
                state_table,
                query,
                rows,
                policy_table,
                stage_table,
            ]
            send.click(respond, inputs, outputs, api_name="respond")
            message.submit(respond, inputs, outputs, api_visibility="private")

            def undo_turn(conv):
                conv = _conversation(conv, assistant)
                state = assistant.undo(conv)
                return assistant.transcript(conv), conv, state_rows(state)

            undo.click(undo_turn, [conversation], [chatbot, conversation, state_table], api_name="undo")

            def reset_chat():
                conv = assistant.new_conversation()
                return [], conv, [], [], "No backend call yet.", [], [], []

            reset.click(
                reset_chat,
                [],
                [chatbot, conversation, nlu_table, state_table, query, rows, policy_table, stage_table],
                api_name="reset",
            )

            def export_chat(conv):
                conv = _conversation(conv, assistant)
                path = Path(tempfile.mkdtemp(prefix="tod-")) / f"dialogue_{conv.id}.json"
                path.write_text(json.dumps([assistant.export(conv)], indent=1) + "\n", encoding="utf-8")
                return str(path)

            export.click(export_chat, [conversation], [exported], api_name="export")

            def record_chat(conv, services_chosen):
                from dialog.app.scripts import record

                conv = _conversation(conv, assistant)
                return record(conv.state, f"recorded conversation {conv.id}", services_chosen or None)

            as_script.click(record_chat, [conversation, chosen], [script_text], api_name="record_script")

            def save_script(text):
                from dialog.app.scripts import load_scripts
                from dialog.common.yamlpos import YamlProblems

                path = Path(tempfile.mkdtemp(prefix="tod-")) / "conversation_script.yaml"
                path.write_text(text or "", encoding="utf-8")
                try:
                    load_scripts(path, dict(assistant.schemas))
                except YamlProblems as exc:
                    raise gr.Error(render_problems(text or "", exc.problems)) from None
                return str(path)

            check_script.click(save_script, [script_text], [script_file], api_name="save_script")

        with gr.Tab("Schema"):
            with gr.Row():
                pick = gr.Dropdown(services, value=services[0], label="Start from service")
                load = gr.Button("Load")
            editor = gr.Code(
                assistant.schema_text(services[0]),
                language="yaml",
                lines=28,
                label="Schema YAML",
                elem_id="editor",
            )
            with gr.Row():
                check = gr.Button("Validate", elem_id="validate")
                save = gr.Button("Save and use", variant="primary")
            status = gr.Markdown()
            problems = gr.HTML(elem_id="problems")

            load.click(assistant.schema_text, [pick], [editor], api_name="schema_text")

            def validate_text(text):
                return render_problems(text or "", assistant.validate(text or ""))

            check.click(validate_text, [editor], [problems], api_name="validate")

            def save_text(text):
                try:
                    schema, found = assistant.save_schema(text or "")
                except Exception as exc:
                    raise gr.Error(str(exc)) from exc
                if schema is None:
                    return (
                        render_problems(text or "", found),
                        "Not saved: fix the problems first.",
                        gr.Dropdown(),
                        gr.Dropdown(),
                    )
                names = assistant.services()
                note = (
                    f"Saved **{schema.service}**: it is in the Chat tab's services now, no training needed."
                )
                return (
                    render_problems(text, []),
                    note,
                    gr.Dropdown(choices=names, value=names),
                    gr.Dropdown(choices=names),
                )

            save.click(save_text, [editor], [problems, status, chosen, pick], api_name="save_schema")

        with gr.Tab("Evaluate"):
            with gr.Row():
                eval_agent = gr.Dropdown(assistant.agent_names(), value=default_agent, label="Agent")
                eval_services = gr.Dropdown(
                    services, value=services[: min(3, len(services))], multiselect=True, label="Services"
                )
            with gr.Row():
                n = gr.Slider(1, 500, value=3, step=1, label="Dialogues per service")
                seed = gr.Number(1, precision=0, label="Seed")
                level = gr.Radio(["acts", "text"], value="text", label="Level")
                words = assistant.user_texts()
                user_words = gr.Radio(words, value=words[0], label="User's words (text level)")
                error = gr.Slider(0.0, 0.5, value=0.0, step=0.05, label="User error rate")
            run = gr.Button("Run", variant="primary")
            summary = gr.Dataframe(label="Metrics", elem_id="metrics")
            plot = gr.Plot(label="Success per service")
            pick_transcript = gr.Dropdown([], label="Transcripts")
            transcript = gr.Markdown()
            transcripts = gr.State([])

            def run_eval(
                agent_name,
                chosen_services,
                n_dialogues,
                seed_value,
                level_value,
                error_rate,
                words_value,
                progress=gr.Progress(),  # noqa: B008 - how Gradio asks for a progress bar
            ):
                if not chosen_services:
                    raise gr.Error("Choose at least one service.")

                def advance(done: int, total: int) -> None:
                    progress((done, total), desc="simulated dialogues")

                result = assistant.evaluate(
                    agent_name,
                    chosen_services,
                    int(n_dialogues),
                    int(seed_value or 0),
                    level_value,
                    float(error_rate),
                    advance,
                    words_value or "templates",
                )
                m = result.metrics
                table = [["all", m["n_dialogues"], *[_fmt(m.get(k)) for k, _ in COLUMNS]]]
                table += [
                    [s, v["n_dialogues"], *[_fmt(v.get(k)) for k, _ in COLUMNS]]
                    for s, v in m["per_schema"].items()
                ]
                headers = ["service", "n", *[label for _, label in COLUMNS]]
                texts = ["\n".join(transcript_lines(t)) for t in result.transcripts]
                kept = zip(result.transcripts, result.kept_scores, strict=True)
                labels = [
                    f"{i + 1}. {t.goal.tasks[0].service} ({'success' if s.success else 'failed'})"
                    for i, (t, s) in enumerate(kept)
                ]
                first = texts[0] if texts else ""
                return (
                    pd.DataFrame(table, columns=headers),
                    _success_plot(m["per_schema"]),
                    gr.Dropdown(choices=labels, value=labels[0] if labels else None),
                    first,
                    texts,
                )

            run.click(
                run_eval,
                [eval_agent, eval_services, n, seed, level, error, user_words],
                [summary, plot, pick_transcript, transcript, transcripts],
                api_name="evaluate",
            )

            def show_transcript(label, texts):
                if not label or not texts:
                    return ""
                return texts[int(label.split(".")[0]) - 1]

            pick_transcript.change(
                show_transcript, [pick_transcript, transcripts], [transcript], api_visibility="private"
            )
    return demo


def _fmt(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else ("–" if value is None else value)


def _success_plot(per_schema: dict[str, dict[str, Any]]) -> Any:
    names = list(per_schema)
    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(names) + 2), 3.2))
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [per_schema[s]["success_rate"] for s in names], width=0.4, label="success")
    ax.bar([i + 0.2 for i in x], [per_schema[s]["complete_rate"] for s in names], width=0.4, label="complete")
    ax.set_xticks(list(x), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig
