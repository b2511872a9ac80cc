"""The layout's dependency rules (docs/architecture.md), read from the source with ``ast``:

mosaic_cli -> mosaic_assets -> mosaic_model -> mosaic_pipeline, never upward; only the orchestration layer
(and the command line that starts it) imports Dagster; no import cycle between modules.
Function-level imports count as much as module-level ones.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("mosaic_pipeline", "mosaic_model", "mosaic_assets", "mosaic_cli")  # each may import those before it
DAGSTER_ALLOWED = ("mosaic_assets", "mosaic_cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    name, tree = module_name(path), ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}  # "from pkg import module"
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = [p for top in LAYERS for p in (ROOT / top).rglob("*.py")]
    modules = {module_name(p) for p in files}
    return {module_name(p): {m for m in imports_of(p) if m in modules} | {m for m in imports_of(p) if m == "dagster"
            or m.startswith("dagster.") or m.startswith("dagster_")} for p in files}


def test_layers_import_only_downward(graph):
    upward = sorted((m, t) for m, targets in graph.items() for t in targets
                    if t.split(".")[0] in LAYERS and LAYERS.index(t.split(".")[0]) > LAYERS.index(m.split(".")[0]))
    assert upward == []


def test_only_the_orchestration_layer_imports_dagster(graph):
    offenders = sorted(m for m, targets in graph.items()
                       if m.split(".")[0] not in DAGSTER_ALLOWED and any(t.split(".")[0].startswith("dagster") for t in targets))
    assert offenders == []


def test_no_import_cycles(graph):
    """Tarjan's strongly connected components over module imports (a package's ``__init__`` imports excluded
    when it only re-exports its own submodules)."""
    edges = {m: {t for t in targets if t in graph and not t.startswith(m + ".") and t != m} for m, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert cycles == []
