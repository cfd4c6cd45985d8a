"""The package's modules import each other in one direction only.

A reader (or a contributor moving a module) can understand each module from the ones it imports,
and no module works only because another happened to be imported first. Module-level imports
count, `if TYPE_CHECKING:` ones too; an import inside a function (a deliberate deferral, such as
the optional Redis client) does not.
"""
from __future__ import annotations

import ast
from pathlib import Path

import sse_monitor

PACKAGE = Path(sse_monitor.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """Package modules imported at module level (including under `if TYPE_CHECKING:`)."""
    found: set[str] = set()
    nodes: list[ast.stmt] = list(tree.body)
    while nodes:
        node = nodes.pop()
        if isinstance(node, (ast.If, ast.Try)):
            nodes.extend(node.body + node.orelse + getattr(node, "finalbody", []))
            for handler in getattr(node, "handlers", []):
                nodes.extend(handler.body)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            for alias in node.names:   # `from . import memory` imports a submodule
                found.add(f"{target}.{alias.name}")
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imports = _top_level_imports(ast.parse(path.read_text()), name, path.name == "__init__.py")
        # importing a.b.c runs a/__init__ and a/b/__init__ too, but a package's own
        # submodules importing it is the normal parent-first order, not a cycle
        graph[name] = {m for m in imports if m in modules and m != name and not name.startswith(m + ".")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_the_hub_and_its_seams():
    graph = _graph()
    seams = {"sse_monitor.server.fanout", "sse_monitor.server.stream", "sse_monitor.server.routes"}
    assert seams <= graph["sse_monitor.server.hub"]
    assert graph["sse_monitor.server.stream"] >= {"sse_monitor.server.fanout"}


def test_no_module_imports_another_that_imports_it_back():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_streams_and_routes_know_the_hub_only_through_its_seam():
    graph = _graph()
    for name in ("stream", "routes", "fanout", "shutdown"):
        assert "sse_monitor.server.hub" not in graph[f"sse_monitor.server.{name}"], name
