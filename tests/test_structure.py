"""The shape of the workflow code, read from its source (nothing runs): workflow classes stay small
enough to read, workflows call activities by reference (so a renamed or retyped activity is caught
by the type checker, not at run time), and activities import no workflow definition (the workflows
import the activities, so the reverse would be a cycle)."""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import re
import types
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import TypeVar

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).parent.parent
WORKFLOWS = ROOT / "workflows"
ACTIVITIES = ROOT / "activities"
MAX_CLASS_LINES = 330
ACTIVITY_CALLS = {"execute_activity", "execute_local_activity", "start_activity", "start_local_activity"}


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def test_no_workflow_class_is_oversized() -> None:
    oversized = []
    for path in sorted(WORKFLOWS.rglob("*.py")):
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_CLASS_LINES:
                    oversized.append(f"{relative(path)}: {node.name} has {lines} lines")
    assert not oversized


def test_activities_are_called_by_reference() -> None:
    by_name = []
    for path in sorted(WORKFLOWS.rglob("*.py")):
        name = relative(path)
        for node in ast.walk(parse(path)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            first = node.args[0] if node.args else None
            if node.func.attr in ACTIVITY_CALLS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                by_name.append(f"{name}:{node.lineno} calls {first.value!r} by name")
    assert not by_name


def project_imports(tree: ast.Module) -> set[str]:
    """Modules of the project a module imports (``from x import y`` counts ``x`` and ``x.y``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if module_path(name) is not None}


def module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def defines_workflow(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ClassDef)
        and any("workflow.defn" in ast.unparse(decorator) for decorator in node.decorator_list)
        for node in ast.walk(tree)
    )


def test_activities_import_no_workflow_definition() -> None:
    """Directly or through any module of the project they import."""
    offending = []
    for path in sorted(ACTIVITIES.glob("*.py")):
        seen: set[str] = set()
        queue = sorted(project_imports(parse(path)))
        while queue:
            name = queue.pop()
            if name in seen:
                continue
            seen.add(name)
            module = module_path(name)
            assert module is not None
            tree = parse(module)
            if defines_workflow(tree):
                offending.append(f"{relative(path)} imports {name}")
            queue.extend(project_imports(tree) - seen)
    assert not offending


# Values a module may hold at module level once the worker passes workflow modules through its
# sandbox (imported once, shared by every workflow run): nothing a run could change for the next.
# Names in capitals are constants (lookup tables, the expression parser, Liquid environments whose
# only state is a cache of parsed templates): written once at import, only read after.
IMMUTABLE = (str, bytes, int, float, bool, type(None), tuple, frozenset, type, timedelta, re.Pattern, Enum)
CONSTANT = re.compile(r"_?[A-Z][A-Z0-9_]*")


def test_workflow_modules_hold_no_mutable_state() -> None:
    mutable = []
    for path in sorted(WORKFLOWS.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if attribute.startswith("__") or attribute == "annotations" or CONSTANT.fullmatch(attribute):
                continue
            if inspect.ismodule(value) or callable(value) or isinstance(value, IMMUTABLE):
                continue
            params = vars(type(value)).get("__dataclass_params__")
            if params is not None and params.frozen:
                continue  # a frozen dataclass instance
            if isinstance(value, types.UnionType | logging.Logger | TypeVar):
                continue  # type aliases; loggers (the SDK's workflow logger is replay-aware)
            mutable.append(f"{name}.{attribute}: {type(value).__name__}")
    assert mutable == [], "\n".join(mutable)
