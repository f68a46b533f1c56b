"""Build backend tables for imported SGD services from the ``service_results`` seen in dialogues."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dialog.backend import Backend
from dialog.data.sgd import iter_dialogues
from dialog.schema import Schema
from dialog.types import DONTCARE, Speaker


@dataclass(frozen=True)
class TableStats:
    service: str
    table: str
    rows: int
    calls: int


def build_sgd_databases(
    schemas: Sequence[Schema],
    data_dir: str | Path | None,
    splits: Sequence[str],
    out_dir: Path,
    progress: bool = False,
) -> list[TableStats]:
    """Write ``out_dir/<service>.sqlite`` for every schema with built tables, rows deduplicated."""
    # Every imported service gets a database: its built tables and the vocabulary of its slots.
    by_service = {s.service: s for s in schemas}
    rows: dict[tuple[str, str], dict[tuple[tuple[str, str], ...], None]] = defaultdict(dict)
    calls: dict[tuple[str, str], int] = defaultdict(int)
    # Values users gave for each slot: the vocabulary for slots that no table holds (dates, times).
    said: dict[str, dict[tuple[str, str], None]] = defaultdict(dict)
    for split in splits:
        for dialogue in iter_dialogues(data_dir, split, progress=progress):
            for turn in dialogue.turns:
                if turn.speaker is not Speaker.SYSTEM:
                    for frame in turn.frames:
                        if frame.service in by_service and frame.state is not None:
                            for slot, values in frame.state.slot_values.items():
                                said[frame.service].update(
                                    ((slot, v), None) for v in values[:1] if v != DONTCARE
                                )
                    continue
                for frame in turn.frames:
                    schema = by_service.get(frame.service)
                    if schema is None or frame.service_call is None:
                        continue
                    intent = schema.intent(frame.service_call.method)
                    if intent.table is None or not schema.backend.tables[intent.table].built:
                        continue
                    key = (frame.service, intent.table)
                    calls[key] += 1
                    for row in frame.service_results or ():
                        rows[key][tuple(sorted(row.items()))] = None
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = []
    for service, schema in sorted(by_service.items()):
        path = out_dir / f"{service}.sqlite"
        tmp = path.with_suffix(".sqlite.tmp")
        tmp.unlink(missing_ok=True)
        # Built tables are filled here; create with a schema copy whose tables are not marked built.
        with Backend.open(_unbuilt(schema), tmp) as backend:
            for table in schema.backend.tables:
                table_rows = [dict(r) for r in rows.get((service, table), {})]
                backend.insert(table, table_rows)
                stats.append(TableStats(service, table, len(table_rows), calls.get((service, table), 0)))
            backend.add_vocabulary(list(said.get(service, {})))
        tmp.replace(path)
    return stats


def _unbuilt(schema: Schema) -> Schema:
    tables = {name: t.model_copy(update={"built": False}) for name, t in schema.backend.tables.items()}
    backend = schema.backend.model_copy(update={"tables": tables})
    return schema.model_copy(update={"backend": backend})
