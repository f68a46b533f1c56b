"""An embedded SQLite backend per service: search by constraints, execute transactional intents.

Every table has one TEXT column per slot of the schema. Values are always bound as parameters;
table and column names come only from the validated schema (names match ``NAME_PATTERN``) and are
quoted, so nothing a user says ever becomes SQL.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from dialog.errors import BackendError
from dialog.schema import Intent, Schema
from dialog.types import DONTCARE, BackendResult, Row, ServiceCall

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
TRANSACTIONS = "tod_transactions"
VOCABULARY = "tod_vocabulary"


def _quote(name: str) -> str:
    if not _IDENT.match(name):  # the schema validator already guarantees this; defence in depth
        raise BackendError(f"not a valid table or column name: {name!r}")
    return f'"{name}"'


def _table(name: str) -> str:
    return _quote(f"t_{name}")


def _norm(value: str) -> str:
    return " ".join(str(value).split()).casefold()


Constraint = str | Sequence[str]


class Backend:
    """The database of one service. Create with ``Backend.open``."""

    def __init__(self, schema: Schema, connection: sqlite3.Connection) -> None:
        self.schema = schema
        self._db = connection
        self._db.row_factory = sqlite3.Row
        self._used: dict[str, set[str]] = {}
        # One connection serves every thread of the app: a call and its savepoints run alone.
        self._lock = threading.RLock()
        # SQLite's lower() only folds ASCII; compare with Python's casefold instead.
        self._db.create_function("tod_norm", 1, lambda v: None if v is None else _norm(v), deterministic=True)

    # --- creating --------------------------------------------------------------------------

    @classmethod
    def open(cls, schema: Schema, path: str | Path | None = None) -> Backend:
        """Open the service's database at ``path`` (in memory when None), creating missing tables.

        Inline and CSV rows are loaded into empty tables; built tables (imported SGD services) must
        have been filled by ``tod db build``.
        """
        built = [name for name, t in schema.backend.tables.items() if t.built]
        if path is None and built:
            raise BackendError(
                f"service {schema.service} reads tables built by `tod db build` ({', '.join(built)}): "
                "open it with the database path"
            )
        if path is not None and built and not Path(path).is_file():
            raise BackendError(f"database not found: {path} (run `tod db build` first)")
        # Autocommit mode: writes are grouped by explicit savepoints (see _atomic), which nest, so
        # that a whole simulated dialogue can run in a sandbox and be rolled back.
        connection = sqlite3.connect(
            ":memory:" if path is None else str(path), check_same_thread=False, isolation_level=None
        )
        backend = cls(schema, connection)
        backend._create()
        return backend

    @contextlib.contextmanager
    def _atomic(self, rollback: bool = False) -> Iterator[None]:
        name = f"tod_sp_{id(self)}"
        with self._lock:
            self._db.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self._db.execute(f"ROLLBACK TO {name}")
                self._db.execute(f"RELEASE {name}")
                raise
            if rollback:
                self._db.execute(f"ROLLBACK TO {name}")
            self._db.execute(f"RELEASE {name}")

    @contextlib.contextmanager
    def sandbox(self) -> Iterator[Backend]:
        """Everything done inside (bookings, consumed rows) is rolled back at the end."""
        with self._atomic(rollback=True):
            yield self

    def _create(self) -> None:
        columns = ", ".join(f"{_quote(s)} TEXT" for s in self.schema.slot_names)
        with self._atomic():
            for name, table in self.schema.backend.tables.items():
                self._db.execute(f"CREATE TABLE IF NOT EXISTS {_table(name)} ({columns})")
                if self.count(name) == 0 and not table.built:
                    rows = table.rows if table.csv is None else self._read_csv(table.csv)
                    self.insert(name, rows)
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {_quote(TRANSACTIONS)} "
                "(id INTEGER PRIMARY KEY, intent TEXT, parameters TEXT, created TEXT)"
            )
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {_quote(VOCABULARY)} (slot TEXT, value TEXT)")

    def add_vocabulary(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Record values that slots take outside any table (e.g. the dates users asked for)."""
        with self._atomic():
            self._db.executemany(f"INSERT INTO {_quote(VOCABULARY)} (slot, value) VALUES (?, ?)", pairs)

    def _read_csv(self, name: str) -> list[dict[str, str]]:
        base = self.schema.path.parent if self.schema.path else Path(".")
        path = base / name
        try:
            with path.open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        except OSError as exc:
            raise BackendError(f"{path}: cannot read: {exc.strerror}") from None
        unknown = set(rows[0]) - set(self.schema.slot_names) if rows else set()
        if unknown:
            raise BackendError(f"{path}: columns are not slots of {self.schema.service}: {sorted(unknown)}")
        return rows

    def insert(self, table: str, rows: Sequence[Mapping[str, str]]) -> int:
        """Add rows to a table; columns must be slots of the schema."""
        self._check_table(table)
        slots = self.schema.slot_names
        with self._atomic():
            for row in rows:
                unknown = set(row) - set(slots)
                if unknown:
                    raise BackendError(f"{self.schema.service}: unknown columns {sorted(unknown)}")
                names = list(row)
                sql = (
                    f"INSERT INTO {_table(table)} ({', '.join(_quote(n) for n in names)}) "
                    f"VALUES ({', '.join('?' for _ in names)})"
                )
                self._db.execute(sql, [None if row[n] is None else str(row[n]) for n in names])
        return len(rows)

    # --- querying --------------------------------------------------------------------------

    def _check_table(self, table: str) -> None:
        if table not in self.schema.backend.tables:
            raise BackendError(f"{self.schema.service} has no table {table!r}")

    def count(self, table: str) -> int:
        self._check_table(table)
        return int(self._db.execute(f"SELECT COUNT(*) FROM {_table(table)}").fetchone()[0])

    def _used_columns(self, table: str) -> set[str]:
        # Columns with at least one value: constraints on other slots cannot filter this table.
        if table in self._used:
            return self._used[table]
        used = set()
        for slot in self.schema.slot_names:
            q = f"SELECT 1 FROM {_table(table)} WHERE {_quote(slot)} IS NOT NULL LIMIT 1"
            if self._db.execute(q).fetchone():
                used.add(slot)
        self._used[table] = used
        return used

    def columns(self, table: str) -> set[str]:
        """The slots that this table has values for."""
        self._check_table(table)
        return set(self._used_columns(table))

    def distinct(
        self, table: str, slot: str, constraints: Mapping[str, Constraint] | None = None
    ) -> list[str]:
        """The distinct values of ``slot`` among the rows matching ``constraints`` (in row order)."""
        rows = self._select(table, constraints or {}, None)
        return list(dict.fromkeys(r[slot] for _, r in rows if slot in r))

    def rows(self, table: str) -> tuple[Row, ...]:
        self._check_table(table)
        return tuple(row for _, row in self._select(table, {}, None))

    def slot_values(self) -> dict[str, list[str]]:
        """Every value each slot takes in any table (e.g. for a rule NLU's vocabulary)."""
        out: dict[str, dict[str, None]] = {}
        for table in self.schema.backend.tables:
            for _, row in self._select(table, {}, None):
                for slot, value in row.items():
                    out.setdefault(slot, {})[value] = None
        for slot, value in self._db.execute(f"SELECT slot, value FROM {_quote(VOCABULARY)} ORDER BY rowid"):
            out.setdefault(slot, {})[value] = None
        return {slot: list(values) for slot, values in out.items()}

    def search(
        self, intent: str, constraints: Mapping[str, Constraint], limit: int | None = None
    ) -> tuple[Row, ...]:
        """Rows of the intent's table matching every constraint (case-insensitive; ``dontcare`` skips)."""
        spec = self._intent(intent)
        if spec.table is None:
            raise BackendError(f"intent {intent} of {self.schema.service} has no backend table")
        return tuple(row for _, row in self._select(spec.table, constraints, limit))

    def _select(
        self, table: str, constraints: Mapping[str, Constraint], limit: int | None
    ) -> list[tuple[int, Row]]:
        used = self._used_columns(table)
        where: list[str] = []
        params: list[str] = []
        for slot, value in constraints.items():
            if slot not in self.schema.slot_names:
                raise BackendError(f"{self.schema.service} has no slot {slot!r}")
            values = [value] if isinstance(value, str) else list(value)
            values = [v for v in values if _norm(v) != DONTCARE]
            if not values or slot not in used:
                continue
            where.append(f"tod_norm({_quote(slot)}) IN ({', '.join('?' for _ in values)})")
            params.extend(_norm(v) for v in values)
        sql = f"SELECT rowid AS tod_rowid, * FROM {_table(table)}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY rowid"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(str(int(limit)))
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [
            (r["tod_rowid"], MappingProxyType({k: r[k] for k in r.keys()[1:] if r[k] is not None}))
            for r in rows
        ]

    def execute(self, intent: str, slots: Mapping[str, str]) -> BackendResult:
        """Carry out a transactional intent; success when its required slots are given and, when the
        intent names a table, a row matches them. The transaction is recorded."""
        with self._lock:  # the check and the booking happen together
            return self._execute(intent, slots)

    def _execute(self, intent: str, slots: Mapping[str, str]) -> BackendResult:
        spec = self._intent(intent)
        if not spec.transactional:
            raise BackendError(f"intent {intent} of {self.schema.service} is not transactional")
        call = ServiceCall(intent, dict(slots))
        parameters = {**spec.optional_slots, **slots}
        if any(not parameters.get(s) for s in spec.required_slots):
            return BackendResult(call, (), transactional=True)
        matched: dict[str, str] = {}
        rowid: int | None = None
        if spec.table is not None:
            # Match on what the user gave: a default is a guess, not a condition on the row.
            found = self._select(spec.table, slots, limit=1)
            if not found:
                return BackendResult(call, (), transactional=True)
            rowid, row = found[0]
            matched = dict(row)
        with self._atomic():
            if (
                rowid is not None
                and spec.table is not None
                and self.schema.backend.tables[spec.table].consume
            ):
                self._db.execute(f"DELETE FROM {_table(spec.table)} WHERE rowid = ?", (rowid,))
            self._db.execute(
                f"INSERT INTO {_quote(TRANSACTIONS)} (intent, parameters, created) VALUES (?, ?, ?)",
                (intent, json.dumps(parameters, sort_keys=True), datetime.now(UTC).isoformat()),
            )
        result = {**spec.optional_slots, **matched, **slots}
        keep = set(spec.result_slots) | set(spec.required_slots) | set(spec.optional_slots)
        row = MappingProxyType({k: v for k, v in result.items() if k in keep})
        return BackendResult(call, (row,), transactional=True)

    def call(self, call: ServiceCall, limit: int | None = None) -> BackendResult:
        """Run a service call: search for a search intent, execute for a transactional one."""
        spec = self._intent(call.method)
        with self._lock:
            if spec.transactional:
                return self.execute(call.method, call.parameters)
            return BackendResult(call, self.search(call.method, call.parameters, limit))

    def transactions(self) -> list[tuple[str, dict[str, str]]]:
        rows = self._db.execute(
            f"SELECT intent, parameters FROM {_quote(TRANSACTIONS)} ORDER BY id"
        ).fetchall()
        return [(r["intent"], json.loads(r["parameters"])) for r in rows]

    def fingerprint(self) -> dict[str, tuple[int, str]]:
        """Row count and content hash of each table (to show that queries leave tables unchanged)."""
        out = {}
        for name in self.schema.backend.tables:
            rows = self._db.execute(f"SELECT * FROM {_table(name)} ORDER BY rowid").fetchall()
            digest = hashlib.sha256(json.dumps([list(r) for r in rows]).encode()).hexdigest()
            out[name] = (len(rows), digest)
        return out

    def _intent(self, name: str) -> Intent:
        try:
            return self.schema.intent(name)
        except KeyError:
            raise BackendError(
                f"{self.schema.service} has no intent {name!r} "
                f"(intents: {', '.join(self.schema.intent_names)})"
            ) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_backends(schemas: Sequence[Schema], db_dir: Path | None = None) -> dict[str, Backend]:
    """One backend per service: ``db_dir/<service>.sqlite`` when ``tod db build`` made one (imported
    services; default ``data/db/sgd``), else in memory from the inline and CSV rows."""
    from dialog.common import paths

    directory = db_dir or paths.db_dir() / "sgd"
    out = {}
    for schema in schemas:
        path = directory / f"{schema.service}.sqlite"
        built = any(t.built for t in schema.backend.tables.values())
        out[schema.service] = Backend.open(schema, path if built or path.is_file() else None)
    return out
