"""The modules of ``i2pmae.data`` import each other one way: readers -> registry -> build / paths.

Every import counts, also those inside functions (a lazy import still ties the modules together).
"""

from __future__ import annotations

import ast
from pathlib import Path

import i2pmae.data
from i2pmae.data.registry import REGISTRY

PACKAGE = Path(i2pmae.data.__file__).parent


def _imports(path: Path) -> set[str]:
    """The ``i2pmae.data`` modules that ``path`` imports anywhere (module level or inside functions)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module == "i2pmae.data":  # from i2pmae.data import build  -> the submodule itself
                names += [f"i2pmae.data.{a.name}" for a in node.names if (PACKAGE / f"{a.name}.py").is_file()]
        else:
            continue
        out.update(n for n in names if n == "i2pmae.data" or n.startswith("i2pmae.data."))
    return out


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(PACKAGE.glob("*.py")):
        name = "i2pmae.data" if path.stem == "__init__" else f"i2pmae.data.{path.stem}"
        graph[name] = _imports(path) - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path of module names), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_inside_the_data_package():
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])


def _below(graph: dict[str, set[str]], start: set[str]) -> set[str]:
    """``start`` and every module they import, directly or not."""
    seen, todo = set(), list(start)
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo += graph.get(node, ())
    return seen


def test_readers_sit_below_the_registry_which_sits_below_build_and_paths():
    graph = _graph()
    readers = {fmt.reader.split(":")[0] for fmt in REGISTRY.values()}
    assert {"i2pmae.data.shapenet", "i2pmae.data.modelnet", "i2pmae.data.procedural"} <= readers
    above = {"i2pmae.data", "i2pmae.data.registry", "i2pmae.data.build", "i2pmae.data.paths", "i2pmae.data.check"}
    below = _below(graph, readers)  # the readers and what they use (base, _io, synth, locations ...)
    assert {"i2pmae.data.synth", "i2pmae.data.locations"} <= below
    assert not below & above, below & above
    assert graph["i2pmae.data.registry"] <= below  # the registry names readers only
    build, paths = graph["i2pmae.data.build"], graph["i2pmae.data.paths"]
    assert "i2pmae.data.registry" in build and "i2pmae.data.registry" in paths
    assert "i2pmae.data.paths" not in build and "i2pmae.data.build" not in paths


def test_the_cycle_check_sees_lazy_imports(tmp_path):
    """The check itself: an import inside a function closes a cycle too."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from i2pmae.data.b import x\n")
    b.write_text("def f():\n    from i2pmae.data.a import y\n")
    graph = {"i2pmae.data.a": _imports(a), "i2pmae.data.b": _imports(b)}
    assert _cycle(graph) == ["i2pmae.data.a", "i2pmae.data.b", "i2pmae.data.a"]
