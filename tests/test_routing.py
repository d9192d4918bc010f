"""The workspace router end to end: a conversation's task is offered to an available worker,
accepted (the agent joins the channel), wrapped up and completed (the channel's interaction ends);
rejections, timeouts and workers going offline send the task on."""

from __future__ import annotations

import json

import pytest

from tests.helpers.flows import task_flex_flow
from tests.helpers.messages import conversation, text
from tests.helpers.routing import Routing, add_worker, available_activity, pending_reservation
from tests.helpers.stack import Stack, StackFactory, eventually, new_phone

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends


@pytest.fixture(scope="module")
def quick(make_stack: StackFactory) -> Stack:
    return make_stack(channel_inactivity_seconds=2.0)


def test_offer_accept_wrap_up_complete(quick: Stack) -> None:
    routing = Routing(quick)
    alice = add_worker(routing, "alice", {"contact_uri": "client:alice", "routing": {"skills": ["sales"]}})
    customer = new_phone()
    with quick.http() as http:
        service, number = task_flex_flow(quick, http, routing)
        text(quick, http, number, customer, "I need help")
        conversation(http, service, 1)
        channel_sid = http.get(f"/v2/Services/{service}/Channels").json()["channels"][0]["sid"]
        reservation = eventually(lambda: pending_reservation(routing, alice.sid))
        task = routing.task_for(channel_sid)
        assert reservation.task_sid == task.sid and task.assignment_status == "reserved"
        accepted = reservation.update(reservation_status="accepted")
        assert accepted.reservation_status == "accepted"
        assert routing.task_for(channel_sid).assignment_status == "assigned"

        def joined() -> list[str]:
            members = http.get(f"/v2/Services/{service}/Channels/{channel_sid}/Members").json()["members"]
            identities = sorted(m["identity"] for m in members)
            assert "alice" in identities, identities
            return identities

        assert eventually(joined) == sorted([customer, "alice"])
        assert accepted.update(reservation_status="wrapping").reservation_status == "wrapping"
        assert routing.task_for(channel_sid).assignment_status == "wrapping"
        assert accepted.update(reservation_status="completed").reservation_status == "completed"
        assert routing.task_for(channel_sid).assignment_status == "completed"

        # The interaction is over: the quiet channel closes, and the next message opens a new one.
        def closed() -> None:
            channel = http.get(f"/v2/Services/{service}/Channels/{channel_sid}").json()
            assert json.loads(channel["attributes"])["status"] == "INACTIVE"

        eventually(closed)
    events = quick.twilio().taskrouter.v1.workspaces(routing.workspace.sid).events.list(task_sid=task.sid)
    assert [e.event_type for e in reversed(events)] == [
        "task.created",
        "task-queue.entered",
        "reservation.created",
        "reservation.accepted",
        "task.wrapup",
        "task.completed",
    ]


def test_reject_and_timeout_send_the_task_on(quick: Stack) -> None:
    routing = Routing(quick)
    workspace = quick.twilio().taskrouter.v1.workspaces(routing.workspace.sid)
    workspace.workflows(routing.workflow.sid).update(task_reservation_timeout=2)
    first = add_worker(routing, "first", {})
    second = add_worker(routing, "second", {}, available=False)
    with quick.http() as http:
        _service, number = task_flex_flow(quick, http, routing)
        text(quick, http, number, new_phone(), "hello")
        offer = eventually(lambda: pending_reservation(routing, first.sid))
        offer.update(reservation_status="rejected")
        # Nobody else is available: the task waits until someone is.
        workspace.workers(second.sid).update(activity_sid=available_activity(routing))
        second_offer = eventually(lambda: pending_reservation(routing, second.sid))
        assert second_offer.task_sid == offer.task_sid

        # The second worker does not answer: the offer times out and the worker goes offline.
        def timed_out() -> None:
            assert workspace.workers(second.sid).fetch().activity_name == "Offline"

        eventually(timed_out, timeout=20)
        statuses = {r.worker_sid: r.reservation_status for r in workspace.tasks(offer.task_sid).reservations.list()}
        assert statuses == {first.sid: "rejected", second.sid: "timeout"}
        assert workspace.tasks(offer.task_sid).fetch().assignment_status == "pending"


def test_a_task_turned_down_by_everyone_is_offered_again(quick: Stack) -> None:
    """The only worker rejects: the task is not stranded; after a reservation timeout it is
    offered to that worker again."""
    routing = Routing(quick)
    workspace = quick.twilio().taskrouter.v1.workspaces(routing.workspace.sid)
    workspace.workflows(routing.workflow.sid).update(task_reservation_timeout=1)
    only = add_worker(routing, "only", {})
    with quick.http() as http:
        _service, number = task_flex_flow(quick, http, routing)
        text(quick, http, number, new_phone(), "hello")
        first = eventually(lambda: pending_reservation(routing, only.sid))
        first.update(reservation_status="rejected")
        again = eventually(lambda: pending_reservation(routing, only.sid), timeout=20)
    assert again.task_sid == first.task_sid and again.sid != first.sid
