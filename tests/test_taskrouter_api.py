"""TaskRouter v1 through the official client: workspaces with Twilio's default activities and task
channels, activities, task channels, task queues, workflows (configuration checked against the
workspace's queues), and tasks (list and fetch; tasks are inserted through the store here)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client as TwilioClient

from switchboard.store.crypto import Cipher
from switchboard.store.db import Database
from switchboard.store.models import Task, TaskQueue
from tests.helpers.stack import Stack

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends

DEFAULT_ACTIVITIES = {"Offline": False, "Available": True, "Unavailable": False, "Break": False}
DEFAULT_CHANNELS = {"default", "voice", "sms", "chat", "video", "email"}


def taskrouter(stack: Stack) -> TwilioClient:
    client = stack.twilio()
    client.taskrouter.base_url = stack.url
    return client


def refusal(call: Callable[[], Any]) -> tuple[int, str]:
    """The status and message the client got for a refused call (single resources raise
    TwilioRestException; list pages raise TwilioException carrying the response)."""
    try:
        call()
    except TwilioRestException as exc:
        return exc.status, str(exc.msg)
    except TwilioException as exc:
        response = exc.args[1]
        return int(response.status_code), str(json.loads(response.text)["message"])
    raise AssertionError("the call was not refused")


def routing(*queues: str, default: str | None = None) -> str:
    filters = [{"filter_friendly_name": f"to {q}", "expression": "1==1", "targets": [{"queue": q}]} for q in queues]
    config: dict[str, Any] = {"task_routing": {"filters": filters}}
    if default:
        config["task_routing"]["default_filter"] = {"queue": default}
    return json.dumps(config)


def test_workspace_lifecycle_with_twilio_defaults(stack: Stack) -> None:
    client = taskrouter(stack)
    name = f"support {uuid.uuid4().hex[:6]}"
    ws = client.taskrouter.v1.workspaces.create(friendly_name=name, event_callback_url="https://hooks.example.com/ev")
    assert ws.sid.startswith("WS") and ws.account_sid == stack.settings.account_sid
    assert ws.multi_task_enabled is True and ws.prioritize_queue_order == "FIFO"
    assert ws.default_activity_name == "Offline" and ws.timeout_activity_name == "Offline"
    assert ws.event_callback_url == "https://hooks.example.com/ev"
    assert ws.links["activities"] == f"{stack.url}/v1/Workspaces/{ws.sid}/Activities"
    assert ws.url == f"{stack.url}/v1/Workspaces/{ws.sid}"

    workspace = client.taskrouter.v1.workspaces(ws.sid)
    activities = {a.friendly_name: a for a in workspace.activities.list()}
    assert {n: a.available for n, a in activities.items()} == DEFAULT_ACTIVITIES
    assert activities["Offline"].sid == ws.default_activity_sid == ws.timeout_activity_sid
    assert [a.friendly_name for a in workspace.activities.list(available="true")] == ["Available"]
    channels = workspace.task_channels.list()
    assert {c.unique_name for c in channels} == DEFAULT_CHANNELS
    assert workspace.task_queues.list() == [] and workspace.workflows.list() == []

    updated = workspace.update(
        default_activity_sid=activities["Available"].sid, prioritize_queue_order="LIFO", friendly_name=f"{name}!"
    )
    assert updated.default_activity_name == "Available" and updated.prioritize_queue_order == "LIFO"
    assert workspace.fetch().friendly_name == f"{name}!"
    assert [w.sid for w in client.taskrouter.v1.workspaces.list(friendly_name=f"{name}!")] == [ws.sid]

    other = client.taskrouter.v1.workspaces.create(friendly_name="other")
    foreign = client.taskrouter.v1.workspaces(other.sid).activities.list()[0].sid
    with pytest.raises(TwilioRestException) as refused:
        workspace.update(timeout_activity_sid=foreign)
    assert refused.value.status == 400 and "TimeoutActivitySid" in refused.value.msg

    assert workspace.delete() is True
    for gone in (workspace.fetch, workspace.activities.list, workspace.task_channels.list):
        status, message = refusal(gone)
        assert status == 404 and ws.sid in message


def test_fifo_template_and_workspace_paging(stack: Stack) -> None:
    client = taskrouter(stack)
    ws = client.taskrouter.v1.workspaces.create(friendly_name="fifo", template="FIFO")
    queues = client.taskrouter.v1.workspaces(ws.sid).task_queues.list()
    assert [(q.friendly_name, q.target_workers) for q in queues] == [("Sample Queue", "1==1")]
    (flow,) = client.taskrouter.v1.workspaces(ws.sid).workflows.list()
    assert flow.friendly_name == "Default Fifo Workflow"
    assert json.loads(flow.configuration)["task_routing"]["default_filter"] == {"queue": queues[0].sid}

    for i in range(3):
        client.taskrouter.v1.workspaces.create(friendly_name=f"paged {i}")
    with stack.http() as http:
        first = http.get("/v1/Workspaces", params={"PageSize": 2}).json()
        assert len(first["workspaces"]) == 2 and first["meta"]["key"] == "workspaces"
        seen = [w["sid"] for w in first["workspaces"]]
        url = first["meta"]["next_page_url"]
        while url:
            page = http.get(url).json()
            seen += [w["sid"] for w in page["workspaces"]]
            url = page["meta"]["next_page_url"]
        assert len(seen) == len(set(seen)) >= 5  # the Flex default workspace, fifo, paged 0-2
        bad = http.post("/v1/Workspaces", data={"FriendlyName": "x", "Template": "ROUND_ROBIN"})
        assert bad.status_code == 400 and "Template" in bad.json()["message"]
    assert len(list(client.taskrouter.v1.workspaces.stream(page_size=2))) == len(seen)


def test_activities_task_channels_and_queues(stack: Stack) -> None:
    client = taskrouter(stack)
    ws = client.taskrouter.v1.workspaces.create(friendly_name="resources")
    workspace = client.taskrouter.v1.workspaces(ws.sid)

    lunch = workspace.activities.create(friendly_name="Lunch", available=False)
    assert lunch.sid.startswith("WA") and lunch.available is False and lunch.workspace_sid == ws.sid
    assert workspace.activities(lunch.sid).update(friendly_name="Long lunch").friendly_name == "Long lunch"
    assert workspace.activities(lunch.sid).fetch().available is False

    whatsapp = workspace.task_channels.create(friendly_name="WhatsApp", unique_name="whatsapp")
    assert whatsapp.sid.startswith("TC") and whatsapp.unique_name == "whatsapp"
    assert workspace.task_channels("whatsapp").fetch().sid == whatsapp.sid  # by unique name, as Twilio allows
    updated = workspace.task_channels(whatsapp.sid).update(friendly_name="WA", channel_optimized_routing=True)
    assert updated.friendly_name == "WA" and updated.channel_optimized_routing is True
    with pytest.raises(TwilioRestException) as taken:
        workspace.task_channels.create(friendly_name="again", unique_name="whatsapp")
    assert taken.value.status == 409 and "whatsapp" in taken.value.msg
    assert workspace.task_channels(whatsapp.sid).delete() is True

    queue = workspace.task_queues.create(friendly_name="Tier 1")
    assert queue.sid.startswith("WQ")
    assert (queue.target_workers, queue.task_order, queue.max_reserved_workers) == ("1==1", "FIFO", 1)
    assert queue.reservation_activity_sid is None and queue.links["workspace"].endswith(ws.sid)
    expression = 'routing.skills HAS "spanish" AND level > 2'
    queue = workspace.task_queues(queue.sid).update(
        target_workers=expression, task_order="LIFO", max_reserved_workers=5, reservation_activity_sid=lunch.sid
    )
    assert (queue.target_workers, queue.task_order, queue.max_reserved_workers) == (expression, "LIFO", 5)
    assert queue.reservation_activity_name == "Long lunch"
    assert workspace.task_queues(queue.sid).fetch().reservation_activity_sid == lunch.sid
    assert [q.sid for q in workspace.task_queues.list(friendly_name="Tier 1")] == [queue.sid]

    with pytest.raises(TwilioRestException) as in_use:
        workspace.activities(lunch.sid).delete()
    assert in_use.value.status == 400 and queue.sid in in_use.value.msg
    with pytest.raises(TwilioRestException) as default:
        workspace.activities(ws.default_activity_sid).delete()
    assert default.value.status == 400
    assert workspace.task_queues(queue.sid).delete() is True
    assert workspace.activities(lunch.sid).delete() is True

    with stack.http() as http:
        base = f"/v1/Workspaces/{ws.sid}"
        for path, data, parameter in (
            ("TaskQueues", {"FriendlyName": "q", "TaskOrder": "RANDOM"}, "TaskOrder"),
            ("TaskQueues", {"FriendlyName": "q", "MaxReservedWorkers": "99"}, "MaxReservedWorkers"),
            ("TaskQueues", {"FriendlyName": "q", "AssignmentActivitySid": "WA" + "0" * 32}, "AssignmentActivitySid"),
            ("TaskQueues", {}, "FriendlyName"),
            ("TaskChannels", {"FriendlyName": "x"}, "UniqueName"),
            ("Activities", {"FriendlyName": "x" * 65}, "FriendlyName"),
        ):
            response = http.post(f"{base}/{path}", data=data)
            assert response.status_code == 400, response.text
            assert parameter in response.json()["message"] and response.json()["code"] == 20001


def test_workflows_check_their_configuration(stack: Stack) -> None:
    client = taskrouter(stack)
    ws = client.taskrouter.v1.workspaces.create(friendly_name="routing")
    workspace = client.taskrouter.v1.workspaces(ws.sid)
    sales = workspace.task_queues.create(friendly_name="Sales").sid
    support = workspace.task_queues.create(friendly_name="Support").sid

    configuration = routing(sales, support, default=support)
    flow = workspace.workflows.create(friendly_name="Inbound", configuration=configuration)
    assert flow.sid.startswith("WW") and flow.configuration == configuration
    assert flow.task_reservation_timeout == 120 and flow.document_content_type == "application/json"
    assert flow.assignment_callback_url is None

    flow = workspace.workflows(flow.sid).update(
        task_reservation_timeout=300,
        assignment_callback_url="https://app.example.com/assign",
        configuration=routing(sales, default=sales),
    )
    assert flow.task_reservation_timeout == 300 and flow.assignment_callback_url == "https://app.example.com/assign"
    assert json.loads(workspace.workflows(flow.sid).fetch().configuration)["task_routing"]["default_filter"] == {
        "queue": sales
    }
    assert [w.sid for w in workspace.workflows.list(friendly_name="Inbound")] == [flow.sid]

    # A queue a workflow targets cannot go; one it no longer targets can.
    with pytest.raises(TwilioRestException) as targeted:
        workspace.task_queues(sales).delete()
    assert targeted.value.status == 400 and flow.sid in targeted.value.msg
    assert workspace.task_queues(support).delete() is True
    assert workspace.workflows(flow.sid).delete() is True
    assert workspace.task_queues(sales).delete() is True


@pytest.mark.parametrize(
    ("configuration", "problem"),
    [
        ("not json", "must be JSON"),
        ('["task_routing"]', "task_routing"),
        ('{"routing": {}}', "task_routing"),
        ('{"task_routing": {"filters": {}}}', "filters must be a list"),
        ('{"task_routing": {"filters": [{"expression": "1==1"}]}}', "filters[0].targets"),
        ('{"task_routing": {"filters": [{"targets": [{"priority": 1}]}]}}', "filters[0].targets[0] has no queue"),
        ("FOREIGN_FILTER", "filters[1].targets[0] queue WQ"),
        ('{"task_routing": {"filters": [{"targets": [{"queue": "Sales"}]}]}}', "is not a TaskQueue SID"),
        ('{"task_routing": {"default_filter": {"queue": "MISSING"}}}', "default_filter"),
        ("BAD_TIMEOUT", "timeout must be a non-negative integer"),
    ],
)
def test_bad_workflow_configurations_are_refused_naming_the_problem(
    stack: Stack, configuration: str, problem: str
) -> None:
    with stack.http() as http:
        ws = http.post("/v1/Workspaces", data={"FriendlyName": "bad routing"}).json()["sid"]
        other = http.post("/v1/Workspaces", data={"FriendlyName": "elsewhere"}).json()["sid"]
        own = http.post(f"/v1/Workspaces/{ws}/TaskQueues", data={"FriendlyName": "Mine"}).json()["sid"]
        foreign = http.post(f"/v1/Workspaces/{other}/TaskQueues", data={"FriendlyName": "Theirs"}).json()["sid"]
        configuration = {
            "FOREIGN_FILTER": routing(own, foreign),
            "BAD_TIMEOUT": json.dumps({"task_routing": {"filters": [{"targets": [{"queue": own, "timeout": -5}]}]}}),
        }.get(configuration, configuration.replace("MISSING", "WQ" + "0" * 32))
        response = http.post(
            f"/v1/Workspaces/{ws}/Workflows", data={"FriendlyName": "bad", "Configuration": configuration}
        )
        assert response.status_code == 400, response.text
        body = response.json()
        assert "Configuration" in body["message"] and problem in body["message"], body
        assert body["code"] == 20001
        if configuration.startswith('{"task_routing": {"default_filter"'):
            assert ws in body["message"]
        assert http.get(f"/v1/Workspaces/{ws}/Workflows").json()["workflows"] == []


def test_expressions_are_checked_where_they_are_configured(stack: Stack) -> None:
    client = taskrouter(stack)
    ws = client.taskrouter.v1.workspaces.create(friendly_name="expressions")
    workspace = client.taskrouter.v1.workspaces(ws.sid)

    for target_workers, problem in (
        ("skills ==", "expected a value after '==' at position 9"),
        ('skills HAS "a" AND', "expected a condition after 'AND' at position 18"),
        ("skill-level > 2", "unexpected character '-' at position 5"),
    ):
        with pytest.raises(TwilioRestException) as refused:
            workspace.task_queues.create(friendly_name="Bad", target_workers=target_workers)
        assert refused.value.status == 400 and refused.value.code == 20001
        # The client puts "Unable to create record: " before the message.
        assert refused.value.msg.endswith(f": Invalid parameter TargetWorkers: {problem}"), refused.value.msg
    assert workspace.task_queues.list() == []

    queue = workspace.task_queues.create(friendly_name="Spanish", target_workers="languages has 'es'")
    assert queue.target_workers == "languages has 'es'"
    with pytest.raises(TwilioRestException) as refused:
        workspace.task_queues(queue.sid).update(target_workers="languages HAS", friendly_name="Renamed")
    assert refused.value.status == 400
    assert refused.value.msg.endswith(": Invalid parameter TargetWorkers: expected a value after 'HAS' at position 13")
    unchanged = workspace.task_queues(queue.sid).fetch()
    assert (unchanged.target_workers, unchanged.friendly_name) == ("languages has 'es'", "Spanish")

    def configuration(expression: str = "1==1", /, **target: str) -> str:
        filters = [
            {"filter_friendly_name": "es", "expression": expression, "targets": [{"queue": queue.sid, **target}]}
        ]
        return json.dumps({"task_routing": {"filters": filters, "default_filter": {"queue": queue.sid}}})

    good = configuration('language == "es"', expression="worker.level >= task.level", skip_if="workers.available == 0")
    flow = workspace.workflows.create(friendly_name="Checked", configuration=good)
    assert flow.configuration == good
    for bad, problem in (
        (configuration('language == "es" OR'), "task_routing.filters[0].expression: expected a condition after 'OR'"),
        (configuration("language IN ['es' 'fr']"), "task_routing.filters[0].expression: expected ',' or ']' after"),
        (
            configuration(expression="worker.level >= "),
            "task_routing.filters[0].targets[0].expression: expected a value",
        ),
        (
            configuration(skip_if="workers.available = = 0"),
            "task_routing.filters[0].targets[0].skip_if: expected a value",
        ),
        (configuration(skip_if=""), "task_routing.filters[0].targets[0].skip_if: the expression is empty"),
    ):
        with pytest.raises(TwilioRestException) as created:
            workspace.workflows.create(friendly_name="Bad", configuration=bad)
        with pytest.raises(TwilioRestException) as updated:
            workspace.workflows(flow.sid).update(configuration=bad)
        for refused in (created, updated):
            assert refused.value.status == 400 and refused.value.code == 20001
            assert f": Invalid parameter Configuration: {problem}" in refused.value.msg, refused.value.msg
            assert " at position " in refused.value.msg or "empty" in problem
    assert [w.configuration for w in workspace.workflows.list()] == [good]


def test_task_queues_listed_by_the_worker_attributes_they_target(stack: Stack) -> None:
    client = taskrouter(stack)
    ws = client.taskrouter.v1.workspaces.create(friendly_name="targets")
    workspace = client.taskrouter.v1.workspaces(ws.sid)
    everyone = workspace.task_queues.create(friendly_name="Everyone").sid  # 1==1
    support = workspace.task_queues.create(friendly_name="Support", target_workers='skills HAS "support"').sid
    spanish = workspace.task_queues.create(
        friendly_name="Spanish support", target_workers="skills HAS 'support' AND worker.languages HAS 'es'"
    ).sid
    seniors = workspace.task_queues.create(friendly_name="Seniors", target_workers="routing.level >= 3").sid
    nobody = workspace.task_queues.create(friendly_name="Nobody", target_workers="1 == 2").sid
    insert_tasks(  # a queue stored before expressions were checked: it matches no one
        stack,
        [TaskQueue(sid="WQ" + uuid.uuid4().hex, workspace_sid=ws.sid, friendly_name="Old", target_workers="x ==")],
    )

    def targeted(attributes: Any, **filters: Any) -> list[str]:
        return [q.sid for q in workspace.task_queues.list(evaluate_worker_attributes=json.dumps(attributes), **filters)]

    agent = {"skills": ["support", "sales"], "languages": ["en", "es"], "routing": {"level": 4}}
    assert targeted(agent) == [everyone, support, spanish, seniors]
    assert targeted({**agent, "languages": ["en"]}) == [everyone, support, seniors]
    assert targeted({"skills": ["sales"], "routing": {"level": 2}}) == [everyone]
    assert targeted({}) == [everyone]
    assert targeted(agent, friendly_name="Spanish support") == [spanish]
    assert targeted(agent, page_size=1) == [everyone, support, spanish, seniors]  # the client follows the pages
    assert nobody not in targeted(agent) and len(workspace.task_queues.list()) == 6

    for value, problem in (
        ("{skills", "EvaluateWorkerAttributes: must be JSON"),
        ('["support"]', "EvaluateWorkerAttributes: must be a JSON object of worker attributes"),
    ):
        status, message = refusal(partial(workspace.task_queues.list, evaluate_worker_attributes=value))
        assert status == 400 and message.startswith(f"Invalid parameter {problem}"), message


def test_workers_listed_by_expression_or_queue_and_queues_by_worker(stack: Stack) -> None:
    """The Workers list's ``TargetWorkersExpression`` (attributes plus the worker's ``sid``,
    ``friendly_name``, ``activity_sid`` and ``activity_name``), ``TaskQueueSid`` and
    ``TaskQueueName``, and the TaskQueues list's ``WorkerSid``: what Flex plugins' transfer
    directories call."""
    client = taskrouter(stack)
    ws = client.taskrouter.v1.workspaces.create(friendly_name="directory")
    workspace = client.taskrouter.v1.workspaces(ws.sid)
    activities = {a.friendly_name: a.sid for a in workspace.activities.list()}
    everyone = workspace.task_queues.create(friendly_name="Everyone").sid
    support = workspace.task_queues.create(friendly_name="Support", target_workers="skills HAS 'support'").sid
    idle = workspace.task_queues.create(friendly_name="Idle", target_workers="worker.activity_name == 'Available'").sid
    amy, bob, cyd = (
        workspace.workers.create(
            friendly_name=name,
            attributes=json.dumps({"skills": skills, "level": level}),
            activity_sid=activities[activity],
        ).sid
        for name, skills, level, activity in (
            ("amy", ["support"], 4, "Available"),
            ("bob", ["sales"], 2, "Available"),
            ("cyd", ["support", "sales"], 1, "Offline"),
        )
    )

    def workers(**filters: Any) -> list[str]:
        return [w.sid for w in workspace.workers.list(**filters)]

    assert workers(target_workers_expression="skills HAS 'support'") == [amy, cyd]
    assert workers(target_workers_expression="level > 1 AND worker.activity_name == 'Available'") == [amy, bob]
    assert workers(target_workers_expression=f"worker.sid != '{amy}' AND friendly_name != 'cyd'") == [bob]
    assert workers(target_workers_expression="worker.friendly_name IN ['amy', 'cyd']", page_size=1) == [amy, cyd]
    assert workers(task_queue_sid=support) == [amy, cyd]
    assert workers(task_queue_name="Idle") == [amy, bob]
    assert workers(task_queue_sid=support, available=True) == [amy]
    assert workers(task_queue_name="No such queue") == []

    def queues(worker_sid: str) -> list[str]:
        return [q.sid for q in workspace.task_queues.list(worker_sid=worker_sid)]

    assert queues(amy) == [everyone, support, idle]
    assert queues(cyd) == [everyone, support]

    for call, problem in (
        (partial(workspace.workers.list, target_workers_expression="skills HAS"), "TargetWorkersExpression: "),
        (partial(workspace.workers.list, task_queue_sid="WQ" + "0" * 32), "TaskQueueSid: "),
        (partial(workspace.task_queues.list, worker_sid="WK" + "0" * 32), "WorkerSid: "),
    ):
        status, message = refusal(call)
        assert status in (400, 404) and problem in message, message


def insert_tasks(stack: Stack, tasks: Sequence[Task | TaskQueue]) -> None:
    async def insert(_client: Any) -> None:
        db = Database(stack.settings.resolved_database_url)
        try:
            async with db.write_session() as session:
                for task in tasks:
                    session.add(task)
                await session.commit()
        finally:
            await db.dispose()

    stack.call(insert)


def test_tasks_list_and_fetch(stack: Stack) -> None:
    client = taskrouter(stack)
    cipher = Cipher.from_setting(stack.settings.encryption_keys, stack.settings.encryption_key_id)
    ws = client.taskrouter.v1.workspaces.create(friendly_name="tasks")
    workspace = client.taskrouter.v1.workspaces(ws.sid)
    queue = workspace.task_queues.create(friendly_name="Everyone")
    flow = workspace.workflows.create(friendly_name="Anyone", configuration=routing(queue.sid, default=queue.sid))
    other_flow = workspace.workflows.create(friendly_name="Other", configuration=routing(queue.sid))
    chat = workspace.task_channels("chat").fetch()

    start = datetime.now(UTC) - timedelta(minutes=10)
    statuses = ["pending", "reserved", "assigned", "wrapping", "completed", "canceled", "pending"]
    rows = []
    for i, status in enumerate(statuses):
        attributes = json.dumps({"name": f"customer {i}", "channelType": "sms", "n": i}, separators=(",", ":"))
        rows.append(
            Task(
                sid="WT" + uuid.uuid4().hex,
                workspace_sid=ws.sid,
                workflow_sid=(other_flow if i == 6 else flow).sid,
                task_channel_unique_name="chat",
                attributes_enc=cipher.encrypt(attributes, "task.attributes"),
                assignment_status=status,
                priority=i % 3,
                timeout=3600,
                task_queue_sid=None if i == 6 else queue.sid,
                date_created=start + timedelta(seconds=i),
                date_updated=start + timedelta(seconds=i),
            )
        )
    insert_tasks(stack, rows)
    sids = [r.sid for r in rows]

    task = workspace.tasks(sids[1]).fetch()
    assert task.attributes == json.dumps({"name": "customer 1", "channelType": "sms", "n": 1}, separators=(",", ":"))
    assert task.assignment_status == "reserved" and task.priority == 1 and task.timeout == 3600
    assert task.task_channel_unique_name == "chat" and task.task_channel_sid == chat.sid
    assert task.workflow_sid == flow.sid and task.workflow_friendly_name == "Anyone"
    assert task.task_queue_sid == queue.sid and task.task_queue_friendly_name == "Everyone"
    assert 595 <= task.age <= 3600
    assert task.date_created == (start + timedelta(seconds=1)).replace(microsecond=0)
    assert task.links["workflow"] == f"{stack.url}/v1/Workspaces/{ws.sid}/Workflows/{flow.sid}"
    assert task.url == f"{stack.url}/v1/Workspaces/{ws.sid}/Tasks/{sids[1]}"

    assert [t.sid for t in workspace.tasks.list()] == sids
    assert [t.sid for t in workspace.tasks.list(ordering="DateCreated:desc")] == sids[::-1]
    by_priority = [t.sid for t in workspace.tasks.list(ordering="Priority:desc,DateCreated:asc")]
    assert by_priority == [sids[2], sids[5], sids[1], sids[4], sids[0], sids[3], sids[6]]
    assert [t.sid for t in workspace.tasks.list(assignment_status=["pending"])] == [sids[0], sids[6]]
    live = workspace.tasks.list(assignment_status=["pending", "reserved", "assigned"])
    assert [t.sid for t in live] == [sids[0], sids[1], sids[2], sids[6]]
    assert [t.sid for t in workspace.tasks.list(workflow_sid=other_flow.sid)] == [sids[6]]
    assert [t.sid for t in workspace.tasks.list(workflow_name="Other")] == [sids[6]]
    assert [t.sid for t in workspace.tasks.list(task_queue_sid=queue.sid)] == sids[:6]
    assert [t.sid for t in workspace.tasks.list(task_queue_name="Everyone", priority=0)] == [sids[0], sids[3]]
    assert [t.sid for t in workspace.tasks.list(page_size=2)] == sids  # the client follows next_page_url

    # EvaluateTaskAttributes: an expression on the decrypted attributes, with the other filters,
    # the ordering and the paging.
    def evaluated(expression: str, **filters: Any) -> list[str]:
        return [t.sid for t in workspace.tasks.list(evaluate_task_attributes=expression, **filters)]

    assert evaluated("n >= 4") == sids[4:]
    assert evaluated('name == "customer 2"') == [sids[2]]
    assert evaluated('name == "Customer 2"') == []  # strings compare case-sensitively
    assert evaluated('name CONTAINS "customer" AND (n < 2 OR n == 5)') == [sids[0], sids[1], sids[5]]
    assert evaluated("task.n in [0, 6]") == [sids[0], sids[6]]
    assert evaluated('channelType != "sms"') == [] and evaluated("missing == 1") == []
    assert evaluated("NOT n IN [1, 2, 3]", assignment_status=["pending", "reserved"]) == [sids[0], sids[6]]
    assert evaluated("n > 0", ordering="DateCreated:desc") == sids[:0:-1]
    assert evaluated("n >= 1 AND n != 4", page_size=2) == [sids[i] for i in (1, 2, 3, 5, 6)]
    with stack.http() as http:
        pages = []
        params: dict[str, Any] | None = {"EvaluateTaskAttributes": "n >= 1 AND n != 4", "PageSize": 2}
        url: str | None = f"/v1/Workspaces/{ws.sid}/Tasks"
        while url:
            page = http.get(url, params=params).json()
            pages.append([t["sid"] for t in page["tasks"]])
            url, params = page["meta"]["next_page_url"], None
        assert pages == [[sids[1], sids[2]], [sids[3], sids[5]], [sids[6]]]

    with stack.http() as http:
        base = f"/v1/Workspaces/{ws.sid}/Tasks"
        page = http.get(base, params={"PageSize": 3, "AssignmentStatus": "pending,completed"}).json()
        assert [t["sid"] for t in page["tasks"]] == [sids[0], sids[4], sids[6]]
        assert page["meta"]["key"] == "tasks" and page["meta"]["next_page_url"] is None
        first = http.get(base, params={"PageSize": 4}).json()
        assert [t["sid"] for t in first["tasks"]] == sids[:4]
        rest = http.get(first["meta"]["next_page_url"]).json()
        assert [t["sid"] for t in rest["tasks"]] == sids[4:]
        for params, parameter in (
            ({"AssignmentStatus": "lost"}, "AssignmentStatus"),
            ({"Ordering": "Name:asc"}, "Ordering"),
            ({"Ordering": "DateCreated:asc,VirtualStartTime:desc"}, "Ordering"),
            ({"EvaluateTaskAttributes": "n >="}, "EvaluateTaskAttributes: expected a value after '>=' at position 4"),
        ):
            response = http.get(base, params=params)
            assert response.status_code == 400 and parameter in response.json()["message"], response.text

    other = client.taskrouter.v1.workspaces.create(friendly_name="elsewhere")
    missing_calls: list[Callable[[], Any]] = [
        client.taskrouter.v1.workspaces(other.sid).tasks(sids[0]).fetch,
        workspace.tasks("WT" + "0" * 32).fetch,
        client.taskrouter.v1.workspaces("WS" + "0" * 32).tasks.list,
    ]
    for missing in missing_calls:
        assert refusal(missing)[0] == 404


def test_missing_resources_are_404_and_auth_is_required(stack: Stack) -> None:
    client = taskrouter(stack)
    ws = client.taskrouter.v1.workspaces.create(friendly_name="lookups")
    other = client.taskrouter.v1.workspaces.create(friendly_name="lookups elsewhere")
    queue = client.taskrouter.v1.workspaces(other.sid).task_queues.create(friendly_name="theirs")
    workspace = client.taskrouter.v1.workspaces(ws.sid)
    for fetch in (
        client.taskrouter.v1.workspaces("WS" + "f" * 32).fetch,
        workspace.activities("WA" + "f" * 32).fetch,
        workspace.task_channels("carrier-pigeon").fetch,
        workspace.task_queues(queue.sid).fetch,  # exists, but in another workspace
        workspace.workflows("WW" + "f" * 32).fetch,
        workspace.workflows("WW" + "f" * 32).delete,
    ):
        with pytest.raises(TwilioRestException) as missing:
            fetch()
        assert missing.value.status == 404 and missing.value.code == 20404
    with stack.http() as http:
        http.auth = ("AC" + "0" * 32, "wrong")
        assert http.get("/v1/Workspaces").status_code == 401
