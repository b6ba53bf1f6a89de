"""Fail on an import cycle between the modules of ``flask_actions``.

Every import counts: at the top of a module, under ``if t.TYPE_CHECKING:``,
and inside functions (``ast.walk`` sees them all), because a cycle of any
kind means a responsibility sits in the wrong module (docs/STYLE rule 13).
``from . import x`` counts as an import of ``flask_actions.x``; ``from .m
import name`` as one of ``flask_actions.m``.

Usage: ``python scripts/check_imports.py [package directory]``; prints each
cycle found and exits with status 1, or prints the module count and exits 0.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "flask_actions"


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, modules: set[str]) -> set[str]:
    """The package's modules ``path`` (module ``name``) imports."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        # The longest prefix of ``target`` that is one of the modules.
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                add(submodule if submodule in modules else origin)
    return found


def graph(base: Path) -> dict[str, set[str]]:
    paths = {module_name(p, base): p for p in sorted(base.rglob("*.py"))}
    # C extensions (flask_actions/_slots.c) are modules that import none.
    extensions = {module_name(p.with_suffix(".py"), base) for p in base.rglob("*.c")}
    modules = set(paths) | extensions
    edges = {name: imports_of(path, name, modules) for name, path in paths.items()}
    return {**dict.fromkeys(extensions, set()), **edges}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan),
    each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def main(argv: list[str]) -> int:
    base = Path(argv[0]) if argv else ROOT / PACKAGE
    edges = graph(base)
    found = cycles(edges)
    for component in found:
        members = set(component)
        print(f"import cycle among {len(component)} modules:")
        for name in component:
            inside = sorted(edges[name] & members)
            print(f"  {name} -> {', '.join(inside)}")
    if found:
        return 1
    print(f"{len(edges)} modules, no import cycle.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
