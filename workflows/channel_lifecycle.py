"""Conversations' lifecycle in the channel workflow: the state changes REST callers ask for
(``State`` active, inactive, closed; ``Timers``), applied by the run in order between message
writes, and the close for good (by REST or the conversation's closed timer): the messages the
channel took first are stored, every later one refused, and the conversation's routing ends."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Protocol

from temporalio import workflow

from workflows import activity_options
from workflows.channel_handover import Handover
from workflows.channel_inbox import Inbox
from workflows.channel_integration import ConversationIntegration
from workflows.channel_timers import TIMERS_PATCH, ConversationClock
from workflows.messages import (
    CarriedState,
    ChannelConfig,
    ChannelStatus,
    ConversationUpdate,
    EndClosedRouting,
    SetConversationTimers,
)
from workflows.studio.messages import EndExecution

with workflow.unsafe.imports_passed_through():
    from activities.routing import RoutingActivities
    from activities.store import StoreActivities


class LifecycleHost(Protocol):
    """What the lifecycle reads and drives of the channel's run."""

    config: ChannelConfig
    status: ChannelStatus
    last_activity: datetime
    inbox: Inbox
    handover: Handover
    integration: ConversationIntegration
    quiet_timer: asyncio.Task[None] | None

    async def set_status(self, status: ChannelStatus, *, store: bool = True, reason: str = "TIMER") -> None: ...

    async def store_pending(self) -> bool: ...


class ConversationLifecycle:
    def __init__(self, host: LifecycleHost, carried: CarriedState | None) -> None:
        self.host = host
        self.clock = ConversationClock.carried(
            host.config.timers, carried.timers_from if carried else None, workflow.now()
        )
        # Callers' changes by ticket, in order; ``done`` holds the tickets applied, and
        # ``close_ticket`` the one a close answers once stored.
        self.requests: list[tuple[int, ConversationUpdate]] = []
        self.tickets = 0
        self.done: set[int] = set()
        self.close_ticket: int | None = None
        self.closing = False
        self.patched: bool | None = None
        # The closed timer armed while the integration holds the conversation open.
        self.closed_timer: asyncio.Task[None] | None = None

    def applies(self) -> bool:
        """Whether the conversation's own lifecycle applies: it has timers or a caller changed its
        state (runs that began before replay as they ran)."""
        if self.patched is None:
            if not (self.clock.set or self.requests):
                return False
            self.patched = workflow.patched(TIMERS_PATCH)
        return self.patched

    async def request(self, update: ConversationUpdate) -> None:
        """An update handler's change: answered once the run applied it (refused once closed)."""
        host = self.host
        self.tickets += 1
        ticket = self.tickets
        self.requests.append((ticket, update))
        await workflow.wait_condition(lambda: ticket in self.done or (host.handover.active and not self.closing))
        if ticket not in self.done:
            raise host.handover.closed()
        self.done.discard(ticket)

    def closed_due(self) -> bool:
        return self.applies() and self.clock.closed_due(workflow.now())

    def next_deadline(self, inactivity: timedelta) -> datetime:
        """When the quiet timer fires next: the inactive deadline while active, and the
        conversation's closed timer."""
        host = self.host
        deadlines = []
        if host.status == ChannelStatus.ACTIVE:
            deadlines.append(host.last_activity + (self.clock.inactivity(inactivity) if self.applies() else inactivity))
        if self.applies() and (closed_at := self.clock.closed_at()) is not None:
            deadlines.append(closed_at)
        return min(deadlines) if deadlines else workflow.now()

    def arm_closed_timer(self) -> None:
        """While the integration holds the conversation open, its closed timer still runs."""
        self.closed_timer = None
        if self.applies() and (closed_at := self.clock.closed_at()) is not None:
            wait = (closed_at - workflow.now()).total_seconds()
            self.closed_timer = self.host.quiet_timer = asyncio.create_task(asyncio.sleep(wait))

    def closed_timer_fired(self) -> bool:
        return self.closed_timer is not None and self.closed_timer.done()

    def rearm(self) -> None:
        """The deadlines moved: the next quiet timer is armed afresh."""
        host = self.host
        if host.quiet_timer is not None and not host.quiet_timer.done():
            host.quiet_timer.cancel()
        host.quiet_timer = None

    async def apply_requests(self) -> bool:
        """Applies the callers' state and timer changes in order; True once one closes."""
        host = self.host
        while self.requests:
            ticket, update = self.requests.pop(0)
            timers = self.clock.changed(update)
            if timers is not None:
                await workflow.execute_local_activity_method(
                    StoreActivities.set_conversation_timers,
                    SetConversationTimers(host.config.channel_sid, timers),
                    **activity_options.STORE,
                )
                host.config.timers = timers if timers.set else None
                self.clock = ConversationClock(timers, workflow.now())
                self.rearm()
            if update.state == "closed":
                self.close_ticket = ticket
                return True
            if update.state == "active" and host.status != ChannelStatus.ACTIVE:
                host.last_activity = self.clock.since = workflow.now()
                await host.set_status(ChannelStatus.ACTIVE, reason="API")
                self.rearm()
            elif update.state == "inactive" and host.status == ChannelStatus.ACTIVE:
                await host.set_status(ChannelStatus.INACTIVE, reason="API")
                self.rearm()
            self.done.add(ticket)
        return False

    async def quiet_while_inactive(self) -> bool:
        """An inactive conversation without a closed timer waits for a message or a change; True
        when nothing is left to wait for (no message, no caller, no work of its integration):
        the run may end."""
        host = self.host
        await workflow.wait_condition(
            lambda: (
                bool(host.inbox.pending)
                or bool(self.requests)
                or (not host.integration.busy and workflow.all_handlers_finished())
            )
        )
        return not host.inbox.pending and not self.requests

    async def close(self) -> None:
        """Closes the conversation for good: the messages that came first are stored, those after
        are refused (or, on a contact's channel, go to its next channel); its routing ends."""
        host = self.host
        await host.store_pending()
        # Nothing awaits between the last write and here: every later message meets the close.
        host.handover.final = True
        host.handover.active = True
        self.closing = True
        self.rearm()
        await host.set_status(ChannelStatus.CLOSED, reason="TIMER" if self.close_ticket is None else "API")
        if self.close_ticket is not None:
            self.done.add(self.close_ticket)
        self.requests.clear()  # changes asked for after the close are refused
        self.closing = False
        tasks, studio = host.integration.tasks, host.integration.studio
        if tasks.creation is not None:
            await workflow.wait_condition(lambda: tasks.creation is None)
        if tasks.open_task_sid is not None:
            await workflow.execute_local_activity_method(
                RoutingActivities.end_closed_routing,
                EndClosedRouting(host.config.channel_sid, tasks.open_task_sid),
                **activity_options.STORE,
            )
            tasks.open_task_sid = None
        if studio.running and studio.execution is not None:
            await studio.end(EndExecution(studio.execution.execution_sid))
        await host.handover.until_quiet()
