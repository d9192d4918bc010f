"""Task routing through TaskRouter's REST API and the official client: a configured workspace whose
events reach its event callback URL in order and in TaskRouter's form; tasks created, updated,
canceled and deleted; worker channel capacity; workers going offline (pending offers rescinded,
or rejected when asked); reservations answered once; unknown SIDs; the Events list filters. The
last tests guard against bugs found while writing them: configuration changes a running router
did not see, EventsFilter ignored, routing parked while event callbacks failed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException

from tests.helpers.recording import RecordingServer, Reply
from tests.helpers.routing import Space, new_space
from tests.helpers.stack import Stack, eventually
from workflows.routing.router import RUN_CHANGE_BUDGET

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends

UNKNOWN = "0" * 32


def refusal(call: Callable[[], Any]) -> tuple[int, str]:
    """The status and message of a refused call (instances raise TwilioRestException; list pages
    raise TwilioException carrying the response)."""
    try:
        call()
    except TwilioRestException as exc:
        return exc.status, str(exc.msg)
    except TwilioException as exc:
        response = exc.args[1]
        return int(response.status_code), str(json.loads(response.text)["message"])
    raise AssertionError("the call was not refused")


# --- the event callback ------------------------------------------------------------------------


def test_events_reach_the_event_callback_in_order(stack: Stack, outside: RecordingServer) -> None:
    path = f"/taskrouter-events/{uuid.uuid4().hex}"
    space = new_space(stack, event_callback_url=outside.url + path)
    workspace = space.workspace
    lunch = workspace.activities.create(friendly_name="Lunch", available=False)
    web = workspace.task_channels.create(friendly_name="Web chat", unique_name="web")
    amy = space.add_worker("amy")
    assert {
        c.task_channel_unique_name: c.configured_capacity for c in workspace.workers(amy.sid).worker_channels.list()
    }["web"] == 1

    task = space.create_task(channel="web", priority=3, customer="Jo")
    assert task.task_channel_unique_name == "web" and task.task_channel_sid == web.sid
    [reservation] = space.pending(amy.sid)
    assert reservation.task_sid == task.sid

    def posted(count: int) -> list[dict[str, str]]:
        forms = [r.form for r in outside.received(path)]
        assert len(forms) >= count, [f["EventType"] for f in forms]
        return forms

    forms = eventually(lambda: posted(3))
    assert [f["EventType"] for f in forms[:3]] == ["task.created", "task-queue.entered", "reservation.created"]
    created = forms[2]
    assert {key: created.get(key) for key in ("TaskSid", "WorkerSid", "ReservationSid", "WorkspaceSid")} == {
        "TaskSid": task.sid,
        "WorkerSid": amy.sid,
        "ReservationSid": reservation.sid,
        "WorkspaceSid": space.sid,
    }
    assert created["ResourceType"] == "reservation" and created["ResourceSid"] == reservation.sid
    assert created["WorkspaceName"] == workspace.fetch().friendly_name
    assert created["TaskQueueSid"] == space.queue.sid and created["WorkflowSid"] == space.workflow.sid
    assert created["TaskChannelUniqueName"] == "web" and created["TaskPriority"] == "3"
    assert created["TaskAssignmentStatus"] == "reserved"
    assert created["Timestamp"].isdigit() and created["TimestampMs"].startswith(created["Timestamp"])
    assert created["EventDescription"] and created["Sid"].startswith("EV")
    assert "Jo" not in json.dumps(forms)  # Switchboard's events carry no customer data
    [request] = [r for r in outside.received(path) if r.form["EventType"] == "reservation.created"]
    assert request.method == "POST"
    assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")

    reservation.update(reservation_status="accepted")
    workspace.tasks(task.sid).update(assignment_status="completed", reason="resolved")
    workspace.workers(amy.sid).update(activity_sid=lunch.sid)
    forms = eventually(lambda: posted(6))
    assert [f["EventType"] for f in forms] == [
        "task.created",
        "task-queue.entered",
        "reservation.created",
        "reservation.accepted",
        "task.completed",
        "worker.activity.update",
    ]
    assert forms[4]["TaskAssignmentStatus"] == "completed" and forms[4]["WorkerSid"] == amy.sid
    assert forms[5]["ResourceType"] == "worker" and forms[5]["ResourceSid"] == amy.sid
    assert forms[5]["WorkerActivitySid"] == lunch.sid and forms[5]["WorkerAvailable"] == "False"
    # Posted in the order the workspace's Events list has them, each once.
    events = list(reversed(workspace.events.list()))
    assert [f["Sid"] for f in forms] == [e.sid for e in events]
    timestamps = [int(f["TimestampMs"]) for f in forms]
    assert timestamps == sorted(timestamps)


# --- tasks ---------------------------------------------------------------------------------------


def test_task_attributes_and_priority_update(stack: Stack) -> None:
    space = new_space(stack)
    workspace = space.workspace
    amy = space.add_worker("amy", available=False)
    older = space.create_task(customer="first")
    newer = space.create_task(customer="second")
    assert older.assignment_status == newer.assignment_status == "pending"
    assert older.task_queue_sid == space.queue.sid

    updated = workspace.tasks(newer.sid).update(attributes=json.dumps({"type": "support", "vip": True}), priority=7)
    assert json.loads(updated.attributes) == {"type": "support", "vip": True} and updated.priority == 7
    fetched = workspace.tasks(newer.sid).fetch()
    assert json.loads(fetched.attributes)["vip"] is True and fetched.priority == 7
    assert workspace.tasks(older.sid).fetch().priority == 0
    assert [t for t, _ in space.event_types(newer.sid)] == ["task.created", "task-queue.entered", "task.updated"]
    status, message = refusal(lambda: workspace.tasks(newer.sid).update(attributes="[not json"))
    assert status == 400 and "Attributes" in message

    # The worker comes online: the higher priority goes first, although it came later.
    workspace.workers(amy.sid).update(activity_sid=space.activities["Available"])
    [reservation] = space.pending(amy.sid)
    assert reservation.task_sid == newer.sid
    assert workspace.tasks(older.sid).fetch().assignment_status == "pending"


def test_cancel_a_reserved_task_frees_the_worker(stack: Stack) -> None:
    space = new_space(stack)
    workspace = space.workspace
    amy = space.add_worker("amy")
    first = space.create_task()
    [offer] = space.pending(amy.sid)
    assert offer.task_sid == first.sid
    second = space.create_task()
    assert workspace.tasks(second.sid).fetch().assignment_status == "pending"

    canceled = workspace.tasks(first.sid).update(assignment_status="canceled", reason="customer left")
    assert canceled.assignment_status == "canceled" and canceled.reason == "customer left"
    assert space.reservations(first.sid) == {amy.sid: "canceled"}
    # Amy's capacity is free again: the waiting task is offered to her.
    [next_offer] = space.pending(amy.sid)
    assert next_offer.task_sid == second.sid
    assert [t for t, _ in space.event_types(first.sid)][-1] == "task.canceled"
    status, _ = refusal(lambda: workspace.tasks(first.sid).update(assignment_status="completed"))
    assert status == 409

    # Deleting a live task cancels it first: amy's offer goes, and the task with it.
    workspace.tasks(second.sid).delete()
    assert refusal(lambda: workspace.tasks(second.sid).fetch())[0] == 404
    assert workspace.workers(amy.sid).reservations.list(reservation_status="pending") == []
    assert workspace.events.list(task_sid=second.sid)[0].event_type == "task.canceled"


def test_unknown_workflow_or_channel_creates_no_task(stack: Stack) -> None:
    space = new_space(stack)
    workspace = space.workspace
    status, _ = refusal(lambda: workspace.tasks.create(attributes="{}", workflow_sid="WW" + UNKNOWN))
    assert status in (400, 404)
    status, _ = refusal(
        lambda: workspace.tasks.create(attributes="{}", workflow_sid=space.workflow.sid, task_channel="pigeon")
    )
    assert status in (400, 404)
    status, message = refusal(lambda: workspace.tasks.create(attributes='["a list"]', workflow_sid=space.workflow.sid))
    assert status == 400 and "Attributes" in message
    assert workspace.tasks.list() == []


# --- capacity, availability, answers -------------------------------------------------------------


def test_capacity_two_holds_two_tasks_not_three(stack: Stack) -> None:
    space = new_space(stack)
    workspace = space.workspace
    amy = space.add_worker("amy")
    chat = workspace.workers(amy.sid).worker_channels("chat").update(capacity=2)
    assert chat.configured_capacity == 2 and chat.task_channel_unique_name == "chat"
    tasks = [space.create_task() for _ in range(3)]
    offers = space.pending(amy.sid, count=2)
    assert sorted(r.task_sid for r in offers) == sorted(t.sid for t in tasks[:2])
    # A task on another channel is offered too (capacities are per channel); the router offered it
    # after seeing the third chat task, which still waits.
    sms = space.create_task(channel="sms")
    offers = space.pending(amy.sid, count=3)
    assert sms.sid in {r.task_sid for r in offers}
    assert workspace.tasks(tasks[2].sid).fetch().assignment_status == "pending"
    assert space.reservations(tasks[2].sid) == {}
    channels = {c.task_channel_unique_name: c for c in workspace.workers(amy.sid).worker_channels.list()}
    assert (channels["chat"].assigned_tasks, channels["chat"].available_capacity_percentage) == (2, 0)
    assert (channels["sms"].assigned_tasks, channels["sms"].configured_capacity) == (1, 1)

    # Amy holds two chat tasks at once.
    for offer in offers:
        if offer.task_sid != sms.sid:
            assert offer.update(reservation_status="accepted").reservation_status == "accepted"
    assert [workspace.tasks(t.sid).fetch().assignment_status for t in tasks] == ["assigned", "assigned", "pending"]
    # One ends: the third is offered.
    workspace.tasks(tasks[0].sid).update(assignment_status="completed", reason="done")

    def offered() -> None:
        assert space.reservations(tasks[2].sid) == {amy.sid: "pending"}

    eventually(offered)


def test_going_offline_rescinds_and_the_task_moves_on(stack: Stack) -> None:
    space = new_space(stack)
    workspace = space.workspace
    amy = space.add_worker("amy")
    task = space.create_task()
    [offer] = space.pending(amy.sid)
    bob = space.add_worker("bob")
    assert space.reservations(task.sid) == {amy.sid: "pending"}

    offline = workspace.workers(amy.sid).update(activity_sid=space.activities["Offline"])
    assert offline.activity_name == "Offline" and offline.available is False
    assert workspace.tasks(task.sid).reservations(offer.sid).fetch().reservation_status == "rescinded"
    [bob_offer] = space.pending(bob.sid)
    assert bob_offer.task_sid == task.sid
    assert space.event_types(task.sid)[2:] == [
        ("reservation.created", amy.sid),
        ("reservation.rescinded", amy.sid),
        ("reservation.created", bob.sid),
    ]
    status, _ = refusal(lambda: offer.update(reservation_status="accepted"))
    assert status == 409

    # Going offline with RejectPendingReservations rejects instead; a rescinded worker may be
    # offered the task again once back.
    workspace.workers(bob.sid).update(activity_sid=space.activities["Offline"], reject_pending_reservations=True)
    assert workspace.workers(bob.sid).reservations(bob_offer.sid).fetch().reservation_status == "rejected"
    workspace.workers(amy.sid).update(activity_sid=space.activities["Available"])
    [again] = space.pending(amy.sid)
    assert again.task_sid == task.sid and again.sid != offer.sid


def test_a_reservation_is_answered_once(stack: Stack) -> None:
    space = new_space(stack)
    workspace = space.workspace
    amy = space.add_worker("amy")
    amy_channel = workspace.workers(amy.sid).worker_channels("chat")
    assert amy_channel.update(capacity=2).configured_capacity == 2
    first, second = space.create_task(), space.create_task()
    offers = {r.task_sid: r for r in space.pending(amy.sid, count=2)}

    accepted = workspace.tasks(first.sid).reservations(offers[first.sid].sid).update(reservation_status="accepted")
    assert accepted.reservation_status == "accepted" and accepted.worker_sid == amy.sid
    again = workspace.workers(amy.sid).reservations(accepted.sid)
    for status in ("accepted", "rejected"):
        code, message = refusal(partial(again.update, reservation_status=status))
        assert code == 409, message
    assert workspace.tasks(first.sid).fetch().assignment_status == "assigned"

    # Rejecting with an activity moves the worker there; the rejected offer can't be taken back.
    rejected = offers[second.sid].update(reservation_status="rejected", worker_activity_sid=space.activities["Break"])
    assert rejected.reservation_status == "rejected"
    assert workspace.workers(amy.sid).fetch().activity_name == "Break"
    assert refusal(lambda: rejected.update(reservation_status="accepted"))[0] == 409
    assert workspace.tasks(second.sid).fetch().assignment_status == "pending"
    # Wrap-up, then completion, once each.
    assert accepted.update(reservation_status="wrapping").reservation_status == "wrapping"
    assert workspace.tasks(first.sid).fetch().assignment_status == "wrapping"
    assert accepted.update(reservation_status="completed").reservation_status == "completed"
    assert refusal(lambda: accepted.update(reservation_status="completed"))[0] == 409
    assert workspace.tasks(first.sid).fetch().assignment_status == "completed"


def test_unknown_sids_are_not_found(stack: Stack) -> None:
    space = new_space(stack)
    workspace = space.workspace
    amy = space.add_worker("amy")
    task = space.create_task()
    [offer] = space.pending(amy.sid)
    other = space.create_task()
    taskrouter = stack.twilio().taskrouter.v1
    calls: list[Callable[[], Any]] = [
        lambda: taskrouter.workspaces("WS" + UNKNOWN).fetch(),
        lambda: taskrouter.workspaces("WS" + UNKNOWN).tasks.create(attributes="{}"),
        lambda: taskrouter.workspaces("WS" + UNKNOWN).events.list(),
        lambda: workspace.tasks("WT" + UNKNOWN).fetch(),
        lambda: workspace.tasks("WT" + UNKNOWN).update(assignment_status="canceled"),
        lambda: workspace.tasks("WT" + UNKNOWN).delete(),
        lambda: workspace.tasks("WT" + UNKNOWN).reservations.list(),
        lambda: workspace.workers("WK" + UNKNOWN).fetch(),
        lambda: workspace.workers("WK" + UNKNOWN).update(activity_sid=space.activities["Offline"]),
        lambda: workspace.workers("WK" + UNKNOWN).reservations.list(),
        lambda: workspace.workers("WK" + UNKNOWN).worker_channels.list(),
        lambda: workspace.workers(amy.sid).worker_channels("pigeon").fetch(),
        lambda: workspace.tasks(task.sid).reservations("WR" + UNKNOWN).fetch(),
        lambda: workspace.tasks(task.sid).reservations("WR" + UNKNOWN).update(reservation_status="accepted"),
        lambda: workspace.workers(amy.sid).reservations("WR" + UNKNOWN).update(reservation_status="accepted"),
        # A real reservation, under another task or another worker.
        lambda: workspace.tasks(other.sid).reservations(offer.sid).fetch(),
        lambda: workspace.workers(space.add_worker("bob", available=False).sid).reservations(offer.sid).fetch(),
        lambda: workspace.events("EV" + UNKNOWN).fetch(),
    ]
    for index, call in enumerate(calls):
        status, message = refusal(call)
        assert status == 404, (index, status, message)
    # A worker can't be put in another workspace's activity.
    elsewhere = new_space(stack)
    status, _ = refusal(lambda: workspace.workers(amy.sid).update(activity_sid=elsewhere.activities["Available"]))
    assert status == 400
    assert workspace.workers(amy.sid).fetch().activity_name == "Available"


# --- events --------------------------------------------------------------------------------------


def test_events_list_filters(stack: Stack) -> None:
    space = new_space(stack)
    workspace = space.workspace
    amy = space.add_worker("amy")
    first = space.create_task()
    [amy_offer] = space.pending(amy.sid)
    amy_offer.update(reservation_status="accepted")
    bob = space.add_worker("bob")
    second = space.create_task()
    [bob_offer] = space.pending(bob.sid)
    assert bob_offer.task_sid == second.sid
    bob_offer.update(reservation_status="rejected")

    created = workspace.events.list(event_type="reservation.created")
    assert [(e.event_data["task_sid"], e.event_data["worker_sid"]) for e in created] == [
        (second.sid, bob.sid),
        (first.sid, amy.sid),
    ]
    assert all(e.resource_sid == e.event_data["reservation_sid"] for e in created)
    assert [e.event_type for e in reversed(workspace.events.list(task_sid=first.sid))] == [
        "task.created",
        "task-queue.entered",
        "reservation.created",
        "reservation.accepted",
    ]
    bobs = workspace.events.list(worker_sid=bob.sid)
    assert [e.event_type for e in reversed(bobs)] == ["reservation.created", "reservation.rejected"]
    assert {e.actor_sid for e in bobs} == {bob.sid} and {e.event_data["task_sid"] for e in bobs} == {second.sid}
    rejected = workspace.events.list(event_type="reservation.rejected", worker_sid=bob.sid)
    assert [e.event_data["reservation_sid"] for e in rejected] == [bob_offer.sid]
    assert [e.event_type for e in workspace.events.list(reservation_sid=amy_offer.sid)] == [
        "reservation.accepted",
        "reservation.created",
    ]
    assert workspace.events.list(event_type="reservation.rejected", worker_sid=amy.sid) == []
    assert workspace.events.list(event_type="task.canceled") == []
    every = workspace.events.list()
    assert len(workspace.events.list(page_size=2)) == len(every)  # the client follows the pages
    fetched = workspace.events(created[0].sid).fetch()
    assert (fetched.event_type, fetched.event_data["task_sid"]) == ("reservation.created", second.sid)
    assert refusal(lambda: workspace.events.list(start_date="yesterday"))[0] == 400


# --- configuration and callbacks while the router runs ------------------------------------------


def running_router(space: Space, worker: Any) -> None:
    """Has the workspace's router offer (then drop) a task: it runs and has loaded the workspace
    as it is now, and no refresh is pending."""
    task = space.create_task()
    [offer] = space.pending(worker.sid)
    assert offer.task_sid == task.sid
    space.workspace.tasks(task.sid).update(assignment_status="canceled", reason="warm-up")


def test_a_workflow_added_while_the_router_runs_routes_tasks(stack: Stack) -> None:
    """A queue and workflow created once the router has loaded the workspace: a task of that
    workflow is routed (it was refused 404 "workflow ... is not in workspace")."""
    space = new_space(stack)
    workspace = space.workspace
    amy = space.add_worker("amy", skills=("support", "sales"))
    running_router(space, amy)
    sales = workspace.task_queues.create(friendly_name="Sales", target_workers='routing.skills HAS "sales"')
    routing = {"task_routing": {"filters": [], "default_filter": {"queue": sales.sid}}}
    flow = workspace.workflows.create(friendly_name="Sales", configuration=json.dumps(routing))
    task = workspace.tasks.create(attributes="{}", workflow_sid=flow.sid, task_channel="chat")
    assert task.task_queue_sid == sales.sid
    [offer] = space.pending(amy.sid)
    assert offer.task_sid == task.sid


def test_an_activity_added_while_the_router_runs_can_be_used(stack: Stack) -> None:
    """A worker moves to an activity created once the router has loaded the workspace (it was
    refused 400 "activity ... is not in workspace": the router knew only the activities it had
    loaded)."""
    space = new_space(stack)
    workspace = space.workspace
    amy = space.add_worker("amy")
    running_router(space, amy)
    lunch = workspace.activities.create(friendly_name="Lunch", available=False)
    worker = workspace.workers(amy.sid).update(activity_sid=lunch.sid)
    assert (worker.activity_name, worker.available) == ("Lunch", False)


def test_an_event_callback_url_set_while_the_router_runs_gets_events(stack: Stack, outside: RecordingServer) -> None:
    """A callback URL set on a workspace whose router runs receives its events (it received none:
    the router kept the workspace settings it had loaded)."""
    space = new_space(stack)
    workspace = space.workspace
    amy = space.add_worker("amy")
    running_router(space, amy)
    path = f"/late-events/{uuid.uuid4().hex}"
    assert workspace.update(event_callback_url=outside.url + path).event_callback_url == outside.url + path
    task = space.create_task()

    def posted() -> None:
        types = [r.form["EventType"] for r in outside.received(path)]
        assert "reservation.created" in types, types

    eventually(posted, timeout=15)
    assert outside.received(path)[0].form["TaskSid"] == task.sid


def test_events_filter_limits_the_event_callbacks(stack: Stack, outside: RecordingServer) -> None:
    """The workspace's EventsFilter: event_callback_url is called for those events only (every
    event was posted)."""
    path = f"/filtered-events/{uuid.uuid4().hex}"
    space = new_space(stack, event_callback_url=outside.url + path, events_filter="task.created,task.completed")
    assert space.workspace.fetch().events_filter == "task.created,task.completed"
    amy = space.add_worker("amy")
    task = space.create_task()
    [offer] = space.pending(amy.sid)
    offer.update(reservation_status="accepted")
    space.workspace.tasks(task.sid).update(assignment_status="completed", reason="done")

    def posted() -> list[str]:
        types = [r.form["EventType"] for r in outside.received(path)]
        assert "task.completed" in types, types
        return types

    assert eventually(posted) == ["task.created", "task.completed"]


def test_routing_goes_on_while_the_event_callback_fails(stack: Stack, outside: RecordingServer) -> None:
    """Routing goes on past a run's change budget while the event callback endpoint fails. (A run
    used to wait, before continuing as new, for every event to be posted: with the endpoint down
    each event is retried for minutes, and the parked run loop made no offers nor reservation
    timeouts; a backlog of events to a healthy endpoint parked it too, until posted.)"""
    path = f"/down/{uuid.uuid4().hex}"
    outside.script(path, Reply(status=503))
    space = new_space(stack, event_callback_url=outside.url + path)
    togglers = [space.add_worker(f"busy{i}", available=False) for i in range(4)]
    amy = space.add_worker("amy", available=False)

    async def toggle(worker_sid: str, times: int) -> list[int]:
        auth = (stack.settings.account_sid, stack.settings.auth_token)
        statuses = []
        async with httpx.AsyncClient(base_url=stack.url, auth=auth, timeout=60) as http:
            for i in range(times):
                activity = space.activities["Available" if i % 2 == 0 else "Offline"]
                url = f"/v1/Workspaces/{space.sid}/Workers/{worker_sid}"
                statuses.append((await http.post(url, data={"ActivitySid": activity})).status_code)
        return statuses

    async def busy() -> list[list[int]]:
        # Each toggle is one change of the router; an even count leaves each worker Offline.
        per_worker = 2 * (RUN_CHANGE_BUDGET // len(togglers) // 2 + 5)
        return await asyncio.gather(*(toggle(w.sid, per_worker) for w in togglers))

    assert {s for statuses in asyncio.run(busy()) for s in statuses} == {200}
    workspace = space.workspace
    workspace.workers(amy.sid).update(activity_sid=space.activities["Available"])
    task = space.create_task()

    def offered() -> None:
        assert space.reservations(task.sid) == {amy.sid: "pending"}

    eventually(offered, timeout=15)
