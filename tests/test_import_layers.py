"""The package's layering: no import cycles among ``falsr_ext`` modules.

Every module under ``falsr_ext/`` is parsed with :mod:`ast` (nothing is imported). An edge
``a -> b`` means ``a`` imports ``b``; importing ``falsr_ext.x.y`` also runs the package
``falsr_ext.x``, so that is an edge too, except to a package holding ``a`` itself (Python
starts a parent before its children). Module-level imports must form an acyclic graph (a
cycle there fails or half-initialises at import time, depending on who comes first);
function-level (lazy) imports hide a cycle from the interpreter, not from the design, so
the pairs the house rules name are checked on the full graph. ``importlib`` look-ups (the
space registry, the lazy top-level names) are invisible here, by design.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "falsr_ext"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


@dataclass(frozen=True)
class Edge:
    """One import of a ``falsr_ext`` module by another."""

    source: str
    target: str
    lazy: bool  # inside a function: runs when called, not at import
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imported_names(node: ast.Import | ast.ImportFrom, module: str,
                    is_package: bool) -> Iterator[str]:
    """Dotted names an import statement may load (its module, and each ``from`` name
    in case it is a submodule)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: resolve against this module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[:len(package) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names)


def _edges_of(module: str, path: Path, known: set[str]) -> list[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    if is_package:
        ancestors.add(module)
    edges: list[Edge] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                               ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                targets: set[str] = set()
                for name in _imported_names(child, module, is_package):
                    parts = name.split(".")
                    # The module and every package on its way (their __init__ runs too).
                    targets.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
                for target in sorted(targets & known - ancestors - {module}):
                    edges.append(Edge(module, target, lazy, child.lineno))
            visit(child, inner)

    visit(tree, False)
    return edges


def _graph() -> list[Edge]:
    modules = _modules()
    known = set(modules)
    return [e for name, path in modules.items() for e in _edges_of(name, path, known)]


def _cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), sorted."""
    succ: dict[str, set[str]] = {}
    for e in edges:
        succ.setdefault(e.source, set()).add(e.target)
        succ.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:  # recursion depth is bounded by the module count
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(succ[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(succ):
        if v not in index:
            strong(v)
    return sorted(found)


def _describe(component: list[str], edges: list[Edge]) -> str:
    inside = set(component)
    lines = [f"  {e.source} -> {e.target} (line {e.line}{', lazy' if e.lazy else ''})"
             for e in edges if e.source in inside and e.target in inside]
    return "cycle among " + ", ".join(component) + ":\n" + "\n".join(lines)


@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    return _graph()


def test_the_scan_sees_the_package(edges: list[Edge]) -> None:
    """Guards the check itself: a parser that found nothing would pass everything."""
    pairs = {(e.source, e.target) for e in edges}
    assert ("falsr_ext.models.zoo", "falsr_ext.space") in pairs
    assert ("falsr_ext.cli", "falsr_ext.nas.cli") in pairs  # lazy, in build_parser
    assert ("falsr_ext.upscaling.api", "falsr_ext.upscaling.tiling") in pairs
    # A package on the way is an edge: importing falsr_ext.spaces.base runs spaces/__init__.
    assert ("falsr_ext.upscaling.api", "falsr_ext.spaces") in pairs


def test_module_level_imports_have_no_cycle(edges: list[Edge]) -> None:
    eager = [e for e in edges if not e.lazy]
    cycles = _cycles(eager)
    assert not cycles, "\n".join(_describe(c, eager) for c in cycles)


@pytest.mark.parametrize("low, high", [
    ("falsr_ext.nas.cli", "falsr_ext.cli"),        # both use falsr_ext.cli_run instead
    ("falsr_ext.space", "falsr_ext.models.zoo"),   # zoo names come from falsr_ext.zoo_specs
])
def test_no_cycle_even_through_lazy_imports(edges: list[Edge], low: str, high: str) -> None:
    for component in _cycles(edges):
        assert not {low, high} <= set(component), _describe(component, edges)
