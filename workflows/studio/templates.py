"""Liquid templates as Studio renders them: python-liquid with Studio's filters. Rendering is pure,
so workflows call it directly; undefined names render empty, as in Studio."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from liquid import Environment
    from liquid.exceptions import LiquidError


def _to_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


ENVIRONMENT = Environment()
ENVIRONMENT.filters["to_json"] = _to_json


def check_template(template: str) -> str | None:
    """The parse error of ``template``, or None when it parses."""
    try:
        ENVIRONMENT.from_string(template)
    except LiquidError as exc:
        return str(exc).splitlines()[0]
    return None


def render(template: str, context: Mapping[str, Any]) -> str:
    if "{" not in template:  # most properties are plain text: skip the parser
        return template
    return ENVIRONMENT.from_string(template).render(**context)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside ``value`` (dicts and lists walked)."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, dict):
        return {k: render_value(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, context) for v in value]
    return value
