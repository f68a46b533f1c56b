"""YAML loading that remembers where each value came from (line and column), for located errors.

PyYAML's composer gives a node tree with marks; we build plain Python data from it ourselves, so that
duplicate keys are reported (PyYAML silently keeps the last one) and every path into the data maps to
the line and column of its key or value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dialog.errors import TodError

Loc = tuple[int | str, ...]


@dataclass(frozen=True, order=True)
class Position:
    line: int  # 1-based
    col: int  # 1-based


@dataclass(frozen=True)
class Problem:
    """One located problem in a file: ``file:line:col: message``."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class YamlProblems(TodError):
    """All problems found in one or more files, reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.col))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class Located:
    """Data loaded from YAML plus the position of every key (``keys``) and value (``values``)."""

    data: Any
    values: dict[Loc, Position]
    keys: dict[Loc, Position]

    def position(self, loc: Loc, prefer_key: bool = False) -> Position:
        """The position of ``loc`` or of its nearest ancestor that exists."""
        for cut in range(len(loc), -1, -1):
            prefix = tuple(loc[:cut])
            if prefer_key and prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return Position(1, 1)


def _pos(mark: yaml.Mark | None) -> Position:
    if mark is None:
        return Position(1, 1)
    return Position(mark.line + 1, mark.column + 1)


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 scalars: no sexagesimal numbers (``19:00`` stays text, not 1140)
    and no timestamps (``2026-12-01`` stays text), since slot values are text."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)
_SCALAR_LOADER = _Loader("")


def _scalar(node: yaml.Node) -> Any:
    # Resolve the scalar's type (int, bool, null, ...) the way SafeLoader does.
    return _SCALAR_LOADER.construct_object(node, deep=True)


def load_located(text: str, file: str) -> Located:
    """Parse one YAML document; raise ``YamlProblems`` with located messages on any problem."""
    problems: list[Problem] = []
    if not text.strip():
        raise YamlProblems([Problem(file, 1, 1, "the file is empty: expected a YAML mapping")])
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        pos = _pos(exc.problem_mark or exc.context_mark)
        message = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        if "\t" in message or "'\\t'" in message:
            message += " (YAML does not allow tabs for indentation; use spaces)"
        raise YamlProblems([Problem(file, pos.line, pos.col, f"not valid YAML: {message}")]) from None
    except yaml.YAMLError as exc:
        raise YamlProblems([Problem(file, 1, 1, f"not valid YAML: {exc}")]) from None
    if root is None:
        raise YamlProblems([Problem(file, 1, 1, "the file holds no YAML document: expected a mapping")])

    values: dict[Loc, Position] = {}
    keys: dict[Loc, Position] = {}

    def build(node: yaml.Node, loc: Loc) -> Any:
        values[loc] = _pos(node.start_mark)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    p = _pos(key_node.start_mark)
                    problems.append(Problem(file, p.line, p.col, "a mapping key must be a plain value"))
                    continue
                key = _scalar(key_node)
                if key_node.tag == "tag:yaml.org,2002:merge":
                    p = _pos(key_node.start_mark)
                    problems.append(Problem(file, p.line, p.col, "merge keys (<<) are not supported"))
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key in out:
                    p = _pos(key_node.start_mark)
                    first = keys[(*loc, key)]
                    problems.append(
                        Problem(file, p.line, p.col, f"duplicate key '{key}' (first at line {first.line})")
                    )
                    continue
                keys[(*loc, key)] = _pos(key_node.start_mark)
                out[key] = build(value_node, (*loc, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(child, (*loc, i)) for i, child in enumerate(node.value)]
        try:
            return _scalar(node)
        except yaml.YAMLError as exc:
            p = _pos(node.start_mark)
            problems.append(Problem(file, p.line, p.col, f"bad value: {exc}"))
            return None

    data = build(root, ())
    if problems:
        raise YamlProblems(problems)
    return Located(data, values, keys)


def read_located(path: Path) -> Located:
    """Read and parse a YAML file, with a located error for unreadable or non-UTF-8 files."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlProblems([Problem(str(path), 1, 1, f"cannot read the file: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlProblems([Problem(str(path), line, 1, "the file is not UTF-8 text")]) from None
    return load_located(text, str(path))
