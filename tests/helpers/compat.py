"""The compatibility suite's fixtures (tests/compat): loading a fixture with its sidecar
expectation (``NAME.expect.json``), filling in the placeholders that stand for what only the
running stack knows, and replaying a Function's REST calls with the official client."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

COMPAT = Path(__file__).parent.parent / "compat"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")


def fixtures(kind: str) -> list[str]:
    """The fixture names of one folder (flows, workflows, functions): every ``NAME.json`` but the
    sidecars."""
    return sorted(p.stem for p in (COMPAT / kind).glob("*.json") if not p.name.endswith(".expect.json"))


def fixture_text(kind: str, name: str) -> str:
    return (COMPAT / kind / f"{name}.json").read_text()


def expectation(kind: str, name: str) -> dict[str, Any]:
    """A fixture's sidecar ``NAME.expect.json`` (Twilio's documents are strict: expectations
    cannot live inside them)."""
    path = COMPAT / kind / f"{name}.expect.json"
    loaded: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return loaded


def substitute(text: str, values: dict[str, str]) -> str:
    """``$NAME`` placeholders (as in flow templates deployed with Terraform) replaced by values,
    longest name first so ``$FLOW_SID`` is not read as ``$FLOW``."""
    for name in sorted(values, key=len, reverse=True):
        text = text.replace(f"${name}", values[name])
    return text


def subset_problems(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where ``actual`` differs from ``expected``; dictionaries may hold more keys."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path or '.'}: expected an object, got {actual!r}"]
        problems: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems.extend(subset_problems(value, actual[key], f"{path}.{key}"))
        return problems
    return [] if expected == actual else [f"{path or '.'}: expected {expected!r}, got {actual!r}"]


class Replay:
    """A Twilio Function's REST calls, replayed in order through the official client.

    Each call is ``{"call": NAME, "args": {...}, "save": VAR}``; ``${VAR}`` and ``${VAR.field}`` in
    arguments are earlier results (or the scenario's starting values), JSON objects given as
    ``attributes`` are sent as JSON text, as Functions send ``JSON.stringify(...)``."""

    def __init__(self, client: Any, values: dict[str, Any]) -> None:
        self.client = client
        self.values = dict(values)
        self.calls: dict[str, Callable[[dict[str, Any]], Any]] = {
            "chat.channels.fetch": lambda a: self._channel().fetch(),
            "chat.channels.update": self._update_channel,
            "chat.channels.webhooks.list": lambda a: self._channel().webhooks.list(),
            "chat.channels.webhooks.create": lambda a: self._channel().webhooks.create(**a),
            "chat.channels.webhooks.remove": self._remove_webhooks,
            "chat.channels.messages.create": lambda a: self._channel().messages.create(**a),
            "taskrouter.tasks.create": lambda a: self._workspace().tasks.create(**self._json(a)),
            "taskrouter.tasks.fetch": lambda a: self._workspace().tasks(a["sid"]).fetch(),
            "taskrouter.tasks.update": lambda a: self._workspace().tasks(a.pop("sid")).update(**self._json(a)),
            "taskrouter.tasks.remove": lambda a: self._workspace().tasks(a["sid"]).delete(),
            "flex.flex_flows.find": self._find_flex_flow,
            "flex.channels.create": lambda a: self.client.flex_api.v1.channel.create(**self._json(a)),
            "studio.executions.create": lambda a: self.client.studio.v2.flows(a.pop("flow_sid")).executions.create(**a),
        }

    def _find_flex_flow(self, args: dict[str, Any]) -> Any:
        """``flexFlow.list()`` then ``find(...)`` on the given fields, as Functions look a flow up."""
        return next(
            flow
            for flow in self.client.flex_api.v1.flex_flow.list()
            if all(getattr(flow, key) == value for key, value in args.items())
        )

    def _channel(self) -> Any:
        return self.client.chat.v2.services(self.values["service_sid"]).channels(self.values["channel_sid"])

    def _workspace(self) -> Any:
        return self.client.taskrouter.v1.workspaces(self.values["workspace_sid"])

    @staticmethod
    def _json(args: dict[str, Any]) -> dict[str, Any]:
        for name in ("attributes", "task_attributes"):
            if isinstance(args.get(name), (dict, list)):
                args[name] = json.dumps(args[name])
        return args

    def _update_channel(self, args: dict[str, Any]) -> Any:
        """``channel.update(...)``; ``merge_attributes`` and ``drop_attributes`` read the channel's
        attributes first and write them back changed, as ``{...attributes, key: value}`` and
        lodash's ``omit`` do in Functions; ``append_attributes`` adds to a list attribute."""
        merge = args.pop("merge_attributes", None)
        drop = args.pop("drop_attributes", None)
        append = args.pop("append_attributes", None)
        if merge is not None or drop is not None or append is not None:
            attributes = json.loads(self._channel().fetch().attributes)
            attributes.update(merge or {})
            for key in drop or []:
                attributes.pop(key, None)
            for key, value in (append or {}).items():
                existing = attributes.get(key)
                attributes[key] = [*existing, value] if isinstance(existing, list) else [value]
            args["attributes"] = attributes
        return self._channel().update(**self._json(args))

    def _remove_webhooks(self, args: dict[str, Any]) -> Any:
        """One webhook by ``sid``, or every webhook of a ``type`` (list, then remove each)."""
        if "sid" in args:
            return self._channel().webhooks(args["sid"]).delete()
        removed = [hook.sid for hook in self._channel().webhooks.list() if hook.type == args["type"]]
        for sid in removed:
            self._channel().webhooks(sid).delete()
        return removed

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if isinstance(value, str):
            return PLACEHOLDER.sub(lambda m: str(self.lookup(m.group(1))), value)
        return value

    def lookup(self, dotted: str) -> Any:
        name, *fields = dotted.split(".")
        value = self.values[name]
        for field_name in fields:
            value = getattr(value, field_name)
        return value

    def run(self, steps: list[dict[str, Any]]) -> None:
        """Each step a call, or ``{"set": {VAR: value}}`` (a value the Function keeps, such as
        the SID of the channel it created)."""
        for step in steps:
            if "set" in step:
                self.values.update(self.resolve(step["set"]))
                continue
            result = self.calls[step["call"]](self.resolve(step.get("args", {})))
            if "save" in step:
                self.values[step["save"]] = result
