"""The router's placement rules as plain functions over a routing snapshot: no Temporal needed."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from workflows.routing.messages import (
    ActivitySpec,
    DeskPresence,
    QueueSpec,
    RoutedTask,
    RoutedWorker,
    RoutingSnapshot,
    WorkflowSpec,
    WorkspaceConfig,
)
from workflows.routing.placement import (
    Offer,
    Route,
    desk_departures,
    eligible_workers,
    free_capacity,
    next_deadline,
    next_desk_sweep,
    offers,
    reservation_expired,
    route,
    target_expired,
    ttl_expired,
)

pytestmark = pytest.mark.fast

SUPPORT = "WQ000000000000000000000000000support"
SALES = "WQ00000000000000000000000000000sales"
FALLBACK = "WQ000000000000000000000000000000fall"
FLOW = "WW0000000000000000000000000000000001"


def snapshot(*workers: RoutedWorker, tasks: list[RoutedTask] | None = None, **routing: Any) -> RoutingSnapshot:
    task_routing = routing or {
        "filters": [
            {"expression": 'type == "support"', "targets": [{"queue": SUPPORT, "timeout": 30}, {"queue": SALES}]},
        ],
        "default_filter": {"queue": FALLBACK},
    }
    config = WorkspaceConfig(
        workspace_sid="WS1",
        friendly_name="test",
        event_callback_url=None,
        timeout_activity_sid=None,
        activities={"WAon": ActivitySpec("WAon", "Available", True), "WAoff": ActivitySpec("WAoff", "Offline", False)},
        queues={
            SUPPORT: QueueSpec(SUPPORT, "support", 'skills HAS "support"'),
            SALES: QueueSpec(SALES, "sales", 'skills HAS "sales"', task_order="LIFO"),
            FALLBACK: QueueSpec(FALLBACK, "everyone", "1==1"),
        },
        workflows={FLOW: WorkflowSpec(FLOW, "flow", task_routing, task_reservation_timeout=60)},
        channels={"chat": "TC1", "voice": "TC2"},
    )
    return RoutingSnapshot(config, {w.sid: w for w in workers}, {t.sid: t for t in tasks or []})


def worker(sid: str, *skills: str, available: bool = True, chat: int = 1, idle_since: float = 0.0) -> RoutedWorker:
    return RoutedWorker(
        sid, sid, {"skills": list(skills)}, "WAon" if available else "WAoff", available, {"chat": chat}, idle_since
    )


def task(sid: str, queue: str | None = SUPPORT, **fields: Any) -> RoutedTask:
    defaults: dict[str, Any] = {
        "workflow_sid": FLOW,
        "task_channel": "chat",
        "priority": 0,
        "timeout": 3600,
        "attributes": {"type": "support"},
        "created_at": 0.0,
    }
    routed = RoutedTask(sid, **{**defaults, **fields})
    routed.queue_sid = queue
    if queue == SUPPORT:
        routed.filter_index = 0
    return routed


def test_a_task_goes_to_the_first_target_of_the_filter_it_matches() -> None:
    state = snapshot(worker("WKa", "support"))
    assert route(state, task("WT1", queue=None)) == Route(0, 0, SUPPORT, {"queue": SUPPORT, "timeout": 30})
    # No filter matches: the default filter's queue.
    other = task("WT2", queue=None, attributes={"type": "billing"})
    assert route(state, other) == Route(None, 0, FALLBACK, None)


def test_a_target_skipped_by_its_skip_if_moves_the_task_on() -> None:
    targets = [{"queue": SUPPORT, "skip_if": "workers.available == 0"}, {"queue": SALES}]
    state = snapshot(
        worker("WKa", "support", available=False),
        filters=[{"expression": "1==1", "targets": targets}],
        default_filter={"queue": FALLBACK},
    )
    assert route(state, task("WT1", queue=None)) == Route(0, 1, SALES, {"queue": SALES})


def test_a_pinned_queue_wins_and_an_unknown_one_places_nowhere() -> None:
    state = snapshot()
    pinned = task("WT1", queue=None, pinned_queue=SALES)
    assert route(state, pinned) == Route(None, 0, SALES, None)
    assert route(state, task("WT2", queue=None, pinned_queue="WQmissing")) is None


def test_eligibility_follows_the_queue_and_target_expressions() -> None:
    state = snapshot(worker("WKa", "support"), worker("WKb", "sales"), worker("WKc", "support", "vip"))
    routed = task("WT1")
    assert [w.sid for w in eligible_workers(state, routed, SUPPORT, None)] == ["WKa", "WKc"]
    target = {"queue": SUPPORT, "expression": 'worker.skills HAS "vip"'}
    assert [w.sid for w in eligible_workers(state, routed, SUPPORT, target)] == ["WKc"]
    # An expression that does not parse matches nobody.
    assert eligible_workers(state, routed, SUPPORT, {"queue": SUPPORT, "expression": "skills HAS"}) == []
    # A transfer to a named worker ignores the expressions.
    assert [w.sid for w in eligible_workers(state, task("WT2", only_worker="WKb"), SUPPORT, None)] == ["WKb"]


def test_target_expressions_see_the_workers_channels_and_activity() -> None:
    amy = worker("WKa", "support", chat=3)
    amy.capacity["voice"] = 1
    bob = worker("WKb", "support", chat=2)
    calls = [task("WTcall", task_channel="voice", status="assigned", worker_sid="WKa")]
    chats = [task(f"WTchat{n}", status="reserved", worker_sid="WKb") for n in range(2)]
    state = snapshot(amy, bob, tasks=calls + chats)
    routed = task("WT1")

    def admitted(expression: str) -> list[str]:
        return [w.sid for w in eligible_workers(state, routed, SUPPORT, {"queue": SUPPORT, "expression": expression})]

    assert admitted("worker.channel.voice.assigned_tasks == 0") == ["WKb"]
    assert admitted("worker.channel.chat.assigned_tasks <= 1") == ["WKa"]
    assert admitted("worker.channel.chat.available_capacity_percentage == 100") == ["WKa"]
    assert admitted("worker.channel.chat.available_capacity_percentage == 0") == ["WKb"]
    assert admitted("worker.channel.voice.configured_capacity > 0") == ["WKa"]
    assert admitted("worker.channel.voice.available == false") == ["WKb"]  # Bob has voice off
    assert admitted("worker.sid == 'WKb'") == ["WKb"]
    assert admitted("worker.activity_name == 'Available' AND worker.activity_sid == 'WAon'") == ["WKa", "WKb"]


def test_filters_see_the_time_of_day() -> None:
    targets = [{"queue": SALES}]
    every_day = "['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']"
    state = snapshot(
        filters=[
            {"expression": "taskrouter.currentHour > 23", "targets": [{"queue": SUPPORT}]},
            {"expression": f"taskrouter.dayOfWeek IN {every_day} AND taskrouter.currentTime >= 0", "targets": targets},
        ],
        default_filter={"queue": FALLBACK},
    )
    assert route(state, task("WT1", queue=None)) == Route(1, 0, SALES, {"queue": SALES})


def test_free_capacity_counts_held_tasks_on_the_same_channel() -> None:
    held = [task(f"WT{n}", status=status, worker_sid="WKa") for n, status in enumerate(["reserved", "wrapping"])]
    other_channel = task("WT9", status="assigned", worker_sid="WKa", task_channel="voice")
    state = snapshot(worker("WKa", "support", chat=3), tasks=[*held, other_channel])
    assert free_capacity(state, state.workers["WKa"], "chat") == 1
    # A channel with no capacity configured under a held task: below zero, nothing more offered.
    assert free_capacity(state, state.workers["WKa"], "voice") == -1


def test_offers_go_by_priority_then_queue_order_to_the_longest_idle_worker() -> None:
    tasks = [
        task("WTold", entered_queue_at=1.0),
        task("WTnew", entered_queue_at=2.0),
        task("WTurgent", entered_queue_at=3.0, priority=5),
    ]
    state = snapshot(
        worker("WKbusy", "support", idle_since=50.0), worker("WKidle", "support", idle_since=10.0), tasks=tasks
    )
    # Each worker has room for one chat: the urgent task first, then the oldest.
    assert offers(state, now=100.0) == [Offer("WTurgent", "WKidle"), Offer("WTold", "WKbusy")]
    # Nothing is changed by asking.
    assert all(t.status == "pending" for t in state.tasks.values())


def test_a_lifo_queue_offers_its_newest_task_first() -> None:
    tasks = [task("WTa", queue=SALES, entered_queue_at=1.0), task("WTb", queue=SALES, entered_queue_at=2.0)]
    state = snapshot(worker("WKa", "sales"), tasks=tasks)
    assert offers(state, now=10.0) == [Offer("WTb", "WKa")]


def test_unavailable_or_full_workers_get_no_offer() -> None:
    held = task("WTheld", status="assigned", worker_sid="WKfull")
    state = snapshot(
        worker("WKaway", "support", available=False), worker("WKfull", "support"), tasks=[held, task("WT1")]
    )
    assert offers(state, now=10.0) == []


def test_a_worker_who_declined_is_offered_the_task_again_only_when_nobody_else_can_and_not_at_once() -> None:
    declined = task("WT1", declined_by=["WKa"], declined_until=60.0)
    state = snapshot(worker("WKa", "support"), worker("WKb", "support", idle_since=99.0), tasks=[declined])
    assert offers(state, now=10.0) == [Offer("WT1", "WKb")]
    del state.workers["WKb"]
    assert offers(state, now=10.0) == []
    assert offers(state, now=60.0) == [Offer("WT1", "WKa")]


def test_timeouts_expire_at_their_deadline() -> None:
    reserved = task("WT1", status="reserved", worker_sid="WKa", reservation_deadline=50.0, timeout=100)
    assert not reservation_expired(reserved, 49.9) and reservation_expired(reserved, 50.0)
    assert not ttl_expired(reserved, 99.9) and ttl_expired(reserved, 100.0)
    waiting = task("WT2", target_deadline=30.0)
    assert not target_expired(waiting, 29.0) and target_expired(waiting, 30.0)
    # An assigned task outlives its TTL, and its target no longer times out.
    assigned = task("WT3", status="assigned", worker_sid="WKa", target_deadline=30.0, timeout=10)
    assert not ttl_expired(assigned, 1000.0) and not target_expired(assigned, 1000.0)


def test_the_next_deadline_is_the_soonest_of_every_timer() -> None:
    tasks = [
        task("WT1", status="reserved", worker_sid="WKa", reservation_deadline=80.0, timeout=500),
        task("WT2", target_deadline=90.0, timeout=500),
        task("WT3", declined_by=["WKa"], declined_until=70.0, timeout=500),
        task("WT4", status="assigned", worker_sid="WKa", timeout=1),
    ]
    state = snapshot(tasks=tasks)
    assert next_deadline(state, now=10.0, desk_sweep_at=None) == 70.0
    assert next_deadline(state, now=10.0, desk_sweep_at=40.0) == 40.0
    # A decline whose wait has passed is no deadline.
    assert next_deadline(state, now=75.0, desk_sweep_at=None) == 80.0
    assert next_deadline(snapshot(tasks=[tasks[3]]), now=10.0, desk_sweep_at=None) is None


def test_a_closed_desk_is_looked_at_again_when_its_grace_period_ends() -> None:
    presence = DeskPresence(30.0, "Offline", watch_from={"WKa": 100.0, "WKb": 90.0})
    assert next_desk_sweep(presence, now=100.0) == 120.0
    # Never sooner than a second after this read, and not at all when no desk is watched.
    assert next_desk_sweep(presence, now=119.5) == 120.5
    assert next_desk_sweep(DeskPresence(30.0, "Offline"), now=100.0) is None


def test_an_agent_whose_desk_closed_moves_unless_already_there_with_nothing_offered() -> None:
    offered = task("WT1", status="reserved", worker_sid="WKoff")
    state = snapshot(
        worker("WKon", "support"),
        worker("WKoff", "support", available=False),
        worker("WKgone", "support", available=False),
        tasks=[offered],
    )
    departed = ["WKon", "WKoff", "WKgone", "WKunknown"]
    # Offline already, but still holding an offer: moved all the same, so the offer moves on.
    assert [w.sid for w in desk_departures(state, departed, "WAoff")] == ["WKon", "WKoff"]


def test_a_target_without_a_queue_keeps_the_queue_of_the_target_before_it() -> None:
    targets: list[dict[str, Any]] = [
        {"queue": SUPPORT, "timeout": 15, "expression": 'worker.skills HAS "vip"'},
        {"timeout": 15},
        {},
    ]
    state = snapshot(
        worker("WKa", "support"),
        worker("WKc", "support", "vip"),
        filters=[{"expression": "1==1", "targets": targets}],
        default_filter={"queue": FALLBACK},
    )
    assert route(state, task("WT1", queue=None)) == Route(0, 0, SUPPORT, targets[0])
    # After the first target's timeout: the same queue, and any of its workers.
    assert route(state, task("WT2", queue=None, target_index=1)) == Route(0, 1, SUPPORT, {"timeout": 15})
    assert route(state, task("WT3", queue=None, target_index=2)) == Route(0, 2, SUPPORT, {})
    assert [w.sid for w in eligible_workers(state, task("WT3"), SUPPORT, {})] == ["WKa", "WKc"]


def known_agent_state(*workers: RoutedWorker) -> RoutingSnapshot:
    targets = [
        {"queue": SUPPORT, "known_worker_sid": "task.last_agent_sid", "timeout": 20},
        {"queue": SUPPORT, "known_worker_friendly_name": "task.customer.agent_name", "timeout": 20},
        {"queue": SUPPORT},
    ]
    return snapshot(*workers, filters=[{"expression": "1==1", "targets": targets}], default_filter={"queue": FALLBACK})


def test_a_known_worker_target_offers_the_task_to_that_worker_alone() -> None:
    state = known_agent_state(worker("WKa", "support"), worker("WKc", "support", idle_since=90.0))
    last_agent = task("WT1", queue=None, attributes={"type": "support", "last_agent_sid": "WKc"})
    placed = route(state, last_agent)
    assert placed is not None and (placed.target_index, placed.queue_sid) == (0, SUPPORT)
    assert [w.sid for w in eligible_workers(state, last_agent, SUPPORT, placed.target)] == ["WKc"]
    # The longest idle worker (WKa) is passed over for the known one.
    last_agent.queue_sid, last_agent.filter_index = SUPPORT, 0
    state.tasks[last_agent.sid] = last_agent
    assert offers(state, now=100.0) == [Offer("WT1", "WKc")]


def test_a_known_worker_by_friendly_name_is_read_from_a_nested_task_attribute() -> None:
    state = known_agent_state(worker("WKa", "support"), worker("Ricky", "support"))
    routed = task("WT1", queue=None, attributes={"type": "support", "customer": {"agent_name": "Ricky"}})
    placed = route(state, routed)
    assert placed is not None and placed.target_index == 1
    assert [w.sid for w in eligible_workers(state, routed, SUPPORT, placed.target)] == ["Ricky"]


def test_a_known_worker_missing_or_outside_the_queue_passes_the_task_to_the_next_target() -> None:
    state = known_agent_state(worker("WKa", "support"), worker("WKsales", "sales"))
    for attributes in (
        {"type": "support"},  # no attribute names a worker
        {"type": "support", "last_agent_sid": "WKgone"},  # a worker that does not exist
        {"type": "support", "last_agent_sid": "WKsales"},  # a worker the queue does not admit
    ):
        assert route(state, task("WT1", queue=None, attributes=attributes)) == Route(0, 2, SUPPORT, {"queue": SUPPORT})


def test_a_target_order_by_ranks_workers_before_idle_time_and_those_without_the_value_last() -> None:
    junior, senior, unrated = (
        worker("WKjunior", "support"),
        worker("WKsenior", "support"),
        worker("WKunrated", "support"),
    )
    junior.attributes["level"], senior.attributes["level"] = 1, 5
    routed = task("WT1")
    state = snapshot(
        unrated,
        junior,
        senior,
        tasks=[routed],
        filters=[{"expression": "1==1", "targets": [{"queue": SUPPORT, "order_by": "worker.level DESC"}]}],
    )
    assert offers(state, now=10.0) == [Offer("WT1", "WKsenior")]
    state.config.workflows[FLOW].task_routing["filters"][0]["targets"][0]["order_by"] = "worker.level ASC"
    assert offers(state, now=10.0) == [Offer("WT1", "WKjunior")]
    del state.workers["WKjunior"], state.workers["WKsenior"]
    assert offers(state, now=10.0) == [Offer("WT1", "WKunrated")]


def test_skip_if_counts_the_targets_unavailable_workers_and_those_in_one_activity() -> None:
    """TaskRouter's skip variables: ``workers.available``, ``workers.unavailable`` and
    ``workers.<Activity SID>``, over the workers the target's queue admits."""

    def placed(skip_if: str, *workers: RoutedWorker) -> str | None:
        targets = [{"queue": SUPPORT, "skip_if": skip_if}, {"queue": SALES}]
        state = snapshot(*workers, filters=[{"expression": "1==1", "targets": targets}])
        placement = route(state, task("WT1", queue=None))
        return placement.queue_sid if placement else None

    one_off = (worker("WKa", "support", available=False), worker("WKb", "support"), worker("WKc", "sales"))
    assert placed("workers.unavailable >= 1", *one_off) == SALES
    assert placed("workers.unavailable >= 2", *one_off) == SUPPORT  # WKc is not in the support queue
    assert placed("workers.WAoff == 1 AND workers.WAon == 1", *one_off) == SALES
    assert placed("workers.WAon == 0", *one_off) == SUPPORT
    assert placed("workers.WAoff > 0", worker("WKb", "support")) == SUPPORT  # nobody in that activity


def test_time_of_day_reads_the_filters_time_zone_then_the_workspaces() -> None:
    """TaskRouter's clock is UTC; a filter's ``time_zone`` (or the workspace's) moves it. Kolkata is
    UTC+05:30, so its minute is never the UTC minute; two minutes allow for the clock ticking."""
    local = datetime.now(ZoneInfo("Asia/Kolkata")).minute
    minute = f"taskrouter.currentMin IN [{local}, {(local + 1) % 60}]"
    in_kolkata = {"expression": minute, "time_zone": "Asia/Kolkata", "targets": [{"queue": SUPPORT}]}
    in_utc = {"expression": minute, "targets": [{"queue": SALES}]}
    by_filter = snapshot(filters=[in_utc, in_kolkata], default_filter={"queue": FALLBACK})
    assert route(by_filter, task("WT1", queue=None)) == Route(1, 0, SUPPORT, {"queue": SUPPORT})
    # The same expression without a zone: UTC, no match.
    assert route(snapshot(filters=[in_utc], default_filter={"queue": FALLBACK}), task("WT2", queue=None)) == Route(
        None, 0, FALLBACK, None
    )
    # The workspace's zone applies to filters that name none.
    by_workspace = snapshot(filters=[in_utc], default_filter={"queue": FALLBACK})
    by_workspace.config.time_zone = "Asia/Kolkata"
    assert route(by_workspace, task("WT3", queue=None)) == Route(0, 0, SALES, {"queue": SALES})
