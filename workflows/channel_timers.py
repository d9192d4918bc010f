"""A conversation's own timers (Conversations' ``Timers.Inactive`` and ``Timers.Closed``), as the
channel workflow keeps them: both count from the conversation's last activity (a stored message, a
state made active, the timers set), the inactive one replacing the deployment's inactivity period.
Pure and deterministic: the run reads the clock from ``workflow.now()``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from workflows.messages import ConversationTimers, ConversationUpdate

# Runs that began before conversations had their own lifecycle replay as they ran.
TIMERS_PATCH = "conversation-timers"


class ConversationClock:
    def __init__(self, timers: ConversationTimers | None, since: datetime) -> None:
        self.timers = timers or ConversationTimers()
        # The last activity: both timers count from here.
        self.since = since

    @classmethod
    def carried(cls, timers: ConversationTimers | None, since: float | None, now: datetime) -> ConversationClock:
        return cls(timers, datetime.fromtimestamp(since, UTC) if since is not None else now)

    @property
    def set(self) -> bool:
        return self.timers.set

    def since_timestamp(self) -> float:
        return self.since.timestamp()

    def inactivity(self, deployment: timedelta) -> timedelta:
        """How long the conversation stays active without activity."""
        return deployment if self.timers.inactive is None else timedelta(seconds=self.timers.inactive)

    def closed_at(self) -> datetime | None:
        if self.timers.closed is None:
            return None
        return self.since + timedelta(seconds=self.timers.closed)

    def closed_due(self, now: datetime) -> bool:
        closed_at = self.closed_at()
        return closed_at is not None and now >= closed_at

    def changed(self, update: ConversationUpdate) -> ConversationTimers | None:
        """The timers ``update`` leaves (0 removes one), or None when it sets none."""
        if update.timer_inactive is None and update.timer_closed is None:
            return None
        timers = replace(self.timers)
        if update.timer_inactive is not None:
            timers.inactive = update.timer_inactive or None
        if update.timer_closed is not None:
            timers.closed = update.timer_closed or None
        return timers
