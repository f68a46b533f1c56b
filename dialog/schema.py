"""Service schemas in YAML (version 1): the single source of truth for a service.

SGD-shaped (service, slots, intents), so that import from and export to SGD's ``schema.json`` is
lossless, plus what a form needs (confirmation, per-slot questions, per-act templates) and a backend.
Loading is strict and reports every problem of a file at once as ``file:line:col: message``.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError

from dialog.common.yamlpos import Loc, Located, Problem, YamlProblems, read_located
from dialog.types import DONTCARE, SYSTEM_ACTS, ActType

SCHEMA_VERSION = 1
MAX_SLOTS = 500
MAX_INTENTS = 200
MAX_VALUES = 5000
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,79}$"
#: Placeholders a template may use besides the service's slot names.
TEMPLATE_FIELDS = frozenset({"intent", "count", "service", "slot", "value"})


def _scalar_to_str(value: Any) -> Any:
    # YAML reads `4`, `4.5` and `True` as numbers and booleans; as slot values they are text.
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_scalar_to_str), Field(max_length=2000)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Slot(_Strict):
    """A slot: a piece of information the user gives or asks for."""

    name: Name
    description: Text
    categorical: bool = False
    values: list[Text] = Field(
        default_factory=list,
        max_length=MAX_VALUES,
        description="The possible values of a categorical slot; known values of a free-form one.",
    )
    examples: list[Text] = Field(default_factory=list, max_length=MAX_VALUES)
    synonyms: dict[Text, list[Text]] = Field(
        default_factory=dict,
        max_length=MAX_VALUES,
        description="Other words people use for a value, by value (`dentistry: [dentist, dental]`); "
        "a categorical slot's keys are among its values. Read as the value, never said back.",
    )
    prompt: Text | None = Field(default=None, description="The question that asks for this slot.")
    type: Literal["text", "date", "time", "number"] = Field(
        default="text",
        description="How values are stored: date as YYYY-MM-DD, time as HH:MM (24 h), number as digits. "
        'What people say is read into that form ("next Friday", "half seven", "two") and replies say it '
        'back as people do ("December 11th", "7:30 pm").',
    )

    def value_of(self, words: str) -> str | None:
        """The value that ``words`` name (a value, or a synonym of one), matched without case."""
        folded = words.casefold().strip()
        for value in self.values:
            if value.casefold() == folded:
                return value
        for value, others in self.synonyms.items():
            if any(other.casefold() == folded for other in others):
                return value
        return None


class Intent(_Strict):
    """A task the service performs, and the form that gathers its slots."""

    name: Name
    description: Text
    transactional: bool = False
    required_slots: list[Name] = Field(default_factory=list)
    optional_slots: dict[str, Text] = Field(
        default_factory=dict, description="Optional slots and their default values."
    )
    result_slots: list[Name] = Field(default_factory=list)
    confirm: bool | None = Field(
        default=None, description="Confirm before executing; defaults to `transactional`."
    )
    table: Name | None = Field(default=None, description="The backend table this intent searches.")

    @property
    def needs_confirmation(self) -> bool:
        return self.transactional if self.confirm is None else self.confirm

    @property
    def slots(self) -> list[str]:
        return [*self.required_slots, *self.optional_slots, *self.result_slots]


class Table(_Strict):
    """Backend rows: inline, from a CSV file beside the schema, or built from SGD by `tod db build`."""

    rows: list[dict[str, Text]] = Field(default_factory=list)
    csv: str | None = Field(default=None, description="A CSV file, relative to the schema file.")
    built: bool = Field(default=False, description="Rows come from `tod db build` (imported SGD).")
    consume: bool = Field(
        default=False,
        description="A transaction removes the row it matched (e.g. a free time slot once booked).",
    )


class Backend(_Strict):
    tables: dict[Name, Table] = Field(default_factory=dict)


class Schema(_Strict):
    """One service."""

    version: Literal[1]
    service: Name
    description: Text
    slots: list[Slot] = Field(max_length=MAX_SLOTS)
    intents: list[Intent] = Field(min_length=1, max_length=MAX_INTENTS)
    templates: dict[str, Text | list[Text]] = Field(
        default_factory=dict,
        description="System templates per act (`OFFER`) or act and slot (`REQUEST:city`).",
    )
    backend: Backend = Field(default_factory=Backend)
    source: Text | None = Field(default=None, description="Where the schema comes from (attribution).")

    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def name(self) -> str:
        return self.service

    def slot(self, name: str) -> Slot:
        for slot in self.slots:
            if slot.name == name:
                return slot
        raise KeyError(f"service {self.service} has no slot {name!r}")

    def intent(self, name: str) -> Intent:
        for intent in self.intents:
            if intent.name == name:
                return intent
        raise KeyError(f"service {self.service} has no intent {name!r}")

    def followups(self, intent: str) -> list[Intent]:
        """Transactional intents that act on a search intent's result (find a restaurant, then book
        it): those whose required slots include one of its result slots that it does not ask for."""
        search = self.intent(intent)
        found = set(search.result_slots) - set(search.required_slots) - set(search.optional_slots)
        return [i for i in self.intents if i.transactional and found & set(i.required_slots)]

    def key_slot(self, intent: str) -> str | None:
        """The slot that names a search result (e.g. restaurant_name): among the result slots that the
        intent does not take as constraints, one that a follow-up intent needs, else one whose name
        says it names something, else the first."""
        spec = self.intent(intent)
        asked = set(spec.required_slots) | set(spec.optional_slots)
        candidates = [s for s in spec.result_slots if s not in asked]
        needed = {s for f in self.followups(intent) for s in f.required_slots}
        naming = [s for s in candidates if s.endswith("name") or s in ("title", "address")]
        for group in ([s for s in naming if s in needed], naming, [s for s in candidates if s in needed]):
            if group:
                return group[0]
        return candidates[0] if candidates else None

    @property
    def slot_names(self) -> list[str]:
        return [s.name for s in self.slots]

    @property
    def intent_names(self) -> list[str]:
        return [i.name for i in self.intents]

    def digest(self) -> str:
        """A short hash of the schema's content, recorded in the meta files of trained artifacts."""
        data = self.model_dump(mode="json")
        for slot in data["slots"]:  # a schema without synonyms or types hashes as before they existed
            if not slot["synonyms"]:
                del slot["synonyms"]
            if slot["type"] == "text":
                del slot["type"]
        canonical = json.dumps(data, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    # --- SGD schema.json ---------------------------------------------------------------------

    @classmethod
    def from_sgd(cls, obj: dict[str, Any], source: str | None = None) -> Schema:
        slots = [
            Slot(
                name=s["name"],
                description=s["description"],
                categorical=s["is_categorical"],
                values=list(s["possible_values"]),
            )
            for s in obj["slots"]
        ]
        intents = [
            Intent(
                name=i["name"],
                description=i["description"],
                transactional=i["is_transactional"],
                required_slots=list(i["required_slots"]),
                optional_slots=dict(i["optional_slots"]),
                result_slots=list(i["result_slots"]),
                table=None if i["is_transactional"] else i["name"],
            )
            for i in obj["intents"]
        ]
        tables = {i.table: Table(built=True) for i in intents if i.table}
        return cls(
            version=1,
            service=obj["service_name"],
            description=obj["description"],
            slots=slots,
            intents=intents,
            backend=Backend(tables=tables),
            source=source,
        )

    def to_sgd(self) -> dict[str, Any]:
        return {
            "service_name": self.service,
            "description": self.description,
            "slots": [
                {
                    "name": s.name,
                    "description": s.description,
                    "is_categorical": s.categorical,
                    "possible_values": list(s.values),
                }
                for s in self.slots
            ],
            "intents": [
                {
                    "name": i.name,
                    "description": i.description,
                    "is_transactional": i.transactional,
                    "required_slots": list(i.required_slots),
                    "optional_slots": dict(i.optional_slots),
                    "result_slots": list(i.result_slots),
                }
                for i in self.intents
            ],
        }

    def to_yaml(self, header: str = "") -> str:
        import yaml

        data = self.model_dump(mode="json", exclude_defaults=True)
        data = {"version": SCHEMA_VERSION, **data}
        body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
        return header + body


# --- checks across fields --------------------------------------------------------------------


def _check_references(schema: Schema, base: Path | None) -> list[tuple[Loc, str, bool]]:
    """Problems pydantic cannot see: duplicates and dangling references. (loc, message, at key)."""
    out: list[tuple[Loc, str, bool]] = []
    slot_names = set()
    for i, slot in enumerate(schema.slots):
        if slot.name in slot_names:
            out.append((("slots", i, "name"), f"duplicate slot name '{slot.name}'", False))
        slot_names.add(slot.name)
        if slot.categorical and not slot.values:
            out.append((("slots", i), f"categorical slot '{slot.name}' lists no values", False))
        out.extend(_check_synonyms(i, slot))
        out.extend(_check_typed(i, slot))
    known = ", ".join(sorted(slot_names))
    intent_names = set()
    for i, intent in enumerate(schema.intents):
        if intent.name in intent_names:
            out.append((("intents", i, "name"), f"duplicate intent name '{intent.name}'", False))
        intent_names.add(intent.name)
        for field_name in ("required_slots", "result_slots"):
            for j, name in enumerate(getattr(intent, field_name)):
                if name not in slot_names:
                    msg = f"intent '{intent.name}' names unknown slot '{name}' (slots: {known})"
                    out.append((("intents", i, field_name, j), msg, False))
        for name, default in intent.optional_slots.items():
            loc: Loc = ("intents", i, "optional_slots", name)
            if name not in slot_names:
                msg = f"intent '{intent.name}' names unknown slot '{name}' (slots: {known})"
                out.append((loc, msg, True))
                continue
            if name in intent.required_slots:
                out.append((loc, f"slot '{name}' is both required and optional", True))
            slot = schema.slot(name)
            if slot.categorical and default not in slot.values and default != DONTCARE:
                out.append((loc, f"default '{default}' is not a value of slot '{name}'", False))
        if intent.table is not None and intent.table not in schema.backend.tables:
            tables = ", ".join(sorted(schema.backend.tables)) or "none defined"
            msg = f"intent '{intent.name}' uses unknown backend table '{intent.table}' (tables: {tables})"
            out.append((("intents", i, "table"), msg, False))
    for key, template in schema.templates.items():
        out.extend(_check_template(key, template, slot_names))
    for name, table in schema.backend.tables.items():
        loc = ("backend", "tables", name)
        sources = sum([bool(table.rows), table.csv is not None, table.built])
        if sources > 1:
            out.append((loc, f"table '{name}' takes rows from one of rows, csv or built", True))
        for r, row in enumerate(table.rows):
            for column in row:
                if column not in slot_names:
                    msg = f"column '{column}' of table '{name}' is not a slot (slots: {known})"
                    out.append(((*loc, "rows", r, column), msg, True))
        if table.csv is not None and base is not None and not (base / table.csv).is_file():
            out.append(((*loc, "csv"), f"CSV file not found: {base / table.csv}", False))
    return out


STORED_FORMS = {"date": "YYYY-MM-DD", "time": "HH:MM, 24 h", "number": "digits"}


def _check_typed(i: int, slot: Slot) -> list[tuple[Loc, str, bool]]:
    """A typed slot's values are written as the backend stores them (so that what people say, read
    into that form, finds them)."""
    from dialog.common.values import normalised

    if slot.type == "text":
        return []
    return [
        (("slots", i, "values", j), f"value '{v}' of {slot.type} slot '{slot.name}' is not written "
         f"as a {slot.type} is stored ({STORED_FORMS[slot.type]})", False)
        for j, v in enumerate(slot.values)
        if normalised(slot.type, v, slot.values) != v
    ]  # fmt: skip


def _check_synonyms(i: int, slot: Slot) -> list[tuple[Loc, str, bool]]:
    """A synonym names one value: not a categorical slot's unknown value, not another value, not a
    synonym of two values."""
    out: list[tuple[Loc, str, bool]] = []
    owner = {value.casefold(): value for value in slot.values}
    for value, others in slot.synonyms.items():
        loc: Loc = ("slots", i, "synonyms", value)
        if slot.categorical and value not in slot.values:
            listed = ", ".join(slot.values)
            out.append(
                (loc, f"synonyms for '{value}', which is not a value of slot '{slot.name}' ({listed})", True)
            )
            continue
        for j, other in enumerate(others):
            folded = other.casefold()
            if owner.get(folded, value) != value:
                known = owner[folded]
                what = "a value" if known.casefold() == folded else f"a synonym of '{known}'"
                msg = f"synonym '{other}' of '{value}' in slot '{slot.name}' is also {what}"
                out.append(((*loc, j), msg, False))
            owner.setdefault(folded, value)
    return out


def _check_template(key: str, template: str | list[str], slot_names: set[str]) -> list[tuple[Loc, str, bool]]:
    out: list[tuple[Loc, str, bool]] = []
    loc: Loc = ("templates", key)
    act, _, slot = key.partition(":")
    system_acts = ", ".join(sorted(a.value for a in SYSTEM_ACTS))
    if act not in ActType.__members__ or ActType(act) not in SYSTEM_ACTS:
        out.append((loc, f"template key '{key}' is not a system act (acts: {system_acts})", True))
    if slot and slot not in slot_names:
        out.append((loc, f"template key '{key}' names unknown slot '{slot}'", True))
    for text in [template] if isinstance(template, str) else template:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as exc:
            out.append((loc, f"template '{text}' is malformed: {exc}", False))
            continue
        for name in fields:
            if name not in slot_names and name not in TEMPLATE_FIELDS:
                out.append((loc, f"template placeholder '{{{name}}}' is not a slot", False))
    return out


def _pydantic_problems(exc: ValidationError, located: Located, file: str) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc: Loc = tuple(err["loc"])
        # A list-of-str validator reports union members separately; keep the first per location.
        kind = err["type"]
        if kind == "extra_forbidden":
            pos = located.position(loc, prefer_key=True)
            message = f"unknown key '{loc[-1]}'" + _expected_keys(loc)
        elif kind == "missing":
            pos = located.position(loc[:-1])
            message = f"missing required key '{loc[-1]}'"
        else:
            pos = located.position(loc)
            where = ".".join(str(x) for x in loc if not isinstance(x, str) or x not in ("str", "list[str]"))
            message = f"{where}: {err['msg']}" if where else err["msg"]
        problems.append(Problem(file, pos.line, pos.col, message))
    unique = {(p.line, p.col, p.message): p for p in problems}
    return list(unique.values())


def _expected_keys(loc: Loc) -> str:
    model: type[BaseModel] | None = Schema
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return ""
        model = _model_of(field.annotation)
    if model is None:
        return ""
    return f" (expected one of: {', '.join(model.model_fields)})"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def parse_schema(located: Located, file: str, base: Path | None = None) -> Schema:
    """Validate loaded YAML into a ``Schema``; raise ``YamlProblems`` with all problems at once."""
    if not isinstance(located.data, dict):
        kind = type(located.data).__name__
        raise YamlProblems([Problem(file, 1, 1, f"expected a mapping of schema keys, found a {kind}")])
    try:
        schema = Schema.model_validate(located.data)
    except ValidationError as exc:
        raise YamlProblems(_pydantic_problems(exc, located, file)) from None
    problems = []
    for loc, message, at_key in _check_references(schema, base):
        pos = located.position(loc, prefer_key=at_key)
        problems.append(Problem(file, pos.line, pos.col, message))
    if problems:
        raise YamlProblems(problems)
    schema._path = Path(file)
    return schema


def load_schema(path: str | Path) -> Schema:
    path = Path(path)
    return parse_schema(read_located(path), str(path), base=path.parent)


def load_schemas(paths: Iterable[str | Path]) -> list[Schema]:
    """Load several schemas, reporting the problems of every file (and duplicate services) at once."""
    schemas: list[Schema] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in paths:
        try:
            schema = load_schema(path)
        except YamlProblems as exc:
            problems.extend(exc.problems)
            continue
        if schema.service in seen:
            problems.append(
                Problem(
                    str(path), 1, 1, f"service '{schema.service}' is also defined in {seen[schema.service]}"
                )
            )
            continue
        seen[schema.service] = str(path)
        schemas.append(schema)
    if problems:
        raise YamlProblems(problems)
    return schemas


def expand_paths(patterns: Sequence[str]) -> list[Path]:
    """Expand comma-separated paths and globs (``**`` recursive) in order, without duplicates."""
    import glob

    out: dict[Path, None] = {}
    for pattern in patterns:
        for part in (p.strip() for p in pattern.split(",")):
            if not part:
                continue
            matches = sorted(glob.glob(part, recursive=True)) if glob.has_magic(part) else [part]
            for match in matches:
                path = Path(match)
                if path.is_dir():
                    for child in sorted(path.rglob("*.yaml")):
                        out[child] = None
                else:
                    out[path] = None
    return list(out)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the YAML format, for editors (committed as schemas/schema.v1.json)."""
    out = Schema.model_json_schema()
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = "tod service schema, version 1"
    return out
