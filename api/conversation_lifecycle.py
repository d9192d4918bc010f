"""Conversations' ``State`` and ``Timers`` (``Timers.Inactive``, ``Timers.Closed``) over a chat
channel: reading them from REST forms with Twilio's limits and errors, the ``state`` and ``timers``
a conversation shows, and applying a change through the channel's workflow (which runs the timers
and serialises a close with the messages racing it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import WorkflowUpdateFailedError

from api.channels import config_for_row, update_failure
from api.conversations import closed_refusal
from api.deps import AppContext
from api.twilio_shape import TwilioError, invalid, iso
from switchboard.store.models import Channel
from workflows.messages import ChannelStatus, ConversationUpdate, conversation_state

# Twilio's codes: a timer below its minimum, a timer that is not an ISO 8601 duration, a
# conversation created closed. A closed conversation's refusal (50377) is ``api.conversations``'.
INACTIVE_TOO_SHORT = 50375
CLOSED_TOO_SHORT = 50376
INACTIVE_NOT_A_DURATION = 50379
CLOSED_NOT_A_DURATION = 50380
CREATED_CLOSED = 50384
# Twilio's minimums.
INACTIVE_MINIMUM = timedelta(minutes=1)
CLOSED_MINIMUM = timedelta(minutes=10)

DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: str) -> timedelta | None:
    """An ISO 8601 duration in weeks, days, hours, minutes and seconds (``PT10M``, ``P1D``,
    ``PT1H30M``), or None; years and months have no fixed length and are not taken."""
    match = DURATION.match(value.strip().upper())
    if match is None:
        return None
    parts = {name: float(number) for name, number in match.groupdict().items() if number is not None}
    return timedelta(**parts)


def timer_seconds(value: str | None, parameter: str) -> float | None:
    """A timer's seconds (0: the timer is removed, as ``PT0S``), None when not given; refuses what
    Twilio refuses, naming the parameter."""
    if value is None:
        return None
    inactive = parameter == "Timers.Inactive"
    duration = parse_duration(value)
    if duration is None:
        raise TwilioError(
            400,
            f"Invalid parameter {parameter}: {value!r} is not an ISO 8601 duration (for example PT10M, PT1H, P1D)",
            INACTIVE_NOT_A_DURATION if inactive else CLOSED_NOT_A_DURATION,
        )
    minimum = INACTIVE_MINIMUM if inactive else CLOSED_MINIMUM
    if timedelta(0) < duration < minimum:
        raise TwilioError(
            400,
            f"Invalid parameter {parameter}: should be greater or equal to {int(minimum.total_seconds() // 60)} "
            f"minute{'s' if minimum > INACTIVE_MINIMUM else ''} (PT0S removes the timer)",
            INACTIVE_TOO_SHORT if inactive else CLOSED_TOO_SHORT,
        )
    return duration.total_seconds()


@dataclass(frozen=True)
class LifecycleChange:
    """What a create or update asks of the conversation's lifecycle."""

    state: str | None
    timer_inactive: float | None
    timer_closed: float | None

    @property
    def empty(self) -> bool:
        return self.state is None and self.timer_inactive is None and self.timer_closed is None


def lifecycle_change(
    channel: Channel | None, state: str | None, timers_inactive: str | None, timers_closed: str | None
) -> LifecycleChange:
    """The change a form asks for (``channel`` None: a conversation being created), checked: a
    closed conversation takes none, a new one is not created closed, and a contact's short-lived
    channel (which closes when quiet) has no inactive state or timers of its own."""
    if channel is not None:
        check_not_closed(channel)
    if state == "initializing":
        raise invalid("State", "a conversation is not set to initializing")
    if channel is None and state == "closed":
        raise TwilioError(400, "Invalid parameter State: a conversation cannot be created closed", CREATED_CLOSED)
    change = LifecycleChange(
        state,
        timer_seconds(timers_inactive, "Timers.Inactive"),
        timer_seconds(timers_closed, "Timers.Closed"),
    )
    if channel is not None and not channel.long_lived:
        for parameter, given in (
            ("Timers.Inactive", change.timer_inactive is not None),
            ("Timers.Closed", change.timer_closed is not None),
            ("State", state == "inactive"),
        ):
            if given:
                raise invalid(
                    parameter,
                    "a contact's short-lived channel closes after the deployment's inactivity period and "
                    "has no inactive state or timers of its own (State=closed closes it now)",
                )
    return change


def state_of(channel: Channel) -> str:
    """Twilio's state of the channel: ``closed`` when closed for good, or a contact's short-lived
    channel that closed (its customer's next message opens a new channel); ``inactive`` a quiet
    long-lived one (it reopens with its next message)."""
    return conversation_state(ChannelStatus(channel.status), channel.long_lived)


def check_not_closed(channel: Channel) -> None:
    """A conversation closed for good takes no change (``api.conversations``' rule)."""
    if (refusal := closed_refusal(channel)) is not None:
        raise TwilioError(refusal.status, refusal.message, refusal.code)


def render_timers(channel: Channel) -> dict[str, Any]:
    """Twilio's ``timers``: when the conversation goes inactive and closed if nothing happens
    meanwhile (each while it is still ahead), counting from its last activity."""
    if state_of(channel) == "closed":
        return {}
    since = channel.timers_from or channel.date_updated
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    timers: dict[str, Any] = {}
    if channel.timer_inactive is not None and channel.status == ChannelStatus.ACTIVE:
        timers["date_inactive"] = iso(since + timedelta(seconds=channel.timer_inactive))
    if channel.timer_closed is not None:
        timers["date_closed"] = iso(since + timedelta(seconds=channel.timer_closed))
    return timers


async def apply_lifecycle(
    context: AppContext, session: AsyncSession, channel: Channel, change: LifecycleChange
) -> None:
    """Makes ``change`` through the channel's workflow; ``channel`` then shows it."""
    if change.empty:
        return
    config = await config_for_row(context, session, channel)
    update = ConversationUpdate(change.state, change.timer_inactive, change.timer_closed)
    try:
        await context.channels.update_conversation(config, update)
    except WorkflowUpdateFailedError as exc:
        raise update_failure(exc) from exc
    await session.refresh(channel)
