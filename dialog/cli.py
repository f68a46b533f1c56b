"""The ``tod`` command line. Errors the user can fix print as messages, without a traceback."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dialog.errors import TodError

if TYPE_CHECKING:
    from dialog.backend import Backend
    from dialog.schema import Schema
from dialog.common.yamlpos import YamlProblems

app = typer.Typer(help="tod: task-oriented dialogue from YAML schemas.", no_args_is_help=True)
schema_app = typer.Typer(help="Validate, import and export service schemas.", no_args_is_help=True)
db_app = typer.Typer(help="Backend databases.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(db_app, name="db")
eval_app = typer.Typer(help="Evaluate agents and components.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
test_app = typer.Typer(help="Run conversation scripts.", no_args_is_help=True)
app.add_typer(test_app, name="test")

DataDir = Annotated[
    str | None,
    typer.Option("--data-dir", help="Data directory (default: $TOD_DATA_DIR).", show_default=False),
]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bars.")]
Device = Annotated[
    str | None,
    typer.Option(
        "--device",
        help="auto, cpu or cuda (bfloat16 autocast on CUDA; the artifact loads on a CPU unchanged). "
        "Default: the config's, else cpu.",
        show_default=False,
    ),
]


def _on(spec: Any, device: str | None) -> Any:
    """A training config with the command line's ``--device`` (checked as the config's own keys are)."""
    if device is None:
        return spec
    from dialog.errors import TodError

    if device not in ("auto", "cpu", "cuda"):
        raise TodError(f"--device must be auto, cpu or cuda, not {device!r}")
    return spec.model_copy(update={"device": device})


def _progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


@schema_app.command("validate")
def schema_validate(
    paths: Annotated[list[str], typer.Argument(help="Schema files, directories or globs (** recursive).")],
) -> None:
    """Check schemas; print `file:line:col: message` for every problem and exit 1 if there are any."""
    from dialog.schema import expand_paths, load_schemas

    files = expand_paths(paths)
    if not files:
        raise TodError(f"no schema files match {' '.join(paths)}")
    try:
        schemas = load_schemas(files)
    except YamlProblems as exc:
        for problem in exc.problems:
            typer.echo(str(problem))
        n_files = len({p.file for p in exc.problems})
        typer.echo(f"{len(exc.problems)} problem(s) in {n_files} of {len(files)} file(s)", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{len(schemas)} schema(s) valid")


@schema_app.command("import-sgd")
def schema_import_sgd(
    out: Annotated[Path, typer.Option("--out", help="Directory for one YAML file per service.")],
    data_dir: DataDir = None,
    split: Annotated[str, typer.Option("--split", help="SGD split: train, dev, test, ...")] = "train",
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Keep services already in --out (e.g. seen in train).")
    ] = False,
) -> None:
    """Convert an SGD split's schema.json into one YAML schema per service."""
    from dialog.data.sgd import read_sgd_schemas

    schemas = read_sgd_schemas(data_dir, split)
    out.mkdir(parents=True, exist_ok=True)
    if skip_existing:
        schemas = [s for s in schemas if not (out / f"{s.service}.yaml").exists()]
    for schema in schemas:
        header = (
            f"# {schema.service}: imported from the SGD {split} split by `tod schema import-sgd`.\n"
            "# Schema-Guided Dialogue dataset (Rastogi et al. 2020), CC BY-SA 4.0: see ATTRIBUTION.md.\n"
        )
        (out / f"{schema.service}.yaml").write_text(schema.to_yaml(header), encoding="utf-8")
    n_intents = sum(len(s.intents) for s in schemas)
    n_slots = sum(len(s.slots) for s in schemas)
    typer.echo(f"wrote {len(schemas)} services ({n_intents} intents, {n_slots} slots) to {out}")


@schema_app.command("json-schema")
def schema_json_schema(
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of the YAML format (for editors)."""
    from dialog.schema import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


@db_app.command("build")
def db_build(
    data_dir: DataDir = None,
    split: Annotated[
        list[str] | None, typer.Option("--split", help="SGD split(s) to read (default: train and dev).")
    ] = None,
    schemas: Annotated[
        list[str] | None, typer.Option("--schemas", help="Schemas (default: the imported SGD services).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Directory for the .sqlite files.")] = None,
    quiet: Quiet = False,
) -> None:
    """Build the backend tables of imported SGD services from the results seen in SGD dialogues.

    Without --schemas: the imported services of schemas/sgd and, for each --split given, the
    services of that split's schema.json that schemas/sgd lacks (e.g. those of a test split)."""
    from dialog.common import paths
    from dialog.data.sgd import read_sgd_schemas
    from dialog.infra.dbbuild import build_sgd_databases
    from dialog.schema import expand_paths, load_schemas

    patterns = schemas or [str(paths.schemas_dir() / "sgd" / "*.yaml")]
    loaded = load_schemas(expand_paths(patterns))
    if not schemas:
        known = {s.service for s in loaded}
        for name in split or []:
            extra = [s for s in read_sgd_schemas(data_dir, name) if s.service not in known]
            loaded += extra
            known |= {s.service for s in extra}
    target = out or paths.db_dir() / "sgd"
    start = time.perf_counter()
    stats = build_sgd_databases(loaded, data_dir, split or ["train", "dev"], target, _progress(quiet))
    rows = sum(s.rows for s in stats)
    services = len({s.service for s in stats})
    typer.echo(
        f"built {len(stats)} tables for {services} services, {rows} rows, "
        f"in {time.perf_counter() - start:.1f} s under {target}"
    )


def _load(patterns: list[str] | None, db_dir: Path | None = None) -> tuple[list[Schema], dict[str, Backend]]:
    """Schemas from globs (default: every built-in schema) and a backend for each."""
    from dialog.backend import open_backends

    schemas = _schemas(patterns)
    return schemas, open_backends(schemas, db_dir)


@eval_app.command("dialogues")
def eval_dialogues(
    json_out: Annotated[Path, typer.Option("--json", help="Write the metrics here.")],
    agent: Annotated[str, typer.Option("--agent", help="form, pipeline, simpletod, ...")] = "form",
    schemas: Annotated[
        list[str] | None, typer.Option("--schemas", help="Schema globs (repeat or comma).")
    ] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Dialogues per schema.")] = 100,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    level: Annotated[str, typer.Option("--level", help="acts: policy only; text: every stage.")] = "acts",
    nlu_error: Annotated[float, typer.Option("--nlu-error", min=0.0, max=1.0, help="User error rate.")] = 0.0,
    nlu: Annotated[str | None, typer.Option("--nlu")] = None,
    dst: Annotated[str | None, typer.Option("--dst")] = None,
    policy: Annotated[str | None, typer.Option("--policy")] = None,
    nlg: Annotated[str | None, typer.Option("--nlg")] = None,
    max_turns: Annotated[int, typer.Option("--max-turns", min=1)] = 20,
    report: Annotated[Path | None, typer.Option("--report", help="Write report.md into this folder.")] = None,
    db_dir: Annotated[Path | None, typer.Option("--db-dir", help="Built SGD databases.")] = None,
    user_text: Annotated[
        str,
        typer.Option(
            "--user-text",
            help="templates; sgd: real SGD dev user turns as templates; model: the learned user.",
        ),
    ] = "templates",
    data_dir: DataDir = None,
    coherence: Annotated[
        str,
        typer.Option("--coherence", help="Scorer of text-level replies: auto (committed), a model, or none."),
    ] = "auto",
    goals: Annotated[
        Path | None, typer.Option("--goals", help="A YAML file of fixed user goals, each played once.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Simulated dialogues against the agenda user; task, state and quality metrics as JSON."""
    from dialog.eval.dialogues import EvalConfig, evaluate
    from dialog.eval.report import dialogue_report

    if level not in ("acts", "text"):
        raise TodError(f"--level must be acts or text, not {level!r}")
    loaded, backends = _load(schemas, db_dir)
    config = EvalConfig(
        agent=agent,
        n=n,
        seed=seed,
        level=level,  # type: ignore[arg-type]
        nlu_error=nlu_error,
        max_turns=max_turns,
        stages={"nlu": nlu, "dst": dst, "policy": policy, "nlg": nlg},
        user_text=user_text,
        data_dir=data_dir,
        coherence=coherence,
    )
    scripted = None
    if goals is not None:
        from dialog.user.scripted import load_goals

        scripted = load_goals(goals, {s.service: s for s in loaded})
    with _progress_bar(quiet, "dialogues") as advance:
        result = evaluate(loaded, backends, config, progress=advance, goals=scripted)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result.metrics, indent=2) + "\n")
    if report is not None:
        report.mkdir(parents=True, exist_ok=True)
        (report / "report.md").write_text(dialogue_report(result.metrics, result.samples()))
    m = result.metrics
    typer.echo(
        f"{m['n_dialogues']} dialogues: success {m['success_rate']:.3f}, complete {m['complete_rate']:.3f}, "
        f"turns {m['avg_turns']:.2f}, abandon {m['abandon_rate']:.3f} -> {json_out}"
    )


@eval_app.command("corpus")
def eval_corpus(
    json_out: Annotated[Path, typer.Option("--json", help="Write the metrics here.")],
    agent: Annotated[str, typer.Option("--agent", help="form, pipeline, simpletod, ...")] = "pipeline",
    split: Annotated[str, typer.Option("--split", help="SGD split whose dialogues are replayed.")] = "dev",
    sample: Annotated[
        int | None, typer.Option("--sample", min=1, help="A random sample of N dialogues (--seed).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample.")] = 0,
    services: Annotated[
        str,
        typer.Option("--services", help="dialogue: the services each dialogue lists; all: the split's."),
    ] = "dialogue",
    nlu: Annotated[str | None, typer.Option("--nlu")] = None,
    dst: Annotated[str | None, typer.Option("--dst")] = None,
    policy: Annotated[str | None, typer.Option("--policy")] = None,
    nlg: Annotated[str | None, typer.Option("--nlg")] = None,
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """Real SGD user turns replayed to an agent that keeps its own state: state, acts, replies,
    transactions right / wrong / missed, overall and for seen / unseen services."""
    from dialog.conversation.agent import create_agent
    from dialog.eval.corpus import CorpusConfig, evaluate_corpus
    from dialog.registry import load_builtins

    if services not in ("dialogue", "all"):
        raise TodError(f"--services must be dialogue or all, not {services!r}")
    load_builtins()
    stages = {"nlu": nlu, "dst": dst, "policy": policy, "nlg": nlg}
    config = CorpusConfig(agent, split, sample, seed, services, stages, data_dir)  # type: ignore[arg-type]

    def make(schemas: list[Schema], backends: dict[str, Backend]) -> object:
        return create_agent(agent, schemas, backends, **stages)

    start = time.perf_counter()
    with _progress_bar(quiet, "dialogues") as advance:
        metrics, _ = evaluate_corpus(config, make, progress=advance)
    metrics["config"] = {
        "agent": agent, "split": split, "sample": sample, "seed": seed, "services": services,
        "stages": {k: v for k, v in stages.items() if v}, "seconds": round(time.perf_counter() - start, 1),
    }  # fmt: skip
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(metrics, indent=2) + "\n")

    def show(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    m = metrics
    typer.echo(
        f"{m['n_dialogues']} dialogues ({m['skipped']['n_dialogues']} skipped, {m['n_errors']} failed): "
        f"joint goal {show(m['joint_goal_accuracy'])} (unseen {show(m['unseen']['joint_goal_accuracy'])}), "
        f"act F1 {show(m['act_f1'])}, BLEU {show(m['bleu'])}, transactions right "
        f"{show(m['transaction_right_rate'])} / wrong {show(m['transaction_wrong_rate'])} / missed "
        f"{show(m['transaction_missed_rate'])} -> {json_out}"
    )


@contextlib.contextmanager
def _progress_bar(quiet: bool, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar on a terminal (nothing with --quiet or when output is not a terminal)."""
    if not _progress(quiet):
        yield lambda done, total: None
        return
    from tqdm import tqdm

    bar = tqdm(unit=unit)

    def advance(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        yield advance
    finally:
        bar.close()


train_app = typer.Typer(help="Train components.", no_args_is_help=True)
app.add_typer(train_app, name="train")


export_app = typer.Typer(
    help="Make artifacts from trained ones (int8, shortlist, inference, fluency, ensemble, intent-slots).",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")


def _exported(result: dict[str, object], json_out: Path | None) -> None:
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=1) + "\n")
    typer.echo(json.dumps(result, indent=1))


@export_app.command("int8")
def export_int8_command(
    models: Annotated[
        list[str], typer.Option("--model", help="A SimpleTOD model; repeat to store the mean of several.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for the int8-stored model.")],
) -> None:
    """Store a SimpleTOD model with int8 rows (half the file), or the mean of fine-tuned copies."""
    from dialog.app.export import simpletod_int8

    _exported(simpletod_int8(models, out), None)


@export_app.command("train-pack")
def export_train_pack_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for the pack.")],
    config: Annotated[Path, typer.Option("--config", help="A described-NLU training config (YAML).")],
    data_dir: DataDir = None,
) -> None:
    """A training run as files for a bare GPU machine (torch, transformers, safetensors and this
    repository): there, `python -m dialog.train.standalone PACK OUT --device cuda --checkpoints 4`."""
    from dialog.errors import TodError
    from dialog.nlu.train import load_spec, pack_described

    spec = load_spec(config)
    if spec.model != "described":
        raise TodError(f"{config}: a pack is made for `model: described` (this config trains {spec.model!r})")
    result = pack_described(spec, out, data_dir)
    size = sum(result["bytes"].values()) / 2**20
    typer.echo(f"{result['examples']} examples, {size:.1f} MiB -> {out}")


@export_app.command("shortlist")
def export_shortlist_command(
    model: Annotated[
        str, typer.Option("--model", help="The Transformer NLG's directory or name.")
    ] = "nlg-seq2seq",
    data_dir: DataDir = None,
) -> None:
    """Write the NLG's output-layer shortlist (the word pieces of SGD train's system turns) into it."""
    from dialog.app.export import nlg_shortlist

    _exported(nlg_shortlist(model, data_dir), None)


@export_app.command("inference")
def export_inference_command(
    model: Annotated[
        str, typer.Option("--model", help="The Transformer NLG's directory or name.")
    ] = "nlg-seq2seq",
    int8: Annotated[bool, typer.Option("--int8/--float", help="int8 linear layers.")] = True,
    shortlist: Annotated[
        bool, typer.Option("--shortlist/--full-vocabulary", help="The output-layer shortlist.")
    ] = True,
) -> None:
    """Record how the NLG loads for use (bench/nlg_speed.py measures the choices)."""
    from dialog.app.export import nlg_inference

    _exported(nlg_inference(model, int8, shortlist), None)


@export_app.command("intent-slots")
def export_intent_slots_command(
    model: Annotated[str, typer.Option("--model", help="A benchmark NLU's directory or name.")],
    data: Annotated[str, typer.Option("--data", help="snips or atis: the training split's table.")],
    data_dir: DataDir = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the dev scores here.")] = None,
) -> None:
    """Restrict a benchmark NLU's slot tags to the slots each intent had in training (scored on dev
    before and after; bench/nlu_intent_slots.py measures dev and test)."""
    from dialog.app.export import nlu_intent_slots

    if data not in ("snips", "atis"):
        raise TodError(f"--data must be snips or atis, not {data!r}")
    _exported(nlu_intent_slots(model, data, data_dir), json_out)


@export_app.command("fluency")
def export_fluency_command(
    out: Annotated[Path, typer.Option("--out", help="The model file (lm.json.gz).")],
    data_dir: DataDir = None,
    min_count: Annotated[int, typer.Option("--min-count", min=1)] = 2,
    dev: Annotated[int, typer.Option("--dev", min=10, help="SGD dev turns to validate on.")] = 3000,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the validation here.")] = None,
) -> None:
    """Build the fluency model (trigram Kneser-Ney on SGD train system turns) and validate it."""
    from dialog.app.export import fluency_model

    _exported(fluency_model(data_dir, out, min_count, dev), json_out)


@export_app.command("ensemble")
def export_ensemble_command(
    members: Annotated[list[Path], typer.Option("--member", help="A saved NLU model (repeat).")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the ensemble.")],
    data: Annotated[str, typer.Option("--data", help="snips or atis: the dev split scored.")],
    data_dir: DataDir = None,
    intent_slots: Annotated[
        bool, typer.Option("--intent-slots", help="Restrict tags to the intent's slots.")
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the dev scores here.")] = None,
) -> None:
    """Make NLU seed models one ensemble (the mean of their logits) and score each on dev."""
    from dialog.app.export import nlu_ensemble

    if data not in ("snips", "atis"):
        raise TodError(f"--data must be snips or atis, not {data!r}")
    _exported(nlu_ensemble(members, out, data, data_dir, intent_slots), json_out)


@train_app.command("nlu")
def train_nlu_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for the model (adapters, heads, meta.json).")],
    config: Annotated[Path | None, typer.Option("--config", help="YAML overrides of the defaults.")] = None,
    data_dir: DataDir = None,
    quiet: Quiet = False,
    device: Device = None,
) -> None:
    """Train the joint BERT NLU (SGD + simulated dialogues of the showcase schemas, or SNIPS / ATIS)."""
    from dialog.nlu.train import load_spec, train_nlu

    result = train_nlu(_on(load_spec(config), device), out, data_dir, progress=_progress(quiet))
    dev = result["dev"]
    typer.echo(
        f"trained in {result['history']['minutes']:.1f} min; dev intent {dev['intent_accuracy']:.4f}, "
        f"slot F1 {dev['slot_f1']:.4f}, sentence {dev['sentence_accuracy']:.4f}, "
        f"latency p50 {dev['latency_ms_p50']:.1f} ms -> {out}"
    )


@eval_app.command("nlu")
def eval_nlu_command(
    json_out: Annotated[Path, typer.Option("--json", help="Write the metrics here.")],
    model: Annotated[str, typer.Option("--model", help="A model directory or committed name, or `rule`.")],
    data: Annotated[str, typer.Option("--data", help="snips, atis or sgd.")] = "snips",
    data_dir: DataDir = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Default: test (snips, atis), dev (sgd).")
    ] = None,
    quantized: Annotated[
        bool, typer.Option("--int8/--float", help="int8 dynamic quantization (it costs SNIPS 0.6 points).")
    ] = False,
    bf16: Annotated[
        bool | None,
        typer.Option("--bf16/--fp32", help="Encoder in bfloat16 or float32 (default: the model's meta)."),
    ] = None,
    record: Annotated[
        bool, typer.Option("--record", help="Also store the metrics in the model's meta.json.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Intent accuracy, slot F1 (seqeval), sentence accuracy and latency on a benchmark's test split,
    or on SGD user turns (seen and unseen services)."""
    from dialog.eval.nlu import evaluate_nlu
    from dialog.infra.artifacts import record_metrics

    with _progress_bar(quiet, "utterances") as advance:
        metrics = evaluate_nlu(model, data, data_dir, split, quantized, bf16, progress=advance)
    if record:
        suffix = "_int8" if quantized else {None: "", True: "_bf16", False: "_fp32"}[bf16]
        record_metrics(model, f"{data}_{metrics['split']}{suffix}", metrics)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(metrics, indent=2) + "\n")
    typer.echo(
        f"{data} {metrics['split']}: intent {metrics['intent_accuracy']:.4f}, "
        f"slot F1 {metrics['slot_f1']:.4f}, sentence {metrics['sentence_accuracy']:.4f}, "
        f"p50 {metrics['latency_ms_p50']:.1f} ms -> {json_out}"
    )


@train_app.command("dst")
def train_dst_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for the model (adapters, heads, meta.json).")],
    config: Annotated[Path | None, typer.Option("--config", help="YAML overrides of the defaults.")] = None,
    data_dir: DataDir = None,
    quiet: Quiet = False,
    device: Device = None,
) -> None:
    """Train the schema-guided BERT tracker on SGD train (best checkpoint by dev joint goal accuracy)."""
    from dialog.dst.train import load_spec, train_dst

    result = train_dst(_on(load_spec(config), device), out, data_dir, progress=_progress(quiet))
    best = result["history"]["best"] or {}
    typer.echo(
        f"trained on {result['examples']} frames in {result['history']['minutes']:.1f} min; "
        f"best dev slice {json.dumps(best)} -> {out}"
    )


@train_app.command("policy")
def train_policy_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for the policy (model.zip, meta.yaml).")],
    config: Annotated[Path | None, typer.Option("--config", help="YAML overrides of the defaults.")] = None,
    quiet: Quiet = False,
) -> None:
    """Train the dialogue policy: behaviour cloning of the form policy, then PPO against the simulated
    user, for each seed; keeps the best checkpoint by validation success and plots the curves."""
    from dialog.policy.train import load_spec, train_policy

    meta = train_policy(load_spec(config), out, log=None if quiet else typer.echo)
    best = next(r for r in meta["seeds"] if r["seed"] == meta["best_seed"])["best"]
    scores = ", ".join(f"{k} {v:.3f}" for k, v in best.items() if "@" in k)
    typer.echo(
        f"trained {len(meta['seeds'])} seeds in {meta['minutes']:.1f} min; "
        f"best seed {meta['best_seed']}: {scores} -> {out}"
    )


@train_app.command("nlg")
def train_nlg_command(
    out: Annotated[
        Path, typer.Option("--out", help="Directory for the model (adapters, new layers, meta.json).")
    ],
    config: Annotated[Path | None, typer.Option("--config", help="YAML overrides of the defaults.")] = None,
    data_dir: DataDir = None,
    quiet: Quiet = False,
    device: Device = None,
) -> None:
    """Train the Transformer NLG on SGD system turns (best checkpoint by dev BLEU and slot errors)."""
    from dialog.nlg.train import load_spec, train_nlg

    _trained(
        train_nlg(_on(load_spec(config), device), out, data_dir, progress=_progress(quiet)), "pairs", out
    )


def _trained(result: dict[str, object], what: str, out: Path) -> None:
    """The one line a trainer ends with: what it trained on, how long, the best dev slice."""
    history: dict[str, object] = result["history"]  # type: ignore[assignment]
    skipped = f" ({result['skipped']} skipped)" if "skipped" in result else ""
    typer.echo(
        f"trained on {result['examples']} {what}{skipped} in {history['minutes']:.1f} min; "
        f"best dev slice {json.dumps(history['best'] or {})} -> {out}"
    )


@train_app.command("user")
def train_user_command(
    out: Annotated[
        Path, typer.Option("--out", help="Directory for the model (adapters, new layers, meta.json).")
    ],
    config: Annotated[Path | None, typer.Option("--config", help="YAML overrides of the defaults.")] = None,
    data_dir: DataDir = None,
    quiet: Quiet = False,
    device: Device = None,
) -> None:
    """Train the learned user's generator on SGD user turns (warm started from the committed NLG;
    best checkpoint by dev BLEU and value errors)."""
    from dialog.user.train import load_spec, train_user

    _trained(
        train_user(_on(load_spec(config), device), out, data_dir, progress=_progress(quiet)),
        "user turns",
        out,
    )


@eval_app.command("user")
def eval_user_command(
    json_out: Annotated[Path, typer.Option("--json", help="Write the metrics here.")],
    model: Annotated[
        str, typer.Option("--model", help="A user model directory or committed name, or templates.")
    ] = "user-seq2seq",
    data_dir: DataDir = None,
    split: Annotated[str, typer.Option("--split", help="SGD split whose user turns are compared.")] = "dev",
    n: Annotated[int, typer.Option("--n", min=10, help="User turns sampled (seed 0).")] = 1000,
    sampling: Annotated[
        bool, typer.Option("--sample/--greedy", help="Decode as in a simulation (sampled) or greedily.")
    ] = True,
    quiet: Quiet = False,
) -> None:
    """The simulated user's words against real SGD user turns: BLEU, distinct-n, value errors, and
    the AUC of a real-vs-generated discriminator (lower is better)."""
    from dialog.data.sgd import read_sgd_schemas
    from dialog.nlg.seq2seq import Seq2SeqNLG
    from dialog.types import GenerationSettings
    from dialog.user.learned import SAMPLING, LearnedUserText
    from dialog.user.text import UserText
    from dialog.user.train import dev_pairs, score_user

    schemas = read_sgd_schemas(data_dir, "train") + read_sgd_schemas(data_dir, split)
    pairs = dev_pairs(data_dir, split, n, 0)
    if model == "templates":
        user: LearnedUserText | UserText = UserText(schemas)
    else:
        user = LearnedUserText(
            schemas, Seq2SeqNLG.load(model), SAMPLING if sampling else GenerationSettings()
        )
    with _progress_bar(quiet, "turns") as advance:
        metrics = score_user(user, pairs, progress=advance)
    metrics.update(model=model, split=split, sampling=sampling if model != "templates" else None)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    typer.echo(
        f"{metrics['n']} user turns: BLEU {metrics['bleu']:.1f}, distinct-2 {metrics['distinct_2']:.3f} "
        f"(real {metrics['real_distinct_2']:.3f}), value errors {metrics['value_error_rate']:.3f}, "
        f"discriminator AUC {metrics['discriminator_auc']:.3f} -> {json_out}"
    )


@train_app.command("humanlike")
def train_humanlike_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for the model (weights.npz, meta.json).")],
    n: Annotated[
        int, typer.Option("--n", min=100, help="SGD train system turns (and as many generated).")
    ] = 3000,
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """Train the human-likeness discriminator (real SGD system turns against the NLGs' replies to the
    same acts) and validate it on held-apart SGD dev turns."""
    from dialog.eval.humanlike import train_humanlike

    with _progress_bar(quiet, "replies") as advance:
        validation = train_humanlike(data_dir, out, n_train=n, progress=advance)
    typer.echo(f"validated on {validation['n_dev']} SGD dev turns: {json.dumps(validation)} -> {out}")


@train_app.command("simpletod")
def train_simpletod_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for the model (adapters, meta.json).")],
    config: Annotated[Path | None, typer.Option("--config", help="YAML overrides of the defaults.")] = None,
    data_dir: DataDir = None,
    quiet: Quiet = False,
    device: Device = None,
) -> None:
    """Train the SimpleTOD language model on SGD train turns (best checkpoint by joint goal accuracy
    on a slice of SGD dev)."""
    from dialog.e2e.train import load_spec, train_simpletod

    _trained(
        train_simpletod(_on(load_spec(config), device), out, data_dir, progress=_progress(quiet)),
        "turns",
        out,
    )


@eval_app.command("routing")
def eval_routing_command(
    json_out: Annotated[Path, typer.Option("--json", help="Write the figures here.")],
    data_dir: DataDir = None,
    split: Annotated[
        str, typer.Option("--split", help="SGD split: every one of its services is loaded.")
    ] = "dev",
    sample: Annotated[
        int | None, typer.Option("--sample", help="A random sample of N dialogues (seed 0).")
    ] = None,
    nlu: Annotated[
        str | None, typer.Option("--nlu", help="Also route with this NLU (rule, bert) for comparison.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Which service a user means, with all of a split's services loaded: the first turn of each
    dialogue and each switch of service, routed by the schemas' descriptions (and by an NLU)."""
    from dialog.eval.routing import evaluate_routing

    parser = None
    if nlu is not None:
        from dialog.data.sgd import read_sgd_schemas
        from dialog.registry import load_builtins, registry

        load_builtins()
        schemas = read_sgd_schemas(data_dir, split)
        backends: dict[str, Backend] = {}
        parser = registry.create("nlu", nlu, schemas=schemas, backends=backends)
    with _progress_bar(quiet, "turns") as advance:
        metrics = evaluate_routing(data_dir, split, sample, parser, progress=advance)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(metrics, indent=1) + "\n")
    router = metrics["router"]
    seen, unseen = router["seen"].get("service_accuracy", 0), router["unseen"].get("service_accuracy", 0)
    line = (
        f"{router['n']} first turns, {metrics['services']} services: service "
        f"{router['service_accuracy']:.3f} (seen {seen:.3f}, unseen {unseen:.3f}), "
        f"intent {router['intent_accuracy']:.3f}"
    )
    if "nlu" in metrics:
        line += f"; {nlu} NLU: service {metrics['nlu']['service_accuracy']:.3f}"
    typer.echo(f"{line} -> {json_out}")


@eval_app.command("nlg")
def eval_nlg_command(
    json_out: Annotated[Path, typer.Option("--json", help="Write the metrics here.")],
    model: Annotated[
        str, typer.Option("--model", help="A model directory or committed name, or `template`.")
    ] = "nlg-seq2seq",
    data_dir: DataDir = None,
    split: Annotated[str, typer.Option("--split", help="SGD split.")] = "dev",
    limit: Annotated[
        int, typer.Option("--limit", help="A random sample of this many system turns (0: all).")
    ] = 0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    beams: Annotated[int, typer.Option("--beams", help="Beam width (1: greedy).")] = 1,
    record: Annotated[
        bool, typer.Option("--record", help="Store the figures in the model's meta.json.")
    ] = False,
    constrain: Annotated[
        bool, typer.Option("--constrain/--no-constrain", help="Slot-constrained decoding (default on).")
    ] = True,
    mend: Annotated[
        bool,
        typer.Option(
            "--mend/--no-mend", help="A REQUEST's options left unsaid said in a clause (default off)."
        ),
    ] = False,
    unstutter: Annotated[
        bool,
        typer.Option(
            "--unstutter/--no-unstutter", help="Decoding barred from repeated trigrams (default off)."
        ),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """BLEU and slot error rate on SGD system turns, seen and unseen services."""
    from dialog.eval.nlg import evaluate_nlg
    from dialog.types import GenerationSettings

    with _progress_bar(quiet, "replies") as advance:
        metrics = evaluate_nlg(
            model,
            data_dir,
            split,
            limit,
            seed,
            GenerationSettings(num_beams=beams),
            constrain,
            mend,
            unstutter,
            progress=advance,
        )
    if record and model != "template":
        from dialog.infra.artifacts import record_metrics

        record_metrics(model, f"sgd_{split}" + (f"_{limit}" if limit else ""), metrics)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(metrics, indent=2) + "\n")
    typer.echo(
        f"{model} on SGD {split} ({metrics['n']} turns): BLEU {metrics['bleu']:.1f}, slot error rate "
        f"{metrics['slot_error_rate']:.4f}, fallback {metrics['fallback_rate']:.3f}, "
        f"mended {metrics.get('mended_rate', 0.0):.3f}, "
        f"p50 {metrics['latency_ms_p50']:.0f} ms -> {json_out}"
    )


@train_app.command("coherence")
def train_coherence_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for the scorer (adapters, head, meta.json).")],
    config: Annotated[Path | None, typer.Option("--config", help="YAML overrides of the defaults.")] = None,
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """Train the coherence scorer: real next system turns of SGD against sampled negatives."""
    from dialog.eval.coherence import CoherenceTrainSpec, train_coherence
    from dialog.train.spec import read_spec

    result = train_coherence(read_spec(config, CoherenceTrainSpec), out, data_dir, progress=_progress(quiet))
    typer.echo(f"trained on {result['examples']} pairs; SGD dev AUC {json.dumps(result['metrics'])} -> {out}")


@eval_app.command("report")
def eval_report_command(
    runs: Annotated[
        list[Path], typer.Option("--runs", help="JSON outputs of `tod eval dialogues` (repeat).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for report.md and the PNGs.")],
    quiet: Quiet = False,  # accepted as by every `tod eval`; the report takes a second and has no bar
) -> None:
    """One Markdown + PNG report comparing runs side by side."""
    from dialog.eval.compare import load_runs, write_report

    path = write_report(load_runs(runs), out)
    typer.echo(f"{len(runs)} runs compared -> {path}")


@eval_app.command("dst")
def eval_dst_command(
    json_out: Annotated[Path, typer.Option("--json", help="Write the metrics here.")],
    model: Annotated[str, typer.Option("--model", help="A model directory or committed name.")] = "dst-bert",
    data_dir: DataDir = None,
    split: Annotated[str, typer.Option("--split", help="SGD split to track.")] = "dev",
    predictions_out: Annotated[
        Path | None, typer.Option("--predictions-out", help="Write the tracked dialogues (SGD JSON) here.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N dialogues.")] = None,
    sample: Annotated[
        int | None, typer.Option("--sample", help="A random sample of N dialogues (seed 0).")
    ] = None,
    sgd_x: Annotated[
        int | None, typer.Option("--sgd-x", min=1, max=5, help="Use SGD-X schema variant 1..5.")
    ] = None,
    quantized: Annotated[bool, typer.Option("--int8/--float", help="int8 dynamic quantization.")] = False,
    constrain: Annotated[
        bool,
        typer.Option("--constrain/--no-constrain", help="simpletod: schema-constrained decoding."),
    ] = True,
    beams: Annotated[
        int, typer.Option("--beams", min=1, help="simpletod: beam search over the belief (1: greedy).")
    ] = 1,
    aligned: Annotated[
        bool,
        typer.Option(
            "--align/--no-align",
            help="simpletod: read new services' slot and intent names as the trained names they match.",
        ),
    ] = True,
    align_min: Annotated[
        float | None,
        typer.Option(
            "--align-min", min=0.0, max=1.0, help="simpletod: the least cosine of an aligned name (0.45)."
        ),
    ] = None,
    score_dir: Annotated[
        Path | None,
        typer.Option("--score", help="Score predictions already written (SGD JSON) instead of tracking."),
    ] = None,
    record: Annotated[
        bool, typer.Option("--record", help="Also store the metrics in the model's meta.json.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Joint goal, average goal and active intent accuracy and requested slot F1 (the official SGD
    definitions), overall and for seen / unseen services."""
    from dialog.eval.dst import TrackerOptions, evaluate_tracker, predictions_tracker, tracker_for

    if score_dir is not None:  # predictions on disk, scored against the whole split
        tracker, limit, sample, model = predictions_tracker(score_dir), None, None, f"predictions:{score_dir}"
    else:
        options = TrackerOptions(_progress(quiet), quantized, constrain, beams, aligned, align_min)
        tracker = tracker_for(model, options)
    metrics = evaluate_tracker(tracker, data_dir, split, limit, predictions_out, sgd_x, sample)
    if record and score_dir is None:
        from dialog.infra.artifacts import record_metrics

        key = f"sgd_{split}" + (f"_sgdx{sgd_x}" if sgd_x else "") + ("_int8" if quantized else "")
        record_metrics(model, key, {k: v for k, v in metrics.items() if k != "per_service"})
    metrics.update(model=model, split=split, sgd_x=sgd_x, quantized=quantized, sample=sample)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(metrics, indent=1) + "\n")
    unseen = (metrics.get("unseen") or {}).get("joint_goal_accuracy")
    typer.echo(
        f"{metrics['n_frames']} frames: joint goal {metrics['joint_goal_accuracy']:.4f} "
        f"(unseen {unseen if unseen is None else round(unseen, 4)}), active intent "
        f"{metrics['active_intent_accuracy']:.4f}, requested F1 {metrics['requested_slots_f1']:.4f}"
    )


@app.command("bench")
def bench_command(
    json_out: Annotated[Path, typer.Option("--json", help="Write the figures here.")],
    agent: Annotated[str, typer.Option("--agent")] = "pipeline",
    schemas: Annotated[
        list[str] | None, typer.Option("--schemas", help="Schema globs (repeat or comma).")
    ] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Dialogues per schema and level.")] = 20,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    nlu: Annotated[str | None, typer.Option("--nlu")] = None,
    dst: Annotated[str | None, typer.Option("--dst")] = None,
    policy: Annotated[str | None, typer.Option("--policy")] = None,
    nlg: Annotated[str | None, typer.Option("--nlg")] = None,
    db_dir: Annotated[Path | None, typer.Option("--db-dir", help="Built SGD databases.")] = None,
    greedy: Annotated[
        bool, typer.Option("--greedy", help="The Transformer NLG decodes greedily (not its own decoding).")
    ] = False,
    memo: Annotated[
        bool, typer.Option("--memo/--no-memo", help="Reuse replies of greedy/beam decodings already done.")
    ] = True,
    quiet: Quiet = False,
) -> None:
    """Per-stage and whole-turn latency (p50, p99), dialogues per second, peak memory."""
    from dialog.eval.bench import bench

    loaded, backends = _load(schemas or ["schemas/showcase/*.yaml"], db_dir)
    chosen = {"nlu": nlu, "dst": dst, "policy": policy, "nlg": nlg}
    with _progress_bar(quiet, "dialogues") as advance:
        result = bench(agent, loaded, backends, n, seed, chosen, greedy=greedy, memo=memo, progress=advance)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2) + "\n")
    stages = ", ".join(
        f"{k[:-7]} {result[k]:.2f}" for k in result if k.endswith("_ms_p50") and not k.startswith("turn")
    )
    acts = result.get("dialogues_per_s_acts")
    typer.echo(
        f"turn p50 {result['turn_ms_p50']:.1f} ms, p99 {result['turn_ms_p99']:.1f} ms ({stages}); "
        f"one encoder pass {result['encoder_pass_ms']:.1f} ms, so p50 {result['turn_p50_in_passes']:.1f}x, "
        f"p99 {result['turn_p99_in_passes']:.1f}x; "
        + (f"{acts:.0f} dialogues/s at act level, " if acts is not None else "")
        + f"{result['dialogues_per_s_text']:.1f} at text level; "
        f"peak memory {result['peak_memory_mb']:.0f} MB -> {json_out}"
    )


@test_app.command("scripts")
def test_scripts_command(
    paths: Annotated[list[str], typer.Argument(help="Script files, directories or globs.")],
    agent: Annotated[str, typer.Option("--agent")] = "form",
    schemas: Annotated[
        list[str] | None, typer.Option("--schemas", help="Schema globs (default: all).")
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    db_dir: Annotated[Path | None, typer.Option("--db-dir", help="Built SGD databases.")] = None,
    nlu: Annotated[str | None, typer.Option("--nlu")] = None,
    dst: Annotated[str | None, typer.Option("--dst")] = None,
    policy: Annotated[str | None, typer.Option("--policy")] = None,
    nlg: Annotated[str | None, typer.Option("--nlg")] = None,
) -> None:
    """Play conversation scripts against an agent; exit 1 when any step fails."""
    from dialog.app.scripts import diff_lines, junit_xml, load_scripts, run_script
    from dialog.common.yamlpos import YamlProblems
    from dialog.conversation.agent import create_agent
    from dialog.schema import expand_paths

    files = []
    for path in expand_paths(paths):
        files += sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise TodError(f"no script files match {paths}")
    loaded_schemas = _schemas(schemas)
    by_service = {s.service: s for s in loaded_schemas}
    scripts, problems = [], []
    for file in files:
        try:
            scripts += load_scripts(file, by_service)
        except YamlProblems as exc:
            problems += exc.problems
    if problems:
        raise YamlProblems(problems)
    # Only the services the scripts name get a backend (the showcase needs no `tod db build`); each
    # script plays against an agent serving exactly its services.
    backends, missing = _open_some(by_service, {s for x in scripts for s in x.script.services}, db_dir)
    stages = {"nlu": nlu, "dst": dst, "policy": policy, "nlg": nlg}
    agents: dict[tuple[str, ...], Any] = {}
    results, skipped = [], []
    for loaded in scripts:
        services = tuple(loaded.script.services)
        lacking = [s for s in services if s in missing]
        if lacking:
            skipped.append(f"skipped {loaded.file}:{loaded.line}: {loaded.script.name} (no backend: "
                           f"{', '.join(f'{s}: {missing[s]}' for s in lacking)})")  # fmt: skip
            continue
        if services not in agents:
            served = [by_service[s] for s in services]
            agents[services] = create_agent(agent, served, {s: backends[s] for s in services}, **stages)
        results.append(run_script(loaded, agents[services]))
    for result in results:
        if result.passed:
            typer.echo(f"passed {result.file}:{result.line}: {result.name}")
        else:
            typer.echo("\n".join(diff_lines(result)))
    for line in skipped:
        typer.echo(line)
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(junit_xml(results) + "\n")
    failed = sum(not r.passed for r in results)
    names = ", ".join(f"{k} {v}" for k, v in next(iter(agents.values())).names.items()) if agents else ""
    summary = f"{len(results) - failed} of {len(results)} scripts passed ({agent}: {names})"
    if skipped:
        summary += f"; {len(skipped)} could not run: their services have no backend"
    typer.echo(summary)
    if failed or skipped:
        raise typer.Exit(1)


def _schemas(patterns: list[str] | None) -> list[Schema]:
    """Schemas from globs (default: every built-in schema), without their backends."""
    from dialog.common import paths
    from dialog.registry import load_builtins
    from dialog.schema import expand_paths, load_schemas

    load_builtins()
    files = expand_paths(patterns or [str(paths.schemas_dir() / "**" / "*.yaml")])
    if not files:
        raise TodError(f"no schema files match {patterns}")
    return load_schemas(files)


def _open_some(
    schemas: dict[str, Schema], wanted: set[str], db_dir: Path | None
) -> tuple[dict[str, Backend], dict[str, str]]:
    """Backends of the ``wanted`` services, and why each one that cannot open has none."""
    from dialog.backend import open_backends
    from dialog.errors import BackendError

    opened, missing = {}, {}
    for service in sorted(wanted):
        try:
            opened.update(open_backends([schemas[service]], db_dir))
        except BackendError as exc:
            missing[service] = str(exc)
    return opened, missing


@app.command("chat")
def chat(
    agent: Annotated[str | None, typer.Option("--agent", help="Default: the best agent available.")] = None,
    schemas: Annotated[
        list[str] | None, typer.Option("--schemas", help="Schema globs (default: all).")
    ] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 7860,
    db_dir: Annotated[Path | None, typer.Option("--db-dir", help="Built SGD databases.")] = None,
    log: Annotated[Path | None, typer.Option("--log", help="Conversation log (SQLite).")] = None,
) -> None:
    """Open the Gradio app (the main job): chat, schema authoring, evaluation."""
    from dialog.app.assistant import Assistant
    from web.app import build

    start = time.perf_counter()
    assistant = Assistant(schemas, db_dir, log)
    chosen = agent or assistant.default_agent()
    assistant.agent(chosen)  # load the default agent now, so the first reply is quick
    if assistant.skipped:
        typer.echo(
            f"skipped {len(assistant.skipped)} services whose backend is missing (for imported SGD services: "
            f"run `tod db build --data-dir DIR`); first: {assistant.skipped[0]}",
            err=True,
        )
    for note in assistant.notes:
        typer.echo(note, err=True)
    demo = build(assistant, chosen)
    demo.queue(default_concurrency_limit=8)
    typer.echo(
        f"tod: agent {chosen!r} on {len(assistant.services())} services, "
        f"conversations logged to {assistant.log.path} (ready in {time.perf_counter() - start:.1f} s)"
    )
    demo.launch(server_name=host, server_port=port)


def main() -> None:
    try:
        app()
    except TodError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
