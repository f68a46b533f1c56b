"""The layers of ``dialog/`` (docs/design.md): every module sits in one, imports only from its own
layer or those below, and no import (at module level or inside a function) closes a circle. Within
the stages, an approach imports nothing from another stage: what two stages share lives below both.

``python tests/test_imports.py [ROOT]`` prints the graph's figures (circles, upward imports, imports
inside functions, the largest modules) for any checkout."""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Lowest first. A module belongs to the longest prefix that names it.
LAYERS: dict[str, tuple[str, ...]] = {
    "core": (
        "dialog.errors",
        "dialog.types",
        "dialog.schema",
        "dialog.protocols",
        "dialog.registry",
        "dialog.common",
    ),
    "infrastructure": ("dialog.backend", "dialog.infra", "dialog.data", "dialog.generation", "dialog.train"),
    "stages": ("dialog.nlu", "dialog.dst", "dialog.policy", "dialog.nlg", "dialog.e2e"),
    "conversation": ("dialog.conversation", "dialog.e2e.agent", "dialog.user"),
    "evaluation": ("dialog.eval",),
    "training": (
        "dialog.nlu.train",
        "dialog.dst.train",
        "dialog.nlg.train",
        "dialog.policy.train",
        "dialog.e2e.train",
        "dialog.e2e.simulate",
        "dialog.user.train",
        "dialog.user.env",
        "dialog.train.standalone",  # trains a stage's network from a pack
    ),
    "application": ("dialog.app", "dialog.cli"),
}
ORDER = list(LAYERS)
PACKAGES = ("dialog", "dialog.e2e", "dialog.nlu", "dialog.dst", "dialog.policy", "dialog.nlg")  # no code


def modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted((root / "dialog").rglob("*.py")):
        name = ".".join(path.relative_to(root).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def imports(root: Path) -> tuple[dict[str, set[str]], Counter[str]]:
    """Module → the ``dialog`` modules it imports anywhere in it; and, per module, the imports made
    inside a function."""
    known = modules(root)

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {m: set() for m in known}
    inner: Counter[str] = Counter()
    for module, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            targets = {t for n in names if n.startswith("dialog") and (t := resolve(n)) and t != module}
            edges[module] |= targets
            if targets and node.col_offset > 0:
                inner[module] += 1
    return edges, inner


def layer(module: str) -> str | None:
    best: tuple[int, str] | None = None
    for name, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[0]
            ):
                best = (len(prefix), name)
    return best[1] if best else None


def stage_package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Imports that run up a layer, or across from one stage to another."""
    out = []
    for module, targets in sorted(edges.items()):
        here = layer(module)
        for target in sorted(targets):
            there = layer(target)
            if here is None or there is None:
                continue
            if ORDER.index(there) > ORDER.index(here):
                out.append(f"{module} ({here}) imports {target} ({there})")
            elif here == there == "stages" and stage_package(module) != stage_package(target):
                out.append(f"{module} imports {target}, another stage's")
    return out


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in modules(ROOT) if layer(m) is None and m not in PACKAGES]
    assert not unplaced, f"place these in LAYERS (tests/test_imports.py, docs/design.md): {unplaced}"


def test_no_import_runs_up_a_layer_or_across_stages() -> None:
    edges, _ = imports(ROOT)
    assert violations(edges) == []


def test_no_circles() -> None:
    edges, _ = imports(ROOT)
    assert circles(edges) == []


def test_the_check_sees_a_planted_violation(tmp_path: Path) -> None:
    """The checks above can fail: a stage importing the evaluation, and a circle, are both found."""
    package = tmp_path / "dialog"
    (package / "nlu").mkdir(parents=True)
    (package / "eval").mkdir()
    (package / "nlu" / "rule.py").write_text("def f():\n    from dialog.eval.nlu import score\n")
    (package / "eval" / "nlu.py").write_text("from dialog.nlu.rule import f\n")
    edges, inner = imports(tmp_path)
    assert violations(edges) == ["dialog.nlu.rule (stages) imports dialog.eval.nlu (evaluation)"]
    assert circles(edges) == [["dialog.eval.nlu", "dialog.nlu.rule"]]
    assert inner["dialog.nlu.rule"] == 1


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    edges, inner = imports(root)
    sizes = sorted(((len(p.read_text().splitlines()), m) for m, p in modules(root).items()), reverse=True)
    print(f"modules {len(edges)}, imports {sum(map(len, edges.values()))}")
    print(f"circles {len(circles(edges))}: {circles(edges)}")
    found = violations(edges)
    print(f"upward or across {len(found)}:", *found, sep="\n  ")
    print(f"imports inside functions {sum(inner.values())}; most: {inner.most_common(5)}")
    print("largest modules:", ", ".join(f"{m} {n}" for n, m in sizes[:6]))
