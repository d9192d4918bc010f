"""Business hours end to end on a real stack: ``/v1/Workspaces/{WS}/BusinessHours`` (fetch, update,
refusals by field and by caller), a TaskRouter workflow that places and holds tasks by
``taskrouter.businessOpen``, a Studio flow that splits on ``flow.business_hours.open``, and what the
widget reads (``/v1/Webchat/BusinessHours``)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.business_hours import AWAY, OPEN_NOW, closed_today, set_hours
from tests.helpers.flows import create_flow, sms_flex_flow
from tests.helpers.messages import conversation
from tests.helpers.routing import Space, new_space
from tests.helpers.stack import Stack, eventually, new_phone
from tests.helpers.tokens import forge

# A table of its own (deleted with its workspace), read by the router and Studio: both backends.
pytestmark = pytest.mark.store_backends


def test_business_hours_are_fetched_updated_and_checked_field_by_field(stack: Stack) -> None:
    space = new_space(stack)
    path = f"/v1/Workspaces/{space.sid}/BusinessHours"
    with stack.http() as http:
        # Until set, a workspace has hours that are off: always open.
        fresh = http.get(path).json()
        assert fresh["enabled"] is False and fresh["open"] is True and fresh["next_change"] is None
        assert fresh["weekly_hours"]["monday"] == [] and fresh["url"].endswith(path)

        form = {
            "TimeZone": "America/New_York",
            "WeeklyHours": json.dumps({"monday": ["13:30-18:00", "09:00-12:30"], "friday": ["22:00-02:00"]}),
            "Holidays": json.dumps([{"date": "2026-12-24", "hours": ["09:00-13:00"], "name": "Christmas Eve"}]),
            "AwayMessage": AWAY,
        }
        body = set_hours(http, space.sid, form)
        assert body["enabled"] is True and body["time_zone"] == "America/New_York"
        assert body["weekly_hours"]["monday"] == ["09:00-12:30", "13:30-18:00"]  # in order
        assert body["weekly_hours"]["friday"] == ["22:00-02:00"] and body["weekly_hours"]["sunday"] == []
        assert body["holidays"] == [{"date": "2026-12-24", "hours": ["09:00-13:00"], "name": "Christmas Eve"}]
        assert body["away_message"] == AWAY and body["next_change"] is not None
        assert http.get(path).json() == {**body, "open": body["open"], "next_change": body["next_change"]}

        # One part at a time: the rest stays.
        body = set_hours(http, space.sid, {"AwayMessage": "Back soon"})
        assert body["away_message"] == "Back soon" and body["time_zone"] == "America/New_York"
        off = set_hours(http, space.sid, {"Enabled": "false"})
        assert off["enabled"] is False and off["open"] is True and off["weekly_hours"]["friday"] == ["22:00-02:00"]

        refusals = {
            "TimeZone": {"TimeZone": "Mars/Olympus"},
            "WeeklyHours": {"WeeklyHours": json.dumps({"monday": ["09:00-12:00", "11:30-13:00"]})},
            "Holidays": {"Holidays": json.dumps([{"date": "2026-13-01"}])},
        }
        for field, bad in {**refusals, "WeeklyHours ": {"WeeklyHours": "{not json"}}.items():
            refused = http.post(path, data=bad)
            assert refused.status_code == 400, refused.text
            assert refused.json()["message"].startswith(f"Invalid parameter {field.strip()}:"), refused.json()
        assert "overlap" in http.post(path, data=refusals["WeeklyHours"]).json()["message"]
        assert http.get(path).json()["away_message"] == "Back soon"  # nothing refused was kept
        missing = http.get("/v1/Workspaces/WS" + "0" * 32 + "/BusinessHours")
        assert missing.status_code == 404
        # A workspace goes with its hours.
        assert http.delete(f"/v1/Workspaces/{space.sid}").status_code == 204
        assert http.get(path).status_code == 404


def test_admins_write_supervisors_read_and_nobody_else_reaches_the_hours(stack: Stack) -> None:
    space = new_space(stack)
    path = f"/v1/Workspaces/{space.sid}/BusinessHours"
    settings = stack.settings

    def bearer(role: str, **grants: str) -> dict[str, str]:
        token = forge(settings, grants={"identity": f"{role}-hours", "role": role, **grants})
        return {"Authorization": f"Bearer {token}"}

    with httpx.Client(base_url=stack.url, timeout=30) as http:
        admin, supervisor = bearer("admin"), bearer("supervisor")
        assert http.post(path, data=OPEN_NOW, headers=admin).status_code == 200
        assert http.get(path, headers=supervisor).status_code == 200
        assert http.post(path, data=OPEN_NOW, headers=supervisor).status_code == 403
        for caller in (bearer("agent"), bearer("customer", channel_sid="CH" + "1" * 32)):
            assert http.get(path, headers=caller).status_code == 403
            assert http.post(path, data=OPEN_NOW, headers=caller).status_code == 403
        assert http.get(path).status_code == 401  # no credentials
        assert http.get(path, auth=(settings.account_sid, "wrong")).status_code == 401


def held_workflow(space: Space) -> Any:
    """Sales tasks go to an after-hours queue while the business is closed; support tasks wait
    in Support for the business to open (its target admits workers only then); urgent ones go
    to Support at any hour."""
    after_hours = space.workspace.task_queues.create(friendly_name="After hours", target_workers="1==1")
    routing = {
        "task_routing": {
            "filters": [
                {
                    "filter_friendly_name": "closed sales",
                    "expression": 'type == "sales" AND taskrouter.businessOpen == false',
                    "targets": [{"queue": after_hours.sid}],
                },
                {
                    "filter_friendly_name": "support when open",
                    "expression": 'type == "support"',
                    "targets": [{"queue": space.queue.sid, "expression": "taskrouter.businessOpen == true"}],
                },
            ],
            "default_filter": {"queue": space.queue.sid},
        }
    }
    flow = space.workspace.workflows.create(friendly_name="Hours", configuration=json.dumps(routing))
    return flow, after_hours


def test_a_workflow_places_and_holds_tasks_by_business_hours(stack: Stack) -> None:
    space = new_space(stack)
    flow, after_hours = held_workflow(space)
    amy = space.add_worker("amy")

    def task(kind: str) -> Any:
        return space.workspace.tasks.create(
            attributes=json.dumps({"type": kind}), workflow_sid=flow.sid, task_channel="chat"
        )

    with stack.http() as http:
        assert set_hours(http, space.sid, closed_today())["open"] is False
        sales_closed = task("sales")
        assert sales_closed.task_queue_sid == after_hours.sid
        space.workspace.tasks(sales_closed.sid).update(assignment_status="canceled", reason="seen")

        # Amy (capacity 1) is offered the urgent task created after the support one: the support
        # task, first in line, was passed over while the business is closed.
        support = task("support")
        urgent = task("urgent")
        [offer] = space.pending(amy.sid)
        assert offer.task_sid == urgent.sid
        assert space.reservations(support.sid) == {}
        space.workspace.tasks(urgent.sid).update(assignment_status="canceled", reason="done")

        # The business opens: the waiting support task goes to Amy at once.
        assert set_hours(http, space.sid, OPEN_NOW)["open"] is True
        [offer] = space.pending(amy.sid)
        assert offer.task_sid == support.sid
        assert task("sales").task_queue_sid == space.queue.sid

        # Listing workers by an expression reads the same variable.
        found = space.workspace.workers.list(target_workers_expression="taskrouter.businessOpen == true")
        assert [w.sid for w in found] == [amy.sid]


def hours_flow(workflow_sid: str, channel_sid: str) -> dict[str, Any]:
    """Open: a greeting and a task; closed: the away message with the next opening."""
    return {
        "description": "business hours",
        "initial_state": "Trigger",
        "flags": {"allow_concurrent_calls": True},
        "states": [
            {
                "name": "Trigger",
                "type": "trigger",
                "transitions": [
                    {"event": "incomingMessage", "next": "hours"},
                    {"event": "incomingRequest", "next": "hours"},
                ],
                "properties": {},
            },
            {
                "name": "hours",
                "type": "split-based-on",
                "transitions": [
                    {"event": "noMatch", "next": "away"},
                    {
                        "event": "match",
                        "next": "greet",
                        "conditions": [
                            {"type": "equal_to", "arguments": ["{{flow.business_hours.open}}"], "value": "true"}
                        ],
                    },
                ],
                "properties": {"input": "{{flow.business_hours.open}}"},
            },
            {
                "name": "away",
                "type": "send-message",
                "transitions": [{"event": "sent"}, {"event": "failed"}],
                "properties": {"body": "{{flow.business_hours.away_message}} Back {{flow.business_hours.next_open}}."},
            },
            {
                "name": "greet",
                "type": "send-message",
                "transitions": [{"event": "sent", "next": "agent"}, {"event": "failed"}],
                "properties": {"body": "We are open."},
            },
            {
                "name": "agent",
                "type": "send-to-flex",
                "transitions": [{"event": "callComplete"}, {"event": "failedToEnqueue"}],
                "properties": {"workflow": workflow_sid, "channel": channel_sid, "attributes": '{"type": "urgent"}'},
            },
        ],
    }


def test_a_studio_flow_splits_on_whether_the_business_is_open(stack: Stack) -> None:
    space = new_space(stack)
    chat = next(c.sid for c in space.workspace.task_channels.list() if c.unique_name == "chat")
    flow_sid = create_flow(stack, hours_flow(space.workflow.sid, chat))
    with stack.http() as http:
        closed = set_hours(http, space.sid, closed_today())
        service, number = sms_flex_flow(stack, http, flow_sid)
        stack.twilio().studio.v2.flows(flow_sid).executions.create(to=new_phone(), from_=number)
        [(_, said)] = conversation(http, service, 1)
        assert said == f"{AWAY} Back {closed['next_change']}."

        set_hours(http, space.sid, OPEN_NOW)
        service, number = sms_flex_flow(stack, http, flow_sid)
        stack.twilio().studio.v2.flows(flow_sid).executions.create(to=new_phone(), from_=number)
        [(_, said)] = conversation(http, service, 1)
        assert said == "We are open."
        eventually(lambda: [t for t in space.workspace.tasks.list() if json.loads(t.attributes)["type"] == "urgent"])


@pytest.mark.parametrize("flow_kind", ["default", "missing"])
def test_the_widget_reads_the_hours_of_its_flex_flows_workspace(stack: Stack, flow_kind: str) -> None:
    defaults = plan_flex_defaults(stack.settings).defaults
    path = "/v1/Webchat/BusinessHours"
    with httpx.Client(base_url=stack.url, timeout=30) as public:
        if flow_kind == "missing":
            answer = public.get(path, params={"flex_flow_sid": "FO" + "0" * 32})
            assert answer.status_code in (400, 404), answer.text
            return
        with stack.http() as http:
            closed = set_hours(http, defaults.workspace_sid, closed_today())
            try:
                answer = public.get(path, params={"flex_flow_sid": defaults.web_flex_flow_sid})
                assert answer.status_code == 200, answer.text
                assert answer.json() == {
                    "open": False,
                    "next_open": closed["next_change"],
                    "away_message": AWAY,
                    "time_zone": "UTC",
                }
            finally:
                set_hours(http, defaults.workspace_sid, {"Enabled": "false"})
        assert public.get(path, params={"flex_flow_sid": defaults.web_flex_flow_sid}).json()["open"] is True
