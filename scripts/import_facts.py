"""Import facts of a checkout (docs/architecture.md): files importing across the top-level packages, module
import cycles, modules importing Dagster. Usage: python3 scripts/import_facts.py CHECKOUT (the rules themselves
are tests/test_layout.py)."""
import ast, sys
from collections import Counter
from pathlib import Path
root = Path(sys.argv[1]); tops = [t for t in ("mosaic_pipeline", "mosaic_model", "mosaic_assets", "mosaic_cli") if (root / t).is_dir()]
def modname(p):
    parts = p.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
files = [p for t in tops for p in (root / t).rglob("*.py")]
mods = {modname(p) for p in files}
graph, dag = {}, []
for p in files:
    name = modname(p); pkg = name if p.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for n in ast.walk(ast.parse(p.read_text())):
        if isinstance(n, ast.Import): found |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            base = pkg.split(".")[: len(pkg.split(".")) - n.level + 1] if n.level else []
            tgt = ".".join(base + ([n.module] if n.module else [])); found.add(tgt); found |= {f"{tgt}.{a.name}" for a in n.names}
    if any(f == "dagster" or f.startswith("dagster.") for f in found): dag.append(name)
    graph[name] = {f for f in found if f in mods and f != name and not f.startswith(name + ".")}
cross = Counter()
for m, ts in graph.items():
    for t in {t.split(".")[0] for t in ts} - {m.split(".")[0]}: cross[(m.split(".")[0], t)] += 1
sys.setrecursionlimit(10000)
index, low, stack, sccs = {}, {}, [], []
def visit(v):
    index[v] = low[v] = len(index); stack.append(v)
    for w in graph[v]:
        if w not in index: visit(w); low[v] = min(low[v], low[w])
        elif w in stack: low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); c.append(w)
            if w == v: break
        if len(c) > 1: sccs.append(sorted(c))
for v in sorted(graph):
    if v not in index: visit(v)
print("packages:", {t: sum(1 for p in files if modname(p).split('.')[0] == t) for t in tops}, "modules")
print("files importing another package:", dict(sorted(cross.items())))
print("import cycles:", sccs)
print("modules importing dagster outside mosaic_assets/mosaic_cli:", sorted(m for m in dag if m.split('.')[0] not in ('mosaic_assets', 'mosaic_cli')))
print("mosaic_assets modules importing dagster:", sum(1 for m in dag if m.startswith('mosaic_assets')), "of", sum(1 for m in graph if m.startswith('mosaic_assets')))
