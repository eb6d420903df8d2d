"""The dependency rule of the packages, as data, checked on every module's imports (top-level and
the lazy ones inside functions alike):

    base (prover.errors, prover.jsonl)  <-  prover.lean  <-  prover.service  <-  prover.policy  <-  search
        <-  benchmarks (datasets, harness, reports)  <-  prover.rl  <-  prover.commands, prover.cli
        <-  benchmarks.perf (timing scripts; nothing imports them)

A module may import its own layer and the layers left of it, never one to its right, and the
module graph has no cycle.  See README "Architecture"."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("prover", "search", "benchmarks")

# (layer name, module prefixes), lowest first; the longest matching prefix decides.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("prover.errors", "prover.jsonl")),
    ("lean", ("prover.lean",)),
    ("service", ("prover.service",)),
    ("policy", ("prover.policy",)),
    ("search", ("search",)),
    ("benchmarks", ("benchmarks",)),
    ("rl", ("prover.rl",)),
    ("commands", ("prover.commands", "prover.cli")),
    ("scripts", ("benchmarks.perf",)),
]
# package markers with nothing in them but a docstring (and `__all__` re-exports of their own
# layer): importing them is importing that layer
ROOT_PACKAGES = {"prover": "base"}


def layer_of(module: str) -> int:
    best, best_len = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = i, len(p)
    if best < 0 and module in ROOT_PACKAGES:
        return [n for n, _ in LAYERS].index(ROOT_PACKAGES[module])
    if best < 0:
        raise AssertionError(f"module {module} is in no layer; add it to LAYERS")
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out[module_name(path)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports anywhere in its file (`from a import b` counts as
    importing `a.b` when that is a module, else `a`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        for t in targets:
            if t.split(".")[0] not in PACKAGES:
                continue
            while t not in known and "." in t:
                t = t.rsplit(".", 1)[0]
            if t in known and t != name:
                out.add(t)
    return out


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, deps in sorted(graph.items()):
        for dep in sorted(deps):
            if layer_of(dep) > layer_of(mod):
                bad.append(
                    f"{mod} ({LAYERS[layer_of(mod)][0]}) imports {dep} ({LAYERS[layer_of(dep)][0]})"
                )
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def package_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def test_every_module_is_in_a_layer() -> None:
    for mod in modules():
        layer_of(mod)


def test_no_module_imports_a_higher_layer() -> None:
    assert upward_imports(package_graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(package_graph()) == []


def test_nothing_imports_the_timing_scripts() -> None:
    graph = package_graph()
    users = sorted(
        m
        for m, deps in graph.items()
        if not m.startswith("benchmarks.perf")
        and any(d.startswith("benchmarks.perf") for d in deps)
    )
    assert users == []


@pytest.mark.parametrize(
    ("graph", "upward", "cyclic"),
    [
        ({"search.rmaxts": {"prover.rl.records"}, "prover.rl.records": set()}, 1, 0),
        ({"prover.lean.a": {"prover.lean.b"}, "prover.lean.b": {"prover.lean.a"}}, 0, 1),
        ({"prover.rl.x": {"benchmarks.datasets"}, "benchmarks.datasets": set()}, 0, 0),
    ],
)
def test_the_rule_catches_violations(graph: dict[str, set[str]], upward: int, cyclic: int) -> None:
    """The checks themselves can fail: an upward import and a cycle on hand-made graphs."""
    assert len(upward_imports(graph)) == upward
    assert len(cycles(graph)) == cyclic
