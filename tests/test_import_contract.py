"""The import contract, read from the source with `ast` (every import statement, function-level
ones included): no import cycle in `simulator/` or `conformance/`; the two never import each
other; in `simulator/http/`, handlers -> domain -> kernel and never back, and a handler module
never imports another handler module (a tag package's modules included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("simulator", "conformance")
HTTP = "simulator.http"
# cycles known and allowed (none: the last one, report <-> html_report, is broken)
# the kernel modules that hand a handler its request (the domain takes the simulator or its store)
REQUEST_SIDE = {f"{HTTP}.kernel.router", f"{HTTP}.kernel.forms", f"{HTTP}.kernel.sse"}
KNOWN_CYCLES: list[list[str]] = []


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports (`from a import b` counts as `a.b` when that is a
    module, else as `a`)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    known = set(modules)
    return {name: imported(name, path, known) for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One example path per strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan, recursive: the graph is a few hundred modules
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layer(name: str) -> str | None:
    for part in ("kernel", "domain", "handlers"):
        if name == f"{HTTP}.{part}" or name.startswith(f"{HTTP}.{part}."):
            return part
    return None


def violations(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for name, targets in sorted(edges.items()):
        for target in sorted(targets):
            top, target_top = name.split(".")[0], target.split(".")[0]
            if top != target_top and {top, target_top} == set(PACKAGES):
                found.append(f"{name} imports {target}: simulator and conformance are "
                             f"independent")
            here, there = layer(name), layer(target)
            if here == "kernel" and there in ("domain", "handlers"):
                found.append(f"{name} imports {target}: the kernel imports no {there}")
            if here == "domain" and there == "handlers":
                found.append(f"{name} imports {target}: the domain imports no handler")
            if here == "domain" and target in REQUEST_SIDE:
                found.append(f"{name} imports {target}: the domain never sees an HTTP request")
            if here in ("kernel", "domain") and target == "simulator.app":
                found.append(f"{name} imports {target}: only the app lists the handlers")
            if here == "handlers" and there == "handlers" and not _is_package(target):
                found.append(f"{name} imports {target}: a handler imports no other handler")
    return found


def _is_package(name: str) -> bool:
    return (ROOT / Path(*name.split(".")) / "__init__.py").exists()


def test_the_project_has_no_import_cycle():
    assert [c for c in cycles(graph(sources())) if c not in KNOWN_CYCLES] == []


def test_the_layers_and_the_two_products_keep_their_direction():
    assert violations(graph(sources())) == []


def test_the_domain_does_not_speak_http():
    domain = [p for n, p in sources().items() if layer(n) == "domain"]
    assert domain
    talking = [p.name for p in domain
               if any(isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                   (getattr(node, "module", None) or alias.name).startswith("aiohttp")
                   for alias in node.names)
                      for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))))]
    assert talking == []


def test_the_http_side_has_its_three_layers():
    names = set(sources())
    for part in ("kernel", "domain", "handlers"):
        assert any(layer(n) == part for n in names), part
    assert not any(n.count(".") == 2 and n.startswith(HTTP + ".") and layer(n) is None
                   for n in names), "every simulator/http module sits in one of the layers"


# -- the checks can fail -------------------------------------------------------------------------
@pytest.mark.parametrize("edges, expected", [
    ({"simulator.a": {"simulator.b"}, "simulator.b": {"simulator.a"}},
     [["simulator.a", "simulator.b"]]),
    ({"simulator.a": {"simulator.b"}, "simulator.b": set()}, []),
])
def test_a_cycle_is_found(edges, expected):
    assert cycles(edges) == expected


@pytest.mark.parametrize("name, target", [
    ("simulator.http.kernel.router", "simulator.http.domain.resources"),
    ("simulator.http.kernel.router", "simulator.http.handlers.bots"),
    ("simulator.http.domain.resources", "simulator.http.handlers.bots"),
    ("simulator.http.handlers.bots", "simulator.http.handlers.providers"),
    ("simulator.http.handlers.plugins.files", "simulator.http.handlers.plugins.manage"),
    ("conformance.plugin", "simulator.app"),
    ("simulator.app", "conformance.plugin"),
    ("simulator.http.domain.chat", "simulator.app"),
    ("simulator.http.domain.chat", "simulator.http.kernel.router"),
])
def test_a_wrong_direction_is_found(name, target):
    assert violations({name: {target}}) != []


def test_the_allowed_directions_pass():
    assert violations({
        "simulator.http.handlers.bots": {"simulator.http.domain.resources",
                                         "simulator.http.kernel.router"},
        "simulator.http.domain.resources": {"simulator.http.kernel.collections"},
        "simulator.app": {"simulator.http.handlers.bots"},
    }) == []


def test_relative_imports_are_resolved(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("from ..domain import chat\nfrom . import sse\nfrom .router import Ctx\n")
    known = {"simulator.http.domain.chat", "simulator.http.kernel.sse",
             "simulator.http.kernel.router", "simulator.http.domain", "simulator.http.kernel"}
    assert imported("simulator.http.kernel.m", path, known) == {
        "simulator.http.domain.chat", "simulator.http.kernel.sse", "simulator.http.kernel.router"}
