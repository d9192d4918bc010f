"""Workflow configurations as Twilio accepts them, saved and routed through the official client:
the fixtures in tests/compat/workflows follow the styles of Twilio's documentation and of Flex
deployments (targets without a queue, ``{}``, known-agent routing by SID and by friendly name,
``order_by``, ``skip_if``, ``priority``). A field of no workflow configuration is refused, by
name, when the workflow is saved."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.helpers.stack import Stack, eventually

pytestmark = pytest.mark.store_backends

FIXTURES = Path(__file__).parent / "compat" / "workflows"


class Contact:
    """A workspace with three queues (Support, Sales, Everyone) and the workflow of a fixture,
    whose "$Name" strings stand for the SIDs of those queues."""

    def __init__(self, stack: Stack, fixture: str) -> None:
        taskrouter = stack.twilio().taskrouter.v1
        workspace = taskrouter.workspaces.create(friendly_name=f"workflow {fixture}")
        self.workspace = taskrouter.workspaces(workspace.sid)
        self.activities = {a.friendly_name: a.sid for a in self.workspace.activities.list()}
        self.queues = {
            name: self.workspace.task_queues.create(friendly_name=name, target_workers=workers).sid
            for name, workers in (
                ("Support", 'routing.skills HAS "support"'),
                ("Sales", 'routing.skills HAS "sales"'),
                ("Everyone", "1==1"),
            )
        }
        text = (FIXTURES / f"{fixture}.json").read_text()
        for name, sid in self.queues.items():
            text = text.replace(f'"${name}"', json.dumps(sid))
        self.workflow = self.workspace.workflows.create(friendly_name=fixture, configuration=text)

    def add_worker(self, name: str, *skills: str, available: bool = True, level: int | None = None) -> Any:
        routing: dict[str, Any] = {"skills": list(skills)}
        if level is not None:
            routing["level"] = level
        return self.workspace.workers.create(
            friendly_name=name,
            attributes=json.dumps({"routing": routing, "contact_uri": f"client:{name}"}),
            activity_sid=self.activities["Available" if available else "Offline"],
        )

    def create_task(self, **attributes: Any) -> Any:
        return self.workspace.tasks.create(
            attributes=json.dumps(attributes), workflow_sid=self.workflow.sid, task_channel="chat"
        )

    def offered_to(self, task_sid: str) -> str:
        """The worker of the task's one pending reservation, once there is one."""

        def check() -> str:
            [reservation] = self.workspace.tasks(task_sid).reservations.list(reservation_status="pending")
            return str(reservation.worker_sid)

        return eventually(check, timeout=15)


def test_a_target_without_a_queue_keeps_the_queue_and_drops_the_expression_after_its_timeout(stack: Stack) -> None:
    """Twilio's documented escalation: the preferred agent first, then after the timeout anyone
    of the same queue (a target of a timeout alone)."""
    contact = Contact(stack, "escalation")
    contact.add_worker("amy", "support")
    bea = contact.add_worker("bea", "support", available=False)
    task = contact.create_task(type="support", preferred_agents=["client:bea"])
    assert task.task_queue_sid == contact.queues["Support"]
    time.sleep(1)  # within the first target's timeout, amy (not preferred) is offered nothing
    assert contact.workspace.tasks(task.sid).reservations.list() == []
    offered = contact.offered_to(task.sid)
    assert offered != bea.sid
    assert contact.workspace.tasks(task.sid).fetch().task_queue_sid == contact.queues["Support"]


def test_an_unavailable_last_agent_holds_the_task_until_the_target_timeout(stack: Stack) -> None:
    contact = Contact(stack, "known_agent")
    away = contact.add_worker("away", level=9, available=False)
    amy = contact.add_worker("amy", level=1)
    task = contact.create_task(last_agent_sid=away.sid)
    time.sleep(1)
    assert contact.workspace.tasks(task.sid).reservations.list() == []
    assert contact.offered_to(task.sid) == amy.sid


def test_a_transfer_names_its_worker_by_friendly_name_or_skips_to_anyone(stack: Stack) -> None:
    contact = Contact(stack, "known_agent")
    amy = contact.add_worker("amy")
    bea = contact.add_worker("bea")
    contact.add_worker("cy", available=False)
    named = contact.create_task(transferTargetType="worker", transferTarget={"name": "bea"})
    assert named.task_queue_sid == contact.queues["Everyone"]
    assert contact.offered_to(named.sid) == bea.sid
    # The named worker is away: skip_if moves the task at once to the next target, ``{}``.
    away = contact.create_task(transferTargetType="worker", transferTarget={"name": "cy"})
    assert contact.offered_to(away.sid) in (amy.sid, bea.sid)


def test_a_filters_time_zone_decides_its_day_of_the_week(stack: Stack) -> None:
    """TaskRouter's clock is UTC; a filter's ``time_zone`` reads it in another zone. Kiritimati
    (UTC+14) is always one or two days ahead of Pago Pago (UTC-11), so the filter in Pago Pago never
    sees Kiritimati's day (or the next, allowing for midnight passing during the test)."""
    contact = Contact(stack, "flex_default")
    kiritimati = datetime.now(ZoneInfo("Pacific/Kiritimati"))
    days = [(kiritimati + timedelta(days=n)).strftime("%a") for n in (0, 1)]
    expression = f"taskrouter.dayOfWeek IN {json.dumps(days)}"
    routing = {
        "filters": [
            {
                "expression": expression,
                "time_zone": "Pacific/Pago_Pago",
                "targets": [{"queue": contact.queues["Sales"]}],
            },
            {
                "expression": expression,
                "time_zone": "Pacific/Kiritimati",
                "targets": [{"queue": contact.queues["Support"]}],
            },
        ],
        "default_filter": {"queue": contact.queues["Everyone"]},
    }
    contact.workspace.workflows(contact.workflow.sid).update(configuration=json.dumps({"task_routing": routing}))
    task = contact.create_task(type="support")
    assert task.task_queue_sid == contact.queues["Support"]
    amy = contact.add_worker("amy", "support")
    assert contact.offered_to(task.sid) == amy.sid


@pytest.mark.parametrize(
    ("routing", "problem"),
    [
        (
            {"task_routing": {"default_filter": {"queue": "$Everyone"}}, "version": 2},
            "version is not a workflow configuration field",
        ),
        ({"task_routing": {"default_queue": "$Everyone"}}, "task_routing.default_queue is not a workflow"),
        (
            {"task_routing": {"filters": [{"friendly_name": "x", "targets": [{"queue": "$Everyone"}]}]}},
            "task_routing.filters[0].friendly_name is not a workflow configuration field",
        ),
        (
            {"task_routing": {"filters": [{"targets": [{"queue": "$Everyone", "max_reserved_workers": 2}]}]}},
            "task_routing.filters[0].targets[0].max_reserved_workers is not a workflow configuration field",
        ),
        (
            {"task_routing": {"default_filter": {"queue": "$Everyone", "priority": 3}}},
            "task_routing.default_filter.priority is not a workflow configuration field",
        ),
        (
            {"task_routing": {"filters": [{"targets": [{}]}]}},
            "task_routing.filters[0].targets[0] has no queue",
        ),
        (
            {"task_routing": {"filters": [{"targets": [{"queue": "$Everyone", "order_by": "level DESC"}]}]}},
            "task_routing.filters[0].targets[0].order_by: 'level DESC' is not",
        ),
        (
            {"task_routing": {"filters": [{"targets": [{"queue": "$Everyone", "known_worker_sid": "WK12"}]}]}},
            "task_routing.filters[0].targets[0].known_worker_sid must name a task attribute",
        ),
        (
            {
                "task_routing": {
                    "filters": [
                        {
                            "targets": [
                                {
                                    "queue": "$Everyone",
                                    "known_worker_sid": "task.sid",
                                    "known_worker_friendly_name": "task.name",
                                }
                            ]
                        }
                    ]
                }
            },
            "task_routing.filters[0].targets[0]: give known_worker_sid or known_worker_friendly_name, not both",
        ),
        (
            {"task_routing": {"filters": [{"time_zone": "Mars/Olympus", "targets": [{"queue": "$Everyone"}]}]}},
            "task_routing.filters[0].time_zone: 'Mars/Olympus' is not an IANA time zone name",
        ),
    ],
)
def test_fields_of_no_workflow_configuration_are_refused_by_name(
    stack: Stack, routing: dict[str, Any], problem: str
) -> None:
    contact = Contact(stack, "flex_default")
    text = json.dumps(routing).replace('"$Everyone"', json.dumps(contact.queues["Everyone"]))
    create = partial(contact.workspace.workflows.create, friendly_name="refused", configuration=text)
    update = partial(contact.workspace.workflows(contact.workflow.sid).update, configuration=text)
    for save in (create, update):
        with pytest.raises(TwilioRestException) as refused:
            save()
        assert refused.value.status == 400 and refused.value.code == 20001
        assert f": Invalid parameter Configuration: {problem}" in refused.value.msg, refused.value.msg
    assert [w.sid for w in contact.workspace.workflows.list()] == [contact.workflow.sid]
