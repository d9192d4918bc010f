"""Builds and runs the Temporal worker: the channel workflow and its activities."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from datetime import timedelta
from typing import Self

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
)
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.delivery import TWILIO_STATUS_PATH, DeliveryActivities, MetaAccount, TwilioAccount
from activities.http import HttpActivities
from activities.retention import RetentionActivities
from activities.routing import RoutingActivities
from activities.store import StoreActivities
from activities.studio import StudioActivities
from switchboard.observability import configure_logging, serve_worker_metrics, temporal_runtime
from switchboard.outbound_http import OutboundClient
from switchboard.settings import Settings, load_settings
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.db import Database
from switchboard.store.fanout import FeedPublisher
from switchboard.store.migrate import migrate
from switchboard.store.payload_codec import data_converter
from workflows import search_attributes
from workflows.channel import ChannelWorkflow
from workflows.retention import ContactErasure, RetentionSweep
from workflows.routing.router import WorkspaceRouter
from workflows.starter import ChannelClient

log = logging.getLogger(__name__)


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register Switchboard's search attributes on clusters that lack them (the dev server gets
    them from its command line)."""
    existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in search_attributes.ALL
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )


@dataclass
class Workers:
    """``async with`` runs both workers: the workflow worker starts first and stops last."""

    workflows: Worker
    activities: Worker

    async def __aenter__(self) -> Self:
        self._running = contextlib.AsyncExitStack()
        await self._running.enter_async_context(self.workflows)
        await self._running.enter_async_context(self.activities)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._running.aclose()


def retention_schedule_id(settings: Settings) -> str:
    return f"retention-{settings.task_queue}"


async def ensure_retention_schedule(client: Client, settings: Settings) -> None:
    """The schedule that runs the retention sweep, made once per task queue (every worker tries;
    the first one creates it, and a changed interval is applied)."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionSweep.run, id=f"retention-sweep-{settings.task_queue}", task_queue=settings.task_queue
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(minutes=settings.retention_interval_minutes))]
        ),
        # A sweep still running when the next is due is not doubled.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(retention_schedule_id(settings), schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(retention_schedule_id(settings))
        await handle.update(lambda _: ScheduleUpdate(schedule=schedule))


# The project's workflow modules are imported once, not again in every workflow's sandbox (a
# new channel would otherwise re-import them all): they hold no mutable module state
# (tests/test_structure.py), and the replay tests guard their determinism.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows")
)


def build_workers(client: Client, settings: Settings, db: Database) -> Workers:
    cipher = Cipher.from_setting(settings.encryption_keys, settings.encryption_key_id)
    # Requests to URLs flows, REST callers and providers' messages choose.
    outbound = OutboundClient.from_setting(settings.outbound_allowed_networks)
    store = StoreActivities(
        db=db,
        cipher=cipher,
        hasher=KeyedHasher.from_setting(settings.hash_key),
        channels=ChannelClient(client, settings.task_queue),
    )
    activities = [
        *store.all(),
        *StudioActivities(db, cipher).all(),
        *RoutingActivities(
            db,
            cipher,
            client,
            settings.task_queue,
            outbound,
            desk_grace_seconds=settings.desk_disconnect_grace_seconds,
            desk_disconnect_activity=settings.desk_disconnect_activity,
            time_zone=settings.taskrouter_time_zone,
        ).all(),
        *HttpActivities(
            db,
            settings.auth_token,
            outbound,
            cipher,
            settings.function_urls,
            account_sid=settings.account_sid,
            hasher=KeyedHasher.from_setting(settings.hash_key),
        ).all(),
        *RetentionActivities(db, cipher, client, settings.task_queue, settings.retention_days).all(),
        *DeliveryActivities(
            db,
            cipher,
            TwilioAccount(
                api_url=settings.twilio_api_url,
                account_sid=settings.twilio_account_sid,
                auth_token=settings.twilio_auth_token,
                status_callback=f"{settings.base_url}{TWILIO_STATUS_PATH}",
                base_url=settings.base_url,
                media_key=settings.jwt_secret,
            ),
            MetaAccount(settings.meta_graph_url, settings.meta_access_token),
            timeout_seconds=settings.provider_timeout_seconds,
        ).all(),
    ]
    # Two workers on one task queue, so that shutdown goes in order. Some activities wait on a
    # workflow update (a task handed to its router, an agent joining a channel) that workflow
    # workers serve: the activity worker stops first, while workflows are still served, and only
    # then the workflow worker (which runs the local activities itself).
    workflow_worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[ChannelWorkflow, WorkspaceRouter, RetentionSweep, ContactErasure],
        activities=activities,
        no_remote_activities=True,
        workflow_runner=WORKFLOW_RUNNER,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    activity_worker = Worker(
        client,
        task_queue=settings.task_queue,
        activities=activities,
        # Its own identity: the server must not take this worker's shutdown for the other's.
        identity=f"{client.identity}-activities",
        # Lets in-flight activities finish on shutdown instead of being retried elsewhere.
        graceful_shutdown_timeout=timedelta(seconds=10),
        # An external integration's batch heartbeats its progress after every post: sent within a
        # second, so an attempt retried after this worker is lost repeats at most that second's.
        max_heartbeat_throttle_interval=timedelta(seconds=1),
    )
    return Workers(workflow_worker, activity_worker)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    client = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        runtime=temporal_runtime(settings),
    )
    await ensure_search_attributes(client, settings.temporal_namespace)
    await ensure_retention_schedule(client, settings)
    # Feed rows the activities write wake the API replicas' sockets (through Redis, or directly
    # when the API runs on the same event loop, as in the dev stack).
    db = Database(settings.resolved_database_url, FeedPublisher(settings.redis_url, settings.resolved_database_url))
    await migrate(db.engine)
    try:
        async with build_workers(client, settings, db):
            log.info("worker polling task queue %s on %s", settings.task_queue, settings.temporal_address)
            await stop.wait()
    finally:
        await db.dispose()


async def main() -> None:
    settings = load_settings().require_secrets()
    configure_logging(settings)
    serve_worker_metrics(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_worker(settings, stop)


if __name__ == "__main__":
    asyncio.run(main())
