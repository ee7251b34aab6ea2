"""The package's layers hold: no import cycle, no reaching into another module's private names, small modules.

The import graph is read from the source with :mod:`ast`, counting every
import wherever it stands (module top, inside a function, under
``TYPE_CHECKING``), because a cycle hidden in a function is still a cycle for
a reader and for a type checker.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "transports"
#: A module may grow a little past this while it is being split, never far.
MAX_LINES = 520


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".")
    is_package = MODULES[module].name == "__init__.py"
    base = package if is_package else package[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(module: str) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import in *module*."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            for alias in node.names:
                # "from transports import tcp" imports the module transports.tcp
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    found.append((sub, []))
                else:
                    found.append((target, [alias.name]))
    return [(target, names) for target, names in found if target in MODULES]


def _graph() -> dict[str, set[str]]:
    return {module: {target for target, _ in _imports(module)} - {module} for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _is_package_face(module: str) -> bool:
    """A package's ``__init__`` hands its submodules' names on; importing them is its job."""
    return MODULES[module].name == "__init__.py"


def test_the_package_is_read() -> None:
    assert "transports.errors" in MODULES
    assert "transports.errors" in _graph()["transports.addresses"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    graph = _graph()
    # A package face importing its own submodules (lazily, for re-export) is not a layer crossing.
    for module in graph:
        if _is_package_face(module):
            graph[module] = {t for t in graph[module] if not t.startswith(module + ".")}
    assert _cycles(graph) == []


def test_no_module_takes_another_modules_private_names() -> None:
    taken = [
        f"{module} takes {name} from {target}"
        for module in MODULES
        for target, names in _imports(module)
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != module
    ]
    assert taken == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it by concept (the limit is {MAX_LINES})"
