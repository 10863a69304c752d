"""The project's module import graph, read from the AST: prints its import cycles and every import of utils/* from
models/* (models sits below utils' training code), and exits 1 when it finds either.

Usage: python -m tools.import_graph
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"tests", "data", "docs", "runs"}  # folders that hold no product code


def module_name(path: Path, root: Path = ROOT) -> str:
    """models/yolo.py -> models.yolo, utils/data/__init__.py -> utils.data."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every product module by dotted name: the top-level scripts and every folder's (models, utils, engine, tools,
    segment ...), the tests' excepted."""
    folders = sorted(d for d in root.iterdir() if d.is_dir() and d.name not in SKIP and d.name.isidentifier()
                     and not d.name.startswith("_"))
    files = [*sorted(root.glob("*.py")), *(p for d in folders for p in sorted(d.rglob("*.py")))]
    return {module_name(p, root): p for p in files}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module that `import name` loads: name itself, or its nearest package that is one."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _import_nodes(tree: ast.Module) -> Iterator[ast.AST]:
    """Every node of the file but those of a module-level __getattr__ (PEP 562): the names it serves to other callers
    (YOLOv5's re-exports) are looked up on first use, the module itself does not depend on them."""
    for top in tree.body:
        if isinstance(top, ast.FunctionDef) and top.name == "__getattr__":
            continue
        yield from ast.walk(top)


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `module` imports anywhere in its file (function-level imports count: they still bind it)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]  # `from pkg import mod` imports pkg.mod
        else:
            continue
        found.update(m for m in (_resolve(n, modules) for n in names) if m and m != module)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = project_modules(root)
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
                out.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) for each utils module that imports a models module: utils must not sit above models."""
    return sorted((a, b) for a, bs in graph.items() for b in bs
                  if a.split(".")[0] == "utils" and b.split(".")[0] == "models")


def main() -> int:
    graph = import_graph()
    found_cycles, upward = cycles(graph), upward_imports(graph)
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports")
    for c in found_cycles:
        print(f"cycle ({len(c)} modules): {' '.join(c)}")
    for a, b in upward:
        print(f"upward import: {a} -> {b}")
    print(f"{len(found_cycles)} cycle(s), {len(upward)} upward import(s)")
    return 1 if found_cycles or upward else 0


if __name__ == "__main__":
    sys.exit(main())
