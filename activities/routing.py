"""Routing activities: handing a conversation's task to its workspace router, the router's store
reads and writes (one transaction per change, idempotent), telling a conversation's channel what
happened to its task, and posting workspace events to the event callback URL (a REST caller's
choice: sent under the outbound policy, ``outbound_http``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.store import finish_even_if_cancelled
from switchboard.observability import QUEUE_WAIT_SECONDS, RESERVATIONS
from switchboard.outbound_http import OutboundClient, OutboundRefused
from switchboard.store import desks
from switchboard.store.business_hours import workspace_schedule
from switchboard.store.contacts import worker_identity
from switchboard.store.crypto import Cipher
from switchboard.store.db import Database
from switchboard.store.feed import (
    SOCKET_CHANNEL_TYPES,
    add_for_channel,
    add_for_customer,
    chat_ended_reason,
    feed_item,
    pre_engagement_data,
)
from switchboard.store.interactions import INTERACTION_CHANNEL_TYPES, interaction_for_flow_task
from switchboard.store.models import (
    AgentFeedItem,
    Channel,
    ChannelAgent,
    Reservation,
    RoutingEventRow,
    RoutingWorkflow,
    Task,
    TaskChannel,
    TaskQueue,
    Worker,
    WorkerChannel,
    Workspace,
    WorkspaceActivity,
    utcnow,
)
from workflows.messages import CreateTask, EndClosedRouting, MemberSpec
from workflows.routing.client import RoutingClient
from workflows.routing.messages import (
    HANDED_OVER,
    ActivitySpec,
    ChannelNotice,
    DeskPresence,
    EventCallback,
    NewTask,
    QueueSpec,
    RoutedTask,
    RoutedWorker,
    RoutingEvent,
    RoutingSnapshot,
    RoutingWrite,
    TaskChange,
    WorkflowSpec,
    WorkspaceConfig,
)

LIVE = ("pending", "reserved", "assigned", "wrapping")
# Routing events an agent's socket shows (to the worker they concern).
AGENT_EVENTS = frozenset(
    {
        "reservation.created",
        "reservation.accepted",
        "reservation.rejected",
        "reservation.timeout",
        "reservation.rescinded",
        "task.wrapup",
        "task.completed",
        "task.canceled",
        "worker.activity.update",
    }
)


def refused(message: str) -> ApplicationError:
    # A configuration problem, not a blip: retrying cannot help.
    return ApplicationError(message, type="TaskNotCreated", non_retryable=True)


def timestamp(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def from_timestamp(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


@dataclass
class RoutingActivities:
    db: Database
    cipher: Cipher
    client: Client
    task_queue: str
    outbound: OutboundClient
    # What happens to an agent whose desk closed (``desk_presence``): the operator's settings.
    desk_grace_seconds: float = 30.0
    desk_disconnect_activity: str = "Offline"
    # The zone TaskRouter's time of day variables read in where a filter names none.
    time_zone: str = "UTC"

    @property
    def routing(self) -> RoutingClient:
        return RoutingClient(self.client, self.task_queue)

    @activity.defn(name="create_task")
    async def create_task(self, req: CreateTask) -> None:
        """A conversation's task, handed to its workspace's router (idempotent by task SID)."""
        async with self.db.session() as session:
            routing = await session.get(RoutingWorkflow, req.workflow_sid)
        if routing is None:
            raise refused(f"workflow {req.workflow_sid or '(none)'} does not exist")
        if req.workspace_sid and routing.workspace_sid != req.workspace_sid:
            raise refused(f"workflow {req.workflow_sid} is not in workspace {req.workspace_sid}")
        attributes = await self._flow_task_attributes(req, routing)
        new = NewTask(
            req.task_sid,
            routing.sid,
            req.task_channel,
            attributes,
            req.priority,
            req.timeout,
            req.channel_sid,
            only_worker=req.only_worker,
        )
        try:
            await self.routing.create_task(routing.workspace_sid, new)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            raise refused(cause.message if isinstance(cause, ApplicationError) else str(cause)) from exc

    async def _flow_task_attributes(self, req: CreateTask, routing: RoutingWorkflow) -> str:
        """Studio's send-to-flex in a run for a conversation (its trigger a conversation's
        message) makes the task an interaction's, as Flex on Conversations does
        (``store.interactions``); any other task keeps its attributes."""
        async with self.db.write_session() as session:
            channel = await session.get(Channel, req.channel_sid)
            if channel is None:
                return req.attributes
            return await interaction_for_flow_task(
                session,
                self.cipher,
                channel_sid=channel.sid,
                channel_type=INTERACTION_CHANNEL_TYPES.get(channel.channel_type, "chat"),
                task_sid=req.task_sid,
                workspace_sid=routing.workspace_sid,
                workflow_sid=routing.sid,
                task_channel=req.task_channel,
                attributes=req.attributes,
            )

    @activity.defn(name="load_routing")
    @finish_even_if_cancelled
    async def load_routing(self, workspace_sid: str) -> RoutingSnapshot:
        async with self.db.session() as session:
            workspace = await session.get(Workspace, workspace_sid)
            if workspace is None:
                raise ApplicationError(f"workspace {workspace_sid} does not exist", non_retryable=True)
            config = await self._config(session, workspace)
            workers = await self._workers(session, workspace_sid)
            tasks = await self._live_tasks(session, workspace_sid, config)
        return RoutingSnapshot(config, workers, tasks)

    async def _config(self, session: AsyncSession, workspace: Workspace) -> WorkspaceConfig:
        ws = workspace.sid
        activities = (await session.exec(select(WorkspaceActivity).where(WorkspaceActivity.workspace_sid == ws))).all()
        queues = (await session.exec(select(TaskQueue).where(TaskQueue.workspace_sid == ws))).all()
        flows = (await session.exec(select(RoutingWorkflow).where(RoutingWorkflow.workspace_sid == ws))).all()
        channels = (await session.exec(select(TaskChannel).where(TaskChannel.workspace_sid == ws))).all()
        hours = await workspace_schedule(session, ws)
        return WorkspaceConfig(
            workspace_sid=ws,
            friendly_name=workspace.friendly_name,
            event_callback_url=workspace.event_callback_url,
            timeout_activity_sid=workspace.timeout_activity_sid,
            activities={a.sid: ActivitySpec(a.sid, a.friendly_name, a.available) for a in activities},
            queues={q.sid: QueueSpec(q.sid, q.friendly_name, q.target_workers, q.task_order) for q in queues},
            workflows={
                w.sid: WorkflowSpec(
                    w.sid,
                    w.friendly_name,
                    json.loads(w.configuration).get("task_routing", {}),
                    w.task_reservation_timeout,
                )
                for w in flows
            },
            channels={c.unique_name: c.sid for c in channels},
            time_zone=self.time_zone,
            business_hours=None if hours is None else json.dumps(hours),
            events_filter=[e.strip() for e in workspace.events_filter.split(",") if e.strip()]
            if workspace.events_filter
            else None,
        )

    async def _workers(self, session: AsyncSession, workspace_sid: str) -> dict[str, RoutedWorker]:
        rows = (await session.exec(select(Worker).where(Worker.workspace_sid == workspace_sid))).all()
        capacities = (
            await session.exec(select(WorkerChannel).where(WorkerChannel.workspace_sid == workspace_sid))
        ).all()
        capacity: dict[str, dict[str, int]] = {}
        for channel in capacities:
            if channel.available:
                capacity.setdefault(channel.worker_sid, {})[channel.task_channel_unique_name] = (
                    channel.configured_capacity
                )
        return {
            w.sid: RoutedWorker(
                sid=w.sid,
                friendly_name=w.friendly_name,
                attributes=json.loads(self.cipher.decrypt(w.attributes_enc, "worker.attributes")),
                activity_sid=w.activity_sid,
                available=w.available,
                capacity=capacity.get(w.sid, {}),
            )
            for w in rows
        }

    async def _live_tasks(
        self, session: AsyncSession, workspace_sid: str, config: WorkspaceConfig
    ) -> dict[str, RoutedTask]:
        rows = (
            await session.exec(
                select(Task).where(Task.workspace_sid == workspace_sid, col(Task.assignment_status).in_(LIVE))
            )
        ).all()
        tasks: dict[str, RoutedTask] = {}
        for row in rows:
            task = RoutedTask(
                sid=row.sid,
                workflow_sid=row.workflow_sid,
                task_channel=row.task_channel_unique_name,
                priority=row.priority,
                timeout=row.timeout,
                attributes=json.loads(self.cipher.decrypt(row.attributes_enc, "task.attributes")),
                created_at=timestamp(row.date_created),
                channel_sid=row.channel_sid,
                status=row.assignment_status,
                queue_sid=row.task_queue_sid,
                entered_queue_at=timestamp(row.task_queue_entered_date or row.date_created),
            )
            if task.status != "pending":
                reservation = (
                    await session.exec(
                        select(Reservation)
                        .where(Reservation.task_sid == row.sid)
                        .order_by(col(Reservation.date_created).desc())
                    )
                ).first()
                if reservation is not None:
                    task.reservation_sid, task.worker_sid = reservation.sid, reservation.worker_sid
                    spec = config.workflows.get(row.workflow_sid)
                    timeout = spec.task_reservation_timeout if spec else 120
                    task.reservation_deadline = timestamp(reservation.date_created) + timeout
            tasks[task.sid] = task
        return tasks

    async def _count(self, session: AsyncSession, workspace_sid: str, event: RoutingEvent) -> None:
        """Metrics of an event stored for the first time (a retried write counts nothing twice)."""
        kind, _, outcome = event.event_type.partition(".")
        if kind != "reservation":
            return
        RESERVATIONS.labels(outcome).inc()
        if outcome == "accepted" and event.task_sid:
            task = await session.get(Task, event.task_sid)
            if task is not None:
                waited = event.timestamp - task.date_created.replace(tzinfo=UTC).timestamp()
                QUEUE_WAIT_SECONDS.labels(workspace_sid, event.queue_sid or "").observe(max(waited, 0.0))

    @activity.defn(name="desk_presence")
    @finish_even_if_cancelled
    async def desk_presence(self, workspace_sid: str) -> DeskPresence:
        """Which agents have a desk open, and those whose last desk went the grace period ago
        (reported once: ``store.desks.sweep``)."""
        async with self.db.write_session() as session:
            found = await desks.sweep(session, workspace_sid, timedelta(seconds=self.desk_grace_seconds))
        return DeskPresence(
            self.desk_grace_seconds,
            self.desk_disconnect_activity,
            {sid: timestamp(at) for sid, at in {**found.present, **found.absent}.items()},
            found.departed,
        )

    @activity.defn(name="store_routing")
    @finish_even_if_cancelled
    async def store_routing(self, write: RoutingWrite) -> None:
        async with self.db.write_session() as session:
            now = utcnow()
            new = write.new_task
            if new is not None and await session.get(Task, new.task_sid) is None:
                session.add(
                    Task(
                        sid=new.task_sid,
                        workspace_sid=write.workspace_sid,
                        workflow_sid=new.workflow_sid,
                        task_channel_unique_name=new.task_channel,
                        attributes_enc=self.cipher.encrypt(new.attributes, "task.attributes"),
                        priority=new.priority,
                        timeout=new.timeout,
                        channel_sid=new.channel_sid,
                    )
                )
                await session.flush()
            for change in write.tasks:
                task = await session.get(Task, change.sid)
                if task is None:
                    continue
                task.assignment_status = change.assignment_status
                task.task_queue_sid = change.queue_sid
                if change.entered_queue_at is not None:
                    task.task_queue_entered_date = from_timestamp(change.entered_queue_at)
                if change.reason is not None:
                    task.reason = change.reason
                if change.attributes is not None:
                    task.attributes_enc = self.cipher.encrypt(change.attributes, "task.attributes")
                if change.priority is not None:
                    task.priority = change.priority
                task.date_updated = now
                session.add(task)
            for res in write.reservations:
                reservation = await session.get(Reservation, res.sid)
                if reservation is None:
                    reservation = Reservation(
                        sid=res.sid, workspace_sid=write.workspace_sid, task_sid=res.task_sid, worker_sid=res.worker_sid
                    )
                reservation.reservation_status = res.status
                reservation.date_updated = now
                session.add(reservation)
            for worker_change in write.workers:
                worker = await session.get(Worker, worker_change.sid)
                if worker is None:
                    continue
                worker.activity_sid, worker.activity_name = worker_change.activity_sid, worker_change.activity_name
                worker.available = worker_change.available
                worker.date_status_changed = worker.date_updated = now
                session.add(worker)
            known = set(
                (
                    await session.exec(
                        select(RoutingEventRow.sid).where(col(RoutingEventRow.sid).in_([e.sid for e in write.events]))
                    )
                ).all()
            )
            for event in write.events:
                if event.sid in known:
                    continue
                await self._count(session, write.workspace_sid, event)
                if event.worker_sid and event.event_type in AGENT_EVENTS:
                    session.add(await self._agent_item(session, event))
                session.add(
                    RoutingEventRow(
                        sid=event.sid,
                        workspace_sid=write.workspace_sid,
                        event_type=event.event_type,
                        description=event.description,
                        resource_type=event.resource_type,
                        resource_sid=event.resource_sid,
                        task_sid=event.task_sid,
                        worker_sid=event.worker_sid,
                        reservation_sid=event.reservation_sid,
                        queue_sid=event.queue_sid,
                        workflow_sid=event.workflow_sid,
                        data_json=json.dumps(event.data),
                        event_date=from_timestamp(event.timestamp),
                    )
                )
            await session.commit()

    async def _agent_item(self, session: AsyncSession, event: RoutingEvent) -> AgentFeedItem:
        """A routing event as the agent's socket shows it: with the task's attributes (the
        customer's name, the channel type) and how long the task has waited."""
        data: dict[str, Any] = {
            "event_type": event.event_type,
            "reservation_sid": event.reservation_sid,
            "task_sid": event.task_sid,
            "queue_sid": event.queue_sid,
            **event.data,
        }
        task = await session.get(Task, event.task_sid or "")
        if task is not None:
            data["task_attributes"] = json.loads(self.cipher.decrypt(task.attributes_enc, "task.attributes"))
            data["pre_engagement_data"] = await pre_engagement_data(session, self.cipher, task.channel_sid)
        assert event.worker_sid is not None
        return feed_item(self.cipher, event.worker_sid, event.event_type, event.data.get("channel_sid"), data)

    @activity.defn(name="join_channel")
    async def join_channel(self, notice: ChannelNotice) -> None:
        """The accepting agent becomes a member of the conversation's channel."""
        async with self.db.session() as session:
            worker = await session.get(Worker, notice.worker_sid or "")
        if worker is None:
            return
        identity = worker_identity(
            worker.friendly_name, json.loads(self.cipher.decrypt(worker.attributes_enc, "worker.attributes"))
        )
        async with self.db.write_session() as session:
            if await session.get(ChannelAgent, (notice.channel_sid, worker.sid)) is None:
                session.add(ChannelAgent(channel_sid=notice.channel_sid, worker_sid=worker.sid))
                data = {"channel_sid": notice.channel_sid, "task_sid": notice.task_sid, "identity": identity}
                session.add(feed_item(self.cipher, worker.sid, "channel.joined", notice.channel_sid, data))
                await session.commit()
        handle = self.client.get_workflow_handle(notice.channel_sid)
        try:
            await handle.execute_update("add_member", MemberSpec(identity))
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise

    @activity.defn(name="end_channel_interaction")
    async def end_channel_interaction(self, notice: ChannelNotice) -> None:
        """The task is wrapping up or over: the channel's interaction ends (the channel stays), and
        a web customer hears that the agent left."""
        try:
            await self.client.get_workflow_handle(notice.channel_sid).signal("task_ended", notice.task_sid)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        await self._tell_customer_agent_left(notice)

    async def _tell_customer_agent_left(self, notice: ChannelNotice) -> None:
        """``agent.left`` on the customer's feed, once per task: when the agent wraps up, or
        completes without a wrap-up. Not for a transfer (the conversation goes on with the next
        agent), a chat the customer's side ended (it hears ``chat.ended``), nor a task no agent
        held."""
        async with self.db.write_session() as session:
            channel = await session.get(Channel, notice.channel_sid)
            if channel is None or channel.channel_type not in SOCKET_CHANNEL_TYPES:
                return  # the customer holds no socket
            task = await session.get(Task, notice.task_sid)
            if task is None or task.assignment_status not in ("wrapping", "completed"):
                return
            if task.reason in (HANDED_OVER, chat_ended_reason("customer"), chat_ended_reason("system")):
                return  # the conversation goes on with the next agent, or the customer knows
            if task.assignment_status == "completed":
                wrapped = await session.exec(
                    select(RoutingEventRow.sid).where(
                        RoutingEventRow.task_sid == task.sid, RoutingEventRow.event_type == "task.wrapup"
                    )
                )
                if wrapped.first() is not None:
                    return  # told at wrap-up
            query = (
                select(Worker)
                .join(Reservation, col(Reservation.worker_sid) == col(Worker.sid))
                .where(
                    Reservation.task_sid == task.sid,
                    col(Reservation.reservation_status).in_(("accepted", "wrapping", "completed")),
                )
            )
            worker = (await session.exec(query)).first()
            if worker is None:
                return
            identity = worker_identity(
                worker.friendly_name, json.loads(self.cipher.decrypt(worker.attributes_enc, "worker.attributes"))
            )
            data = {
                "channel_sid": notice.channel_sid,
                "task_sid": task.sid,
                "identity": identity,
                "status": task.assignment_status,
            }
            await add_for_customer(session, self.cipher, notice.channel_sid, "agent.left", data)
            await session.commit()

    @activity.defn(name="end_closed_routing")
    async def end_closed_routing(self, req: EndClosedRouting) -> None:
        """A conversation closed for good ends its routing as a chat the business ended: a task
        still waiting for an agent is canceled, one an agent holds wraps up (the agent completes
        it); everyone on the channel hears ``chat.ended`` (idempotent: a task no longer live is
        left as it is)."""
        async with self.db.session() as session:
            task = await session.get(Task, req.task_sid)
        if task is None:
            return
        status = {"pending": "canceled", "reserved": "canceled", "assigned": "wrapping"}.get(task.assignment_status)
        if status is not None:
            change = TaskChange(task.sid, status, reason=chat_ended_reason("system"))
            try:
                await self.routing.change_task(task.workspace_sid, change)
            except WorkflowUpdateFailedError as exc:  # it moved on meanwhile (answered, completed)
                activity.logger.info("task %s of closed channel %s: %s", task.sid, req.channel_sid, exc.cause)
        async with self.db.write_session() as session:
            await add_for_channel(
                session, self.cipher, req.channel_sid, "chat.ended", {"channel_sid": req.channel_sid, "by": "system"}
            )
            await session.commit()

    @activity.defn(name="follow_task")
    async def follow_task(self, notice: ChannelNotice) -> None:
        """A transfer: the channel follows the new task."""
        try:
            await self.client.get_workflow_handle(notice.channel_sid).signal(
                "follow_task", args=[notice.replaces_task_sid, notice.task_sid]
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise

    @activity.defn(name="post_routing_event")
    async def post_routing_event(self, callback: EventCallback) -> None:
        """One event in TaskRouter's event callback shape."""
        event = callback.event
        form = {
            "EventType": event.event_type,
            "EventDescription": event.description,
            "ResourceType": event.resource_type,
            "ResourceSid": event.resource_sid,
            "WorkspaceSid": callback.workspace_sid,
            "WorkspaceName": callback.workspace_name,
            "Sid": event.sid,
            "Timestamp": str(int(event.timestamp)),
            "TimestampMs": str(int(event.timestamp * 1000)),
        }
        for key, value in (
            ("TaskSid", event.task_sid),
            ("WorkerSid", event.worker_sid),
            ("ReservationSid", event.reservation_sid),
            ("TaskQueueSid", event.queue_sid),
            ("WorkflowSid", event.workflow_sid),
        ):
            if value:
                form[key] = value
        for key, value in event.data.items():
            if value is not None:
                form["".join(part.capitalize() for part in key.split("_"))] = str(value)
        try:
            response = await self.outbound.request("POST", callback.url, data=form, timeout_seconds=10)
        except OutboundRefused as exc:
            # Final: retrying cannot change the operator's policy, and later events wait in line.
            raise ApplicationError(f"{callback.url}: {exc}", type="OutboundRefused", non_retryable=True) from exc
        except httpx.HTTPError as exc:
            raise ApplicationError(f"{callback.url}: {exc.__class__.__name__}: {exc}") from exc
        if not response.is_success:
            raise ApplicationError(f"{callback.url} answered HTTP {response.status_code}")

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.create_task,
            self.load_routing,
            self.desk_presence,
            self.store_routing,
            self.join_channel,
            self.end_channel_interaction,
            self.end_closed_routing,
            self.follow_task,
            self.post_routing_event,
        ]
