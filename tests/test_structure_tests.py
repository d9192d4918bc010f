"""How the tests share code: helpers live in the ``tests.helpers`` package and fixtures in
conftest.py; no module imports a test module (or conftest), so a test module can be read, run
and changed on its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

TESTS = Path(__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (relative imports resolved within tests)."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = path.parent.relative_to(TESTS.parent).parts
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            imported.add(base)
            # ``from tests import test_x`` imports the module ``tests.test_x``.
            imported.update(f"{base}.{alias.name}" for alias in node.names)
    return imported


def is_test_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "tests" and len(parts) > 1 and (parts[1].startswith("test_") or parts[1] == "conftest")


def test_no_module_imports_a_test_module() -> None:
    offenders = {
        str(path.relative_to(TESTS.parent)): sorted(filter(is_test_module, imported_modules(path)))
        for path in sorted(TESTS.rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_stand_in_identity_provider_is_a_helper() -> None:
    assert not (TESTS / "jwks_server.py").exists()
    assert (TESTS / "helpers" / "jwks.py").exists()
