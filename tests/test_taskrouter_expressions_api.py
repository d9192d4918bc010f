"""TaskRouter expressions as TaskRouter evaluates them, through the official client: a target
expression on the worker's channels (``worker.channel.voice.assigned_tasks``), the time of day
variables (``taskrouter.dayOfWeek``, ``taskrouter.currentTime``), a missing attribute compared with
``null``, and what the router cannot evaluate refused when the queue or workflow is saved."""

from __future__ import annotations

import json
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.helpers.routing import Space, new_space
from tests.helpers.stack import Stack

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends

EVERY_DAY = "['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']"


def routing_workflow(space: Space, filters: list[dict[str, Any]]) -> Any:
    """A workflow of these filters, each targeting the space's queue unless it names one, whose
    default filter is a queue of its own ("Fallback")."""
    fallback = space.workspace.task_queues.create(friendly_name="Fallback", target_workers="1==1")
    routing = {
        "task_routing": {
            "filters": [{"targets": [{"queue": space.queue.sid}], **f} for f in filters],
            "default_filter": {"queue": fallback.sid},
        }
    }
    return space.workspace.workflows.create(friendly_name="Expressions", configuration=json.dumps(routing))


def test_a_target_on_the_workers_channels_skips_an_agent_busy_on_voice(stack: Stack) -> None:
    space = new_space(stack)
    target = {"queue": space.queue.sid, "expression": "worker.channel.voice.assigned_tasks == 0"}
    flow = routing_workflow(
        space, [{"filter_friendly_name": "free of calls", "expression": "1==1", "targets": [target]}]
    )
    amy = space.add_worker("amy")
    bob = space.add_worker("bob", available=False)

    call = space.workspace.tasks.create(
        attributes=json.dumps({"type": "support"}), workflow_sid=flow.sid, task_channel="voice"
    )
    [offer] = space.pending(amy.sid)
    assert offer.task_sid == call.sid
    space.workspace.workers(bob.sid).update(activity_sid=space.activities["Available"])

    # Amy has chat capacity free, but a call on her hands: the chat goes to Bob.
    chat = space.workspace.tasks.create(
        attributes=json.dumps({"type": "support"}), workflow_sid=flow.sid, task_channel="chat"
    )
    [offer] = space.pending(bob.sid)
    assert offer.task_sid == chat.sid
    assert space.reservations(chat.sid) == {bob.sid: "pending"}


def test_time_of_day_and_null_filters_place_tasks(stack: Stack) -> None:
    space = new_space(stack)
    flow = routing_workflow(
        space,
        [
            {"filter_friendly_name": "never", "expression": "taskrouter.currentHour > 23"},
            {
                "filter_friendly_name": "open",
                "expression": f"taskrouter.dayOfWeek IN {EVERY_DAY} AND taskrouter.currentTime >= 0000 AND channel == 'open'",
            },
            {"filter_friendly_name": "unescalated", "expression": "task.escalation == null AND channel == 'null'"},
        ],
    )

    def queue_of(**attributes: Any) -> str:
        task = space.workspace.tasks.create(
            attributes=json.dumps(attributes), workflow_sid=flow.sid, task_channel="chat"
        )
        return str(task.task_queue_sid)

    assert queue_of(channel="open") == space.queue.sid
    assert queue_of(channel="null") == space.queue.sid
    assert queue_of(channel="null", escalation="manager") != space.queue.sid  # the default filter's queue


def test_what_the_router_cannot_evaluate_is_refused_when_saved(stack: Stack) -> None:
    space = new_space(stack)
    with pytest.raises(TwilioRestException) as refused:
        space.workspace.task_queues.create(friendly_name="Late", target_workers="taskrouter.currentSecond > 5")
    assert refused.value.status == 400 and refused.value.code == 20001
    assert refused.value.msg.endswith(
        "Invalid parameter TargetWorkers: expression 'taskrouter.currentSecond > 5' is not supported: "
        "taskrouter.currentSecond is not a TaskRouter variable (known: taskrouter.currentTime, "
        "taskrouter.currentHour, taskrouter.currentMin, taskrouter.currentMinute, taskrouter.dayOfWeek, "
        "taskrouter.businessOpen)"
    ), refused.value.msg

    bad = "worker.channel.chat.capacity > 0"
    routing = {
        "task_routing": {
            "filters": [{"expression": "1==1", "targets": [{"queue": space.queue.sid, "expression": bad}]}],
            "default_filter": {"queue": space.queue.sid},
        }
    }
    with pytest.raises(TwilioRestException) as refused:
        space.workspace.workflows.create(friendly_name="Bad", configuration=json.dumps(routing))
    assert refused.value.status == 400 and refused.value.code == 20001
    assert "Invalid parameter Configuration: task_routing.filters[0].targets[0].expression: " in refused.value.msg
    assert f"expression '{bad}' is not supported: worker.channel.chat.capacity is not" in refused.value.msg
    with pytest.raises(TwilioRestException):
        space.workspace.workflows(space.workflow.sid).update(configuration=json.dumps(routing))
    assert [w.sid for w in space.workspace.workflows.list()] == [space.workflow.sid]
