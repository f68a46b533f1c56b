"""The ``tod`` command line. Errors the user can fix print as messages, without a traceback."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from dialog.errors import TodError
from dialog.yamlpos import YamlProblems

app = typer.Typer(help="tod: task-oriented dialogue from YAML schemas.", no_args_is_help=True)
schema_app = typer.Typer(help="Validate, import and export service schemas.", no_args_is_help=True)
db_app = typer.Typer(help="Backend databases.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(db_app, name="db")

DataDir = Annotated[
    str | None,
    typer.Option("--data-dir", help="Data directory (default: $TOD_DATA_DIR).", show_default=False),
]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bars.")]


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
    split: Annotated[str, typer.Option("--split", help="SGD split: train or dev.")] = "train",
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
    """Build the backend tables of imported SGD services from the results seen in SGD dialogues."""
    from dialog import paths
    from dialog.dbbuild import build_sgd_databases
    from dialog.schema import expand_paths, load_schemas

    patterns = schemas or [str(paths.schemas_dir() / "sgd" / "*.yaml")]
    loaded = load_schemas(expand_paths(patterns))
    target = out or paths.db_dir() / "sgd"
    start = time.perf_counter()
    stats = build_sgd_databases(loaded, data_dir, split or ["train", "dev"], target, _progress(quiet))
    rows = sum(s.rows for s in stats)
    services = len({s.service for s in stats})
    typer.echo(
        f"built {len(stats)} tables for {services} services, {rows} rows, "
        f"in {time.perf_counter() - start:.1f} s under {target}"
    )


@app.command("chat")
def chat(
    agent: Annotated[str, typer.Option("--agent")] = "form",
    schemas: Annotated[list[str] | None, typer.Option("--schemas")] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 7860,
) -> None:
    """Open the Gradio chat app (the main job)."""
    raise TodError(
        "the chat app is not built yet: it needs the form agent (issue 3) and the app (issue 4). "
        "Available now: `tod schema validate`, `tod schema import-sgd`, `tod db build`."
    )


def main() -> None:
    try:
        app()
    except TodError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
