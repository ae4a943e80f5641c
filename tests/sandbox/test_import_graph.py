"""The sandbox's modules import one another without a cycle.

Every module-level import counts, those under ``if TYPE_CHECKING:`` too: a module that needs another
only for its types still depends on it.  Data shared by two modules lives in the module that owns it
(the CRM's deals in :mod:`sandbox.crm`, the request log's records in :mod:`sandbox.faults`), so the
state imports the systems and no system imports the state.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"


def _module_level(nodes: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements run on import: those of the module, and of its ``if`` and ``try`` blocks (not of functions)."""
    for node in nodes:
        if isinstance(node, ast.If):
            yield from _module_level(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            blocks = [node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody]
            yield from _module_level([stmt for block in blocks for stmt in block])
        else:
            yield node


def _imported(node: ast.stmt, modules: set[str]) -> set[str]:
    """The sandbox modules one statement imports."""
    if isinstance(node, ast.Import):
        return {a.name.split(".")[1] for a in node.names if a.name.startswith("sandbox.")}
    if not isinstance(node, ast.ImportFrom):
        return set()
    if node.level == 0 and (node.module or "").split(".")[0] == "sandbox":
        inside = (node.module or "").removeprefix("sandbox").lstrip(".")
    elif node.level == 1:  # ``from .crm import Deal``, ``from . import crm``
        inside = node.module or ""
    else:
        return set()
    if inside:
        return {inside.split(".")[0]}
    return {a.name for a in node.names if a.name in modules}  # ``from sandbox import crm``


def _module_imports(path: Path, modules: set[str]) -> set[str]:
    """The sandbox modules ``path`` imports at module level."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {name for node in _module_level(tree.body) for name in _imported(node, modules)} - {path.stem}


def import_graph() -> dict[str, set[str]]:
    """Module name -> the sandbox modules it imports."""
    paths = {path.stem: path for path in SANDBOX.glob("*.py")}
    return {name: _module_imports(path, set(paths)) for name, path in sorted(paths.items())}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``a -> b -> a``) of ``graph``, or ``None``."""
    done: set[str] = set()
    path: list[str] = []

    def walk(module: str) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        path.append(module)
        for imported in sorted(graph.get(module, ())):
            cycle = walk(imported)
            if cycle:
                return cycle
        path.pop()
        done.add(module)
        return None

    for module in graph:
        cycle = walk(module)
        if cycle:
            return cycle
    return None


def test_the_sandbox_has_no_import_cycle() -> None:
    graph = import_graph()
    assert {"state", "crm", "faults", "systems", "app"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in sandbox/: " + " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
