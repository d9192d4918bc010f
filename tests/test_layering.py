"""The import rules that keep the layers apart, read from the source with ``ast``:

- only the routes themselves (and ``api.main``, which mounts them) import a route module: sockets,
  webhooks, the shared API modules, the project package, the worker, workflows and activities take
  shapes, limits and rules from modules that are not routes, so nothing depends on HTTP handlers;
- workflow code imports the store, the API and the activities only inside
  ``workflow.unsafe.imports_passed_through()`` (the sandbox re-imports everything else per run, and
  none of those belong in deterministic code).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
# The application factory mounts every router: the one module outside the routes that may.
ROUTE_MOUNTER = "api.main"
WORKFLOW_FORBIDDEN = ("switchboard.store", "api", "activities")
# The project's code, packages and modules.
CODE = ("api", "switchboard", "workflows", "activities", "bench", "worker.py")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def absolute(module: str, node: ast.ImportFrom) -> str:
    """The module an import names, relative imports resolved against ``module``'s package."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".")[: -node.level]
    return ".".join([*package, *([node.module] if node.module else [])])


def imported(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """Every module an import statement brings in (``from a import b`` may name module ``a.b``)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    source = absolute(module, node)
    yield source
    yield from (f"{source}.{alias.name}" for alias in node.names)


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def passes_through(node: ast.With) -> bool:
    """``with workflow.unsafe.imports_passed_through():``"""
    return any(ast.unparse(item.context_expr) == "workflow.unsafe.imports_passed_through()" for item in node.items)


def imports_outside_pass_through(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    def walk(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.With) and passes_through(child):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child
            yield from walk(child)

    yield from walk(tree)


def sources(where: str) -> Iterator[tuple[str, ast.Module]]:
    """The modules of a package (a folder) or the one module a file is."""
    target = ROOT / where
    for path in [target] if target.is_file() else sorted(target.rglob("*.py")):
        yield module_name(path), ast.parse(path.read_text(), filename=str(path))


def test_only_routes_import_routes() -> None:
    offenders = [
        f"{module} imports {name}"
        for where in CODE
        for module, tree in sources(where)
        if not within(module, "api.routes") and module != ROUTE_MOUNTER
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in imported(module, node)
        if within(name, "api.routes")
    ]
    assert offenders == []


def test_workflows_import_side_effects_only_passed_through() -> None:
    offenders = [
        f"{module} imports {name} (line {node.lineno})"
        for module, tree in sources("workflows")
        for node in imports_outside_pass_through(tree)
        for name in imported(module, node)
        if any(within(name, forbidden) for forbidden in WORKFLOW_FORBIDDEN)
    ]
    assert offenders == []


def test_the_checks_see_imports() -> None:
    """The walk finds what it looks for (a check that sees nothing passes for nothing)."""
    tree = ast.parse(
        "from temporalio import workflow\n"
        "import api.routes.chat\n"
        "from api.routes import studio\n"
        "from . import routes\n"
        "with workflow.unsafe.imports_passed_through():\n"
        "    from switchboard.store import models\n"
        "def f() -> None:\n"
        "    from activities import store\n"
    )
    names = {
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in imported("api.x", node)
    }
    assert {"api.routes.chat", "api.routes.studio", "api.routes"} <= names
    outside = {name for node in imports_outside_pass_through(tree) for name in imported("w", node)}
    assert "activities.store" in outside
    assert "switchboard.store.models" not in outside
