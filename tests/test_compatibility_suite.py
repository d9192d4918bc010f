"""The compatibility suite: Studio flows, TaskRouter workflow configurations and the REST calls
of Twilio Functions, written in the styles of real Flex projects, each run end to end through the
official client. Every file in tests/compat/flows, tests/compat/workflows and
tests/compat/functions is a case, with its expectation in the sidecar ``NAME.expect.json``: a new
file is a new case, without code.

Placeholders stand for what only the running stack knows: in flows ``$HTTP`` (an outside server
recording what it is sent, one per run), ``$WORKFLOW_SID`` and ``$CHAT_CHANNEL_SID`` (Flex's
workspace); in workflows ``"$Queue"`` (a queue of the expectation's ``queues``) and
``$worker:NAME`` in task attributes; in Function scripts ``${VAR}``."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import httpx
import pytest

from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.compat import Replay, expectation, fixture_text, fixtures, subset_problems, substitute
from tests.helpers.flows import sms_flex_flow
from tests.helpers.messages import channels_of, messages_of, stack_idle, text
from tests.helpers.recording import RecordingServer, Reply
from tests.helpers.stack import Stack, StackFactory, eventually, new_phone

FLOWS = fixtures("flows")
WORKFLOWS = fixtures("workflows")
FUNCTIONS = fixtures("functions")


@pytest.fixture(scope="module")
def stack(make_stack: StackFactory, outside: RecordingServer) -> Stack:
    """One stack for the suite. Exported flows name Functions by SID: each expectation's
    ``functions`` maps them to a path of the outside server (under its first run's paths), as an
    operator maps them to URLs."""
    functions = {
        sid: f"{outside.url}/{name}/0{path}"
        for name in FLOWS
        for sid, path in expectation("flows", name).get("functions", {}).items()
    }
    return make_stack(studio_function_urls=json.dumps(functions))


# --- Studio flows ------------------------------------------------------------------------------


def flex_values(stack: Stack, base_url: str) -> dict[str, str]:
    defaults = plan_flex_defaults(stack.settings).defaults
    return {
        "HTTP": base_url,
        "WORKFLOW_SID": defaults.workflow_sid,
        "CHAT_CHANNEL_SID": defaults.chat_task_channel_sid,
    }


def conversation_so_far(http: httpx.Client, service: str, count: int) -> tuple[str, list[dict[str, Any]]]:
    """The service's one channel and its messages, once it holds at least ``count``."""

    def check() -> tuple[str, list[dict[str, Any]]]:
        [channel] = channels_of(http, service)
        messages = messages_of(http, service, channel["sid"])
        assert len(messages) >= count, messages
        return channel["sid"], messages

    return eventually(check)


def flex_task_for(stack: Stack, channel_sid: str) -> Any:
    workspace = stack.twilio().taskrouter.v1.workspaces(plan_flex_defaults(stack.settings).defaults.workspace_sid)

    def check() -> Any:
        [task] = [t for t in workspace.tasks.list() if json.loads(t.attributes).get("channelSid") == channel_sid]
        return task

    return eventually(check)


def run_flow(stack: Stack, outside: RecordingServer, name: str, index: int, run: dict[str, Any]) -> None:
    prefix = f"/{name}/{index}"
    for path, replies in run.get("http", {}).items():
        outside.script(prefix + path, *(Reply(r.get("status", 200), r.get("body", {})) for r in replies))
    definition = json.loads(substitute(fixture_text("flows", name), flex_values(stack, outside.url + prefix)))
    client = stack.twilio()
    flow = client.studio.v2.flows.create(friendly_name=name, status="published", definition=definition)
    expected_warnings = expectation("flows", name).get("warnings", [])
    assert [w["property_path"] for w in flow.warnings] == expected_warnings, flow.warnings
    assert flow.valid is True and flow.errors == []

    customer = new_phone()
    turns: list[list[str]] = run.get("conversation", [])
    with stack.http() as http:
        service, number = sms_flex_flow(stack, http, flow.sid)
        if "start" in run:
            client.studio.v2.flows(flow.sid).executions.create(
                to=customer, from_=number, parameters=run["start"].get("parameters", {})
            )
        for position, (role, body) in enumerate(turns):
            if role == "customer":
                if position:
                    conversation_so_far(http, service, position)
                text(stack, http, number, customer, body)
        channel_sid, messages = conversation_so_far(http, service, len(turns))

        # The execution has ended (the flow sent all it sends) before the conversation is judged. A
        # flow that sends nothing may not be listed yet when the customer's message is stored.
        def started() -> Any:
            [execution] = client.studio.v2.flows(flow.sid).executions.list()
            return execution

        execution = eventually(started)

        def ended() -> Any:
            fetched = client.studio.v2.flows(flow.sid).executions(execution.sid).fetch()
            assert fetched.status == "ended", fetched.status
            return fetched

        execution = eventually(ended)
        messages = messages_of(http, service, channel_sid)
    said = [["customer" if m["from"] == customer else "bot", m["body"]] for m in messages]
    assert said == turns

    # What only the run knows, in the expectation: the customer's and the flow's numbers, SIDs.
    hooks = client.chat.v2.services(service).channels(channel_sid).webhooks.list()
    known = {
        "CUSTOMER": customer,
        "NUMBER": number,
        "FLOW_SID": flow.sid,
        "EXECUTION_SID": execution.sid,
        "SERVICE_SID": service,
        "CHANNEL_SID": channel_sid,
        "STUDIO_WEBHOOK_SID": next((h.sid for h in hooks if h.type == "studio"), "none"),
    }
    run = json.loads(substitute(json.dumps(run), known))
    steps = [[s.transitioned_from, s.name, s.transitioned_to] for s in execution.steps.list()]
    if "steps" in run:
        assert steps == run["steps"]
    if "task" in run:
        if run["task"] is None:
            assert steps[-1][1] != "callComplete" and tasks_of(stack, channel_sid) == [], steps
        else:
            task = flex_task_for(stack, channel_sid)
            assert task.task_channel_unique_name == run["task"].get("channel", "chat")
            assert task.priority == run["task"].get("priority", 0)
            assert subset_problems(run["task"]["attributes"], json.loads(task.attributes)) == []
    for path, forms in run.get("requests", {}).items():
        assert [r.form for r in outside.received(prefix + path)] == forms, path
    for path, bodies in run.get("json_requests", {}).items():
        assert [json.loads(r.body) for r in outside.received(prefix + path)] == bodies, path


@pytest.mark.parametrize("name", FLOWS)
def test_flow(stack: Stack, outside: RecordingServer, name: str) -> None:
    """The flow imports through the official client with exactly its expected warnings, and each
    run (a customer's messages, or a REST execution) says and hands over what it should."""
    expected = expectation("flows", name)
    runs = expected.get("runs", [])
    if not runs:  # a flow only imported: its warnings are the case
        definition = json.loads(substitute(fixture_text("flows", name), flex_values(stack, outside.url)))
        flow = stack.twilio().studio.v2.flows.create(friendly_name=name, status="draft", definition=definition)
        assert flow.valid is True and flow.errors == []
        assert [w["property_path"] for w in flow.warnings] == expected.get("warnings", []), flow.warnings
    for index, run in enumerate(runs):
        run_flow(stack, outside, name, index, run)


# --- TaskRouter workflow configurations ----------------------------------------------------------

DEFAULT_QUEUES = {"Support": 'routing.skills HAS "support"', "Sales": 'routing.skills HAS "sales"', "Everyone": "1==1"}


class Workspace:
    """A workspace of its own for one case: the expectation's queues and workers, and the fixture's
    workflow with its ``"$Queue"`` strings replaced by the SIDs of those queues."""

    def __init__(self, stack: Stack, name: str, expected: dict[str, Any]) -> None:
        taskrouter = stack.twilio().taskrouter.v1
        self.workspace = taskrouter.workspaces(taskrouter.workspaces.create(friendly_name=f"compat {name}").sid)
        activities = {a.friendly_name: a.sid for a in self.workspace.activities.list()}
        self.queues = {
            queue: self.workspace.task_queues.create(friendly_name=queue, target_workers=workers).sid
            for queue, workers in expected.get("queues", DEFAULT_QUEUES).items()
        }
        self.workers: dict[str, str] = {}
        for worker, spec in expected.get("workers", {}).items():
            attributes = spec.get("attributes", {"routing": {"skills": []}, "contact_uri": f"client:{worker}"})
            self.workers[worker] = self.workspace.workers.create(
                friendly_name=worker,
                attributes=json.dumps(attributes),
                activity_sid=activities["Available" if spec.get("available", True) else "Offline"],
            ).sid
        self.configuration = fixture_text("workflows", name)
        for queue, sid in self.queues.items():
            self.configuration = self.configuration.replace(f'"${queue}"', json.dumps(sid))

    def task_attributes(self, attributes: dict[str, Any]) -> str:
        """The case's task attributes, with ``$worker:NAME`` standing for that worker's SID."""
        return substitute(json.dumps(attributes), {f"worker:{name}": sid for name, sid in self.workers.items()})

    def offered_to(self, task_sid: str) -> str:
        def check() -> str:
            [reservation] = self.workspace.tasks(task_sid).reservations.list(reservation_status="pending")
            return str(reservation.worker_sid)

        return eventually(check, timeout=15)


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow(stack: Stack, name: str) -> None:
    """The configuration saves through the official client, and each case's task lands in its
    queue (with its priority) and is offered to its worker."""
    expected = expectation("workflows", name)
    cases = expected.get("cases", [])
    assert cases, f"{name}: the expectation has no cases"
    for case in cases:
        space = Workspace(stack, name, expected)
        workflow = space.workspace.workflows.create(friendly_name=name, configuration=space.configuration)
        task = space.workspace.tasks.create(
            attributes=space.task_attributes(case["attributes"]),
            workflow_sid=workflow.sid,
            task_channel=case.get("channel", "chat"),
        )
        label = case.get("name", case["attributes"])
        offered = space.offered_to(task.sid)
        assert offered == space.workers[case["offered_to"]], (label, {s: n for n, s in space.workers.items()}[offered])
        fetched = space.workspace.tasks(task.sid).fetch()
        assert fetched.task_queue_sid == space.queues[case["queue"]], label
        assert fetched.priority == case.get("priority", 0), label


# --- Functions -----------------------------------------------------------------------------------


def posted_count(outside: RecordingServer, path: str, count: int) -> None:
    received = outside.received(path)
    assert len(received) == count, received


def webhooks_of(client: Any, service: str, channel: str) -> list[dict[str, Any]]:
    hooks = client.chat.v2.services(service).channels(channel).webhooks.list()
    return [{"type": h.type, **(h.configuration or {})} for h in hooks]


def tasks_of(stack: Stack, channel_sid: str) -> list[dict[str, Any]]:
    """The Flex workspace's tasks of the channel, oldest first."""
    workspace = stack.twilio().taskrouter.v1.workspaces(plan_flex_defaults(stack.settings).defaults.workspace_sid)
    found = [t for t in workspace.tasks.list() if json.loads(t.attributes).get("channelSid") == channel_sid]
    return [
        {
            "task_channel_unique_name": t.task_channel_unique_name,
            "assignment_status": t.assignment_status,
            "attributes": json.loads(t.attributes),
        }
        for t in sorted(found, key=lambda t: t.date_created)
    ]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function(stack: Stack, outside: RecordingServer, name: str) -> None:
    """A Function's REST calls, replayed in order with the official client on a conversation of a
    Studio Flex Flow, between the customer's messages; then the channel, its webhooks, its tasks
    and what the outside server was posted are as the Function left them at Twilio."""
    script = json.loads(fixture_text("functions", name))
    defaults = plan_flex_defaults(stack.settings).defaults
    client = stack.twilio()
    customer = new_phone()
    replay = Replay(
        client,
        {
            "http": f"{outside.url}/{name}",
            "workflow_sid": defaults.workflow_sid,
            "workspace_sid": defaults.workspace_sid,
            "chat_task_channel_sid": defaults.chat_task_channel_sid,
            "customer": customer,
        },
    )
    said: list[list[str]] = []
    with stack.http() as http:
        if "flow" in script:  # a conversation of a Studio Flex Flow, started by the customer
            flow_sid = client.studio.v2.flows.create(
                friendly_name=name, status="published", definition=replay.resolve(script["flow"])
            ).sid
            service, number = sms_flex_flow(stack, http, flow_sid)
        else:  # a task Flex Flow, on which the Function starts conversations itself
            flow_sid = None
            service = stack.create_service(http)
            number = stack.create_flex_flow(
                http,
                service,
                IntegrationType="task",
                **{
                    "Integration.WorkspaceSid": defaults.workspace_sid,
                    "Integration.WorkflowSid": defaults.workflow_sid,
                    "Integration.Channel": "chat",
                },
            )["contact_identity"]
        replay.values.update(flow_sid=flow_sid, service_sid=service, number=number)
        for step in script["script"]:
            if "bot" in step:
                said.append(["bot", step["bot"]])
                continue
            if said:  # what was said so far is in the channel before the next step
                replay.values["channel_sid"], _ = conversation_so_far(http, service, len(said))
            if "customer" in step:
                text(stack, http, number, customer, step["customer"])
                said.append(["customer", step["customer"]])
            elif "find_task" in step:  # the task a TaskRouter event would name
                channel = replay.values["channel_sid"]
                replay.values[step["find_task"]] = flex_task_for(stack, channel)
            elif "posted" in step:  # the outside server has been posted this many messages
                eventually(partial(posted_count, outside, f"/{name}{step['posted']}", step["count"]))
            else:
                replay.run([step])
        channel_sid, _ = conversation_so_far(http, service, len(said))
        replay.values["channel_sid"] = channel_sid
        expected = replay.resolve(script["expect"])

        def settled() -> list[dict[str, Any]]:
            tasks = tasks_of(stack, channel_sid)
            assert len(tasks) == len(expected.get("tasks", [])), tasks
            executions = client.studio.v2.flows(flow_sid).executions.list() if flow_sid else []
            assert len(executions) == expected.get("executions", 0), executions
            assert all(e.status == "ended" for e in executions), [e.status for e in executions]
            return tasks

        stack_idle(stack, channel_sid)  # the last message has been stored and acted on
        tasks = eventually(settled)
        messages = messages_of(http, service, channel_sid)
    assert [["customer" if m["from"] == customer else "bot", m["body"]] for m in messages] == said
    for want, task in zip(expected.get("tasks", []), tasks, strict=True):
        assert subset_problems(want, task) == [], task
    attributes = json.loads(client.chat.v2.services(service).channels(channel_sid).fetch().attributes)
    assert subset_problems(expected.get("channel_attributes", {}), attributes) == [], attributes
    if "webhooks" in expected:
        hooks = webhooks_of(client, service, channel_sid)
        assert len(hooks) == len(expected["webhooks"]), hooks
        for want, hook in zip(expected["webhooks"], hooks, strict=True):
            assert subset_problems(want, hook) == [], hook
    for path, forms in expected.get("posted", {}).items():
        received = [r.form for r in outside.received(f"/{name}{path}")]
        assert len(received) == len(forms), received
        for want, form in zip(forms, received, strict=True):
            assert subset_problems(want, form) == [], form
