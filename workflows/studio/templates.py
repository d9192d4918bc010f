"""Liquid templates as Studio renders them: python-liquid with Studio's filters. Rendering is pure,
so workflows call it directly; undefined names render empty, as in Studio.

Some properties are JSON documents (a send-to-flex or send-message widget's ``attributes``, a
JSON request body), and flows exported from Twilio write them by pasting values into quoted
strings: ``{"name": "{{trigger.message.ChannelAttributes.from}}"}``. Rendered as plain text, a
customer who calls themselves ``Eve", "vip": true, "x": "`` would add a ``vip`` attribute to
their own task. ``render_json`` renders such documents so that what a ``{{ }}`` writes is always
one JSON value: inside a JSON string it is escaped into that string; where a value goes, text that
is one JSON value (``{{ x | to_json }}``, a number) stays as it is, and anything else becomes a
JSON string. Literal text (the flow author's) is never changed, so exports that already use
``to_json`` render exactly as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from io import StringIO
from typing import Any, TextIO

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from liquid import BoundTemplate, Environment, RenderContext
    from liquid.builtin.filters.misc import date as _LIQUID_DATE
    from liquid.builtin.output import Output, OutputNode
    from liquid.builtin.tags.echo_tag import EchoNode, EchoTag
    from liquid.exceptions import LiquidError
    from liquid.filter import with_environment
    from liquid.stringify import to_liquid_string
    from liquid.token import TOKEN_OUTPUT


def _to_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _date(value: object, fmt: object = None, **environment: Any) -> str:
    """Liquid's ``date`` with ``'now'`` and ``'today'`` at the workflow's clock in UTC (Studio's
    zone): python-liquid would read the machine's local wall clock, which a replay does not see
    again."""
    if value in ("now", "today"):
        now = workflow.now() if workflow.in_workflow() else datetime.now(UTC)
        if fmt == "%s":  # strftime's %s would read the datetime as local time
            return str(int(now.timestamp()))
        value = now
    return str(_LIQUID_DATE(value, fmt, **environment))


def _add_studio_filters(environment: Environment) -> None:
    # ``to_json`` is Studio's name (Twilio's templates write ``{{ x | to_json }}``); ``json`` is
    # Shopify Liquid's, which flows written from Liquid's own documentation use.
    environment.filters["to_json"] = _to_json
    environment.filters["json"] = _to_json
    environment.filters["date"] = with_environment(_date)


# --- JSON documents ----------------------------------------------------------------------------


class JsonText(StringIO):
    """Rendered text that knows whether its end is inside a JSON string (and right after a
    backslash there), so an output statement knows what it is writing into."""

    def __init__(self, in_string: bool = False, escaping: bool = False) -> None:
        super().__init__()
        self.in_string = in_string
        self.escaping = escaping

    @classmethod
    def following(cls, outer: TextIO | None) -> JsonText:
        """A buffer for a block rendered apart (``ifchanged``, ``capture``) that starts where
        ``outer`` stands: what it holds may be written there."""
        if isinstance(outer, JsonText):
            return cls(outer.in_string, outer.escaping)
        return cls()

    def write(self, text: str) -> int:
        in_string, escaping = self.in_string, self.escaping
        for char in text:
            if escaping:
                escaping = False
            elif in_string and char == "\\":
                escaping = True
            elif char == '"':
                in_string = not in_string
        self.in_string, self.escaping = in_string, escaping
        return super().write(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _is_one_json_value(text: str) -> bool:
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return False
    return True


def json_output(text: str, buffer: TextIO) -> str:
    """``text`` as one JSON value at the end of ``buffer``."""
    if not isinstance(buffer, JsonText):  # not reached: every buffer of a JSON render is one
        return json.dumps(text, ensure_ascii=False)
    if buffer.in_string:
        escaped = json.dumps(text, ensure_ascii=False)[1:-1]
        # A backslash the author left right before ``{{`` would escape our first character.
        return "\\" + escaped if buffer.escaping else escaped
    return text if _is_one_json_value(text) else json.dumps(text, ensure_ascii=False)


def _write_json_output(value: object, context: RenderContext, buffer: TextIO) -> int:
    return buffer.write(json_output(to_liquid_string(value, context.autoescape), buffer))


class JsonOutputNode(OutputNode):
    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        return _write_json_output(self.expression.evaluate(context), context, buffer)

    async def render_to_output_async(self, context: RenderContext, buffer: TextIO) -> int:
        return _write_json_output(await self.expression.evaluate_async(context), context, buffer)


class JsonEchoNode(EchoNode):
    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        return _write_json_output(self.expression.evaluate(context), context, buffer)

    async def render_to_output_async(self, context: RenderContext, buffer: TextIO) -> int:
        return _write_json_output(await self.expression.evaluate_async(context), context, buffer)


class JsonOutput(Output):
    node_class = JsonOutputNode


class JsonEcho(EchoTag):
    node_class = JsonEchoNode


class JsonRenderContext(RenderContext):
    def get_buffer(self, buf: TextIO | None = None) -> StringIO:
        return JsonText.following(buf)


class JsonTemplate(BoundTemplate):
    context_class = JsonRenderContext

    def _get_buffer(self) -> StringIO:
        return JsonText()


class JsonEnvironment(Environment):
    """Liquid whose ``{{ }}`` and ``echo`` write one JSON value each (see the module docstring)."""

    template_class = JsonTemplate

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        self.add_tag(JsonOutput)
        self.add_tag(JsonEcho)
        assert isinstance(self.tags[TOKEN_OUTPUT], JsonOutput)


ENVIRONMENT = Environment()
_add_studio_filters(ENVIRONMENT)
JSON_ENVIRONMENT = JsonEnvironment()
_add_studio_filters(JSON_ENVIRONMENT)


def check_template(template: str) -> str | None:
    """The parse error of ``template``, or None when it parses."""
    try:
        ENVIRONMENT.from_string(template)
    except LiquidError as exc:
        return str(exc).splitlines()[0]
    return None


def _has_markup(template: str) -> bool:
    return "{{" in template or "{%" in template


def render(template: str, context: Mapping[str, Any]) -> str:
    if "{" not in template:  # most properties are plain text: skip the parser
        return template
    return ENVIRONMENT.from_string(template).render(**context)


def render_json(template: str, context: Mapping[str, Any]) -> str:
    """Render a template whose text is a JSON document: every output is one JSON value there."""
    if not _has_markup(template):
        return template
    return JSON_ENVIRONMENT.from_string(template).render(**context)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside ``value`` (dicts and lists walked)."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, dict):
        return {k: render_value(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, context) for v in value]
    return value
