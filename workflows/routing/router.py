"""The workspace router: one entity workflow per TaskRouter workspace (id ``router-WS…``) that
owns routing state: live tasks, workers' availability and used capacity, pending reservations.

Being the single writer of that state makes TaskRouter's rules hold under any concurrency: a worker
is never offered more than its free capacity on a task channel; tasks are offered by priority,
then in their queue's order; a worker who frees capacity or becomes available is offered waiting
tasks at once; a reservation that times out or a worker going unavailable sends the task on to the
next worker; so does an agent whose last desk (agent socket) has been gone for the grace period
(``_sweep_desks``, reading ``store.desks``). Changes arrive as updates (answered once stored) and
signals; every change is written to the store, with its events, by one local activity; events are
posted to the workspace's ``event_callback_url`` in order, retried. The rules themselves are in
``placement`` (where tasks go) and ``changes`` (what a change writes); this class keeps the
handlers, the timers and the activities.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from dataclasses import replace

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows import activity_options
from workflows.activity_options import STORE
from workflows.ordered_outbox import OrderedOutbox
from workflows.routing import placement
from workflows.routing.changes import RoutingState, refused
from workflows.routing.messages import (
    HANDED_OVER,
    ChannelNotice,
    EventCallback,
    NewTask,
    ReservationChange,
    RouterInput,
    RoutingEvent,
    RoutingResult,
    RoutingSnapshot,
    TaskChange,
    Transfer,
    WorkerActivityChange,
    WorkspaceConfig,
)

with workflow.unsafe.imports_passed_through():
    from activities.routing import RoutingActivities

# Changes a run makes before it continues as new, bounding its history.
RUN_CHANGE_BUDGET = 500
# Runs from before desk presence never read desks (``workflow.patched``).
DESK_PRESENCE = "desk-presence"
# Runs from before business hours never woke when the business opened or closed.
BUSINESS_HOURS = "business-hours"


@workflow.defn
class WorkspaceRouter:
    @workflow.init
    def __init__(self, input: RouterInput) -> None:
        self.workspace_sid = input.workspace_sid
        self.routing: RoutingState | None = None if input.carried is None else self._routing(input.carried)
        # Events for the workspace's callback URL, posted in order; unposted ones go along when
        # the run continues as new.
        self.outbox: OrderedOutbox[RoutingEvent] = OrderedOutbox(input.unsent_events)
        self.lock = asyncio.Lock()
        self.dirty = False
        self.refresh_requested = input.refresh
        self.changes = 0
        # When to read which agents have a desk open next; and how many times a desk opened or
        # closed (a change during a read asks for another).
        self.desk_sweep_at: float | None = input.desk_sweep_at
        self.desk_changes = 0

    # --- handlers ---------------------------------------------------------------------------

    @workflow.signal
    def refresh(self) -> None:
        """Configuration, worker attributes or capacities changed in the store."""
        self.refresh_requested = True
        self.dirty = True

    @workflow.signal
    def desk_changed(self, closed: bool) -> None:
        """An agent's desk (socket) opened or closed. A closed one is looked at now (to be looked
        at again when the grace period is over); an opened one only needs the router to be
        watching desks at all (it looks again when its lease would run out)."""
        self.desk_changes += 1
        if closed or self.desk_sweep_at is None:
            self.desk_sweep_at = workflow.now().timestamp()
            self.dirty = True

    @workflow.update
    async def create_task(self, new: NewTask) -> RoutingResult:
        async with self.lock:
            return await self._create(new)

    @workflow.update
    async def change_task(self, change: TaskChange) -> RoutingResult:
        async with self.lock:
            state = await self._state()
            task = state.tasks.get(change.task_sid)
            if task is None:
                raise refused(f"task {change.task_sid} is not live in this workspace", "NotLive")
            state.change_task(task, change)
            await self._flush()
            return RoutingResult(task_sid=task.sid)

    @workflow.update
    async def transfer_task(self, transfer: Transfer) -> RoutingResult:
        """A new task for the same conversation, pinned to a queue or a worker; the original
        task wraps up. The conversation's channel follows the new task first, so its interaction
        never ends in between (and no inactivity close can intervene)."""
        async with self.lock:
            state = await self._state()
            task = state.tasks.get(transfer.task_sid)
            if task is None or task.status != "assigned":
                raise refused(f"task {transfer.task_sid} is not assigned; only an assigned task transfers", "Conflict")
            if (transfer.to_queue_sid is None) == (transfer.to_worker_sid is None):
                raise refused("a transfer goes to a queue or to a worker", "Invalid")
            if transfer.to_queue_sid is not None and transfer.to_queue_sid not in state.config.queues:
                raise refused(f"queue {transfer.to_queue_sid} is not in workspace {self.workspace_sid}", "NotFound")
            if transfer.to_worker_sid is not None and transfer.to_worker_sid not in state.workers:
                raise refused(f"worker {transfer.to_worker_sid} is not in workspace {self.workspace_sid}", "NotFound")
            await self._create(
                NewTask(
                    transfer.new_task_sid,
                    task.workflow_sid,
                    task.task_channel,
                    json.dumps({**task.attributes, "transferredFrom": task.sid}),
                    task.priority,
                    task.timeout,
                    task.channel_sid,
                    only_worker=transfer.to_worker_sid,
                    queue_sid=transfer.to_queue_sid or task.queue_sid,
                )
            )
            if task.channel_sid:
                notice = ChannelNotice(task.channel_sid, transfer.new_task_sid, replaces_task_sid=task.sid)
                await workflow.execute_local_activity_method(RoutingActivities.follow_task, notice, **STORE)
            state.wrap(task, HANDED_OVER)
            await self._flush()
            return RoutingResult(task_sid=transfer.new_task_sid)

    @workflow.update
    async def change_reservation(self, change: ReservationChange) -> RoutingResult:
        async with self.lock:
            state = await self._state()
            task = next((t for t in state.tasks.values() if t.reservation_sid == change.reservation_sid), None)
            if task is None or task.worker_sid is None:
                raise refused(f"reservation {change.reservation_sid} is not live", "NotLive")
            worker_sid = task.worker_sid
            state.change_reservation(task, change)
            await self._flush()
            return RoutingResult(task_sid=task.sid, reservation_sid=change.reservation_sid, worker_sid=worker_sid)

    @workflow.update
    async def set_worker_activity(self, change: WorkerActivityChange) -> RoutingResult:
        async with self.lock:
            state = await self._state()
            worker = state.workers.get(change.worker_sid)
            if worker is None:
                raise refused(f"worker {change.worker_sid} is not in workspace {self.workspace_sid}", "NotFound")
            if change.activity_sid not in state.config.activities:
                await self._refresh()  # an activity added since this run loaded the workspace
            if change.activity_sid not in state.config.activities:
                raise refused(f"activity {change.activity_sid} is not in workspace {self.workspace_sid}", "Invalid")
            state.move_worker(worker, change.activity_sid, reject_pending=change.reject_pending)
            await self._flush()
            return RoutingResult(worker_sid=worker.sid)

    @property
    def snapshot(self) -> RoutingSnapshot | None:
        return None if self.routing is None else self.routing.snapshot

    @workflow.query
    def routing_state(self) -> RoutingSnapshot | None:
        return self.snapshot

    async def _create(self, new: NewTask) -> RoutingResult:
        state = await self._state()
        if new.task_sid in state.tasks:
            return RoutingResult(task_sid=new.task_sid)
        known_channel = new.task_channel in state.config.channels or new.task_channel in state.config.channels.values()
        if new.workflow_sid not in state.config.workflows or not known_channel:
            await self._refresh()  # configured since this run loaded it
        if new.workflow_sid not in state.config.workflows:
            raise refused(f"workflow {new.workflow_sid} is not in workspace {self.workspace_sid}", "NotFound")
        if new.task_channel not in state.config.channels:
            # Accept a task channel SID as well as its unique name.
            by_sid = {sid: name for name, sid in state.config.channels.items()}
            if new.task_channel not in by_sid:
                raise refused(f"task channel {new.task_channel!r} is not in workspace", "NotFound")
            new = replace(new, task_channel=by_sid[new.task_channel])
        task = state.add_task(new)
        await self._flush()
        return RoutingResult(task_sid=task.sid)

    # --- the run ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: RouterInput) -> None:
        # Under the lock, like every handler: an update delivered with the start must not load
        # the snapshot alongside, then have its change overwritten by this load.
        async with self.lock:
            await self._state()
        self._post_outbox()
        while True:
            async with self.lock:
                self.dirty = False
                if self.refresh_requested:
                    await self._refresh()
                await self._sweep_desks()
                state = await self._state()
                state.expire(workflow.now().timestamp())
                state.assign(workflow.now().timestamp())
                await self._flush()
            if self._continue_due():
                # Unposted events go along (an event being posted right now may be posted twice:
                # callbacks are at least once, each with its ``Sid``); routing never waits for them.
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    RouterInput(
                        self.workspace_sid,
                        self.snapshot,
                        self.outbox.unsent(),
                        refresh=self.refresh_requested,
                        desk_sweep_at=self.desk_sweep_at,
                    )
                )
            now = workflow.now().timestamp()
            deadline = placement.next_deadline(state.snapshot, now, self.desk_sweep_at)
            if state.config.business_hours is not None and workflow.patched(BUSINESS_HOURS):
                change = placement.next_business_change(state.snapshot, now)
                deadline = deadline if change is None else min(change, deadline or change)
            timeout = None if deadline is None else max(deadline - now, 0.001)
            with contextlib.suppress(asyncio.TimeoutError):
                await workflow.wait_condition(lambda: self.dirty or self._continue_due(), timeout=timeout)

    # --- state ------------------------------------------------------------------------------

    def _routing(self, snapshot: RoutingSnapshot) -> RoutingState:
        return RoutingState(
            self.workspace_sid, snapshot, lambda: workflow.now().timestamp(), workflow.uuid4, self._wake
        )

    def _wake(self) -> None:
        self.dirty = True

    async def _state(self) -> RoutingState:
        if self.routing is None:
            snapshot = await workflow.execute_local_activity_method(
                RoutingActivities.load_routing, self.workspace_sid, **STORE
            )
            self.routing = self._routing(snapshot)
        return self.routing

    async def _refresh(self) -> None:
        """Reload configuration and workers (``RoutingState.refresh`` says what stays)."""
        self.refresh_requested = False
        fresh = await workflow.execute_local_activity_method(
            RoutingActivities.load_routing, self.workspace_sid, **STORE
        )
        state = await self._state()
        state.refresh(fresh)

    def _continue_due(self) -> bool:
        return self.changes >= RUN_CHANGE_BUDGET or workflow.info().is_continue_as_new_suggested()

    # --- desks ------------------------------------------------------------------------------

    async def _sweep_desks(self) -> None:
        """Agents whose last desk closed (or whose API replica died) the grace period ago move to
        the operator's activity (Offline), their pending offers rejected so they go on at once."""
        if self.desk_sweep_at is None or workflow.now().timestamp() < self.desk_sweep_at:
            return
        if not workflow.patched(DESK_PRESENCE):
            self.desk_sweep_at = None
            return
        changes = self.desk_changes
        presence = await workflow.execute_local_activity_method(
            RoutingActivities.desk_presence, self.workspace_sid, **STORE
        )
        if presence.departed:
            state = await self._state()
            target = placement.activity_named(state.config, presence.activity_name)
            if target is None:
                await self._refresh()  # an activity added since this run loaded the workspace
                target = placement.activity_named(state.config, presence.activity_name)
            if target is None:
                workflow.logger.warning(
                    "no activity %r in workspace %s: agents whose desk closed stay as they are",
                    presence.activity_name,
                    self.workspace_sid,
                )
            else:
                for worker in placement.desk_departures(state.snapshot, presence.departed, target):
                    state.move_worker(worker, target, reject_pending=True)
        now = workflow.now().timestamp()
        if self.desk_changes != changes:
            self.desk_sweep_at = now  # a desk opened or closed while this read ran
        else:
            self.desk_sweep_at = placement.next_desk_sweep(presence, now)

    # --- writes and events ------------------------------------------------------------------

    async def _flush(self) -> None:
        """Store what the change did (one transaction), then act on it outside the store."""
        state = await self._state()
        write = state.take_write()
        if not (write.new_task or write.tasks or write.reservations or write.workers or write.events):
            return
        await workflow.execute_local_activity_method(RoutingActivities.store_routing, write, **STORE)
        self.changes += 1
        self.dirty = True  # something changed: the run looks for offers to make
        for event in write.events:
            await self._follow_up(event)
        assert self.snapshot is not None
        config = self.snapshot.config
        if config.event_callback_url:
            wanted = config.events_filter
            self.outbox.put(e for e in write.events if wanted is None or e.event_type in wanted)
            self._post_outbox()

    async def _follow_up(self, event: RoutingEvent) -> None:
        """What the conversation's channel learns: the agent joins on accept; the interaction ends
        on wrap-up, completion or cancelation."""
        channel_sid = event.data.get("channel_sid")
        if not channel_sid:
            return
        try:
            if event.event_type == "reservation.accepted" and event.worker_sid:
                notice = ChannelNotice(channel_sid, event.task_sid or "", event.worker_sid)
                await workflow.execute_local_activity_method(RoutingActivities.join_channel, notice, **STORE)
            elif event.event_type in ("task.wrapup", "task.completed", "task.canceled") and event.task_sid:
                notice = ChannelNotice(channel_sid, event.task_sid)
                await workflow.execute_local_activity_method(RoutingActivities.end_channel_interaction, notice, **STORE)
        except ActivityError as exc:
            workflow.logger.warning("channel %s not told of %s: %s", channel_sid, event.event_type, exc)

    def _post_outbox(self) -> None:
        # One poster at a time (the outbox's drainer): an update delivered with the start can fill
        # the outbox (and start the poster) before ``run`` gets here, and two posters would send
        # each event twice. A poster keeps the configuration it started with.
        assert self.snapshot is not None
        config = self.snapshot.config
        if config.event_callback_url:
            self.outbox.drain(functools.partial(self._post_events, config.event_callback_url, config))

    async def _post_events(self, url: str, config: WorkspaceConfig, events: list[RoutingEvent]) -> bool:
        """Posts events to the callback URL the poster started with; one that is not delivered is
        logged and dropped (routing never waits for callbacks)."""
        for event in events:
            callback = EventCallback(url, config.workspace_sid, config.friendly_name, event)
            try:
                await workflow.execute_activity_method(
                    RoutingActivities.post_routing_event, callback, **activity_options.ROUTING_EVENT
                )
            except ActivityError as exc:
                workflow.logger.warning("event %s not delivered to %s: %s", event.sid, callback.url, exc)
        return True
