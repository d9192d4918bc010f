"""A closed channel's last duty: messages that raced the close go to the contact's next channel (its
successor), and updates are refused, naming it (a short-lived channel that went quiet) or as
Conversations refuses a conversation closed for good (``ConversationClosed``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows import activity_options
from workflows.channel_inbox import Inbox
from workflows.messages import ChannelConfig, ClaimSuccessor, ForwardMessages, InboundMessage, KnownKeys

with workflow.unsafe.imports_passed_through():
    from activities.store import StoreActivities

# Messages handed on by one activity call.
HAND_OVER_BATCH = 100


class ChannelClosedError(ApplicationError):
    """Details: the successor channel's SID, when the contact's conversation continues there."""

    def __init__(self, channel_sid: str, successor_sid: str | None) -> None:
        where = f"; the contact's conversation continues on {successor_sid}" if successor_sid else ""
        details = [successor_sid] if successor_sid else []
        super().__init__(f"channel {channel_sid} is closed{where}", *details, type="ChannelClosed", non_retryable=True)


class ConversationClosedError(ApplicationError):
    """A conversation closed for good takes no message or change (Twilio's 50377)."""

    def __init__(self, channel_sid: str) -> None:
        super().__init__(
            f"Can't update conversation {channel_sid} as it's in final closed state",
            type="ConversationClosed",
            non_retryable=True,
        )


class Handover:
    def __init__(self, config: ChannelConfig, inbox: Inbox, changed: Callable[[], None]) -> None:
        self.config = config
        self.inbox = inbox
        self.changed = changed
        # Set once this run knows its channel is closed and only hands messages on.
        self.active = False
        # Set once the channel is closed for good (``CLOSED``), not only quiet.
        self.final = False
        self.successor_sid: str | None = None

    def closed(self) -> ApplicationError:
        if self.final:
            return ConversationClosedError(self.config.channel_sid)
        return ChannelClosedError(self.config.channel_sid, self.successor_sid)

    async def quiet_after_close(self) -> bool:
        """After the close: True once nothing is pending and every handler finished (the run may
        end), False as soon as a message is pending."""
        await workflow.wait_condition(lambda: bool(self.inbox.pending) or workflow.all_handlers_finished())
        return not self.inbox.pending

    async def until_quiet(self) -> None:
        """The channel is closed for contacts: pass every pending message to the contact's next
        channel until no message and no handler is left, then the run may end."""
        self.active = True
        while not await self.quiet_after_close():
            await self._hand_over(self.inbox.take(HAND_OVER_BATCH))

    async def _hand_over(self, batch: list[InboundMessage]) -> None:
        # REST callers addressed this channel explicitly; their update is refused instead.
        batch = [m for m in batch if m.key not in self.inbox.awaited]
        if not batch:
            return
        if self.config.contact_address is None:
            # Only a contact's channel has a next channel; nobody else signals a closed one.
            workflow.logger.warning("%d messages for closed channel %s dropped", len(batch), self.config.channel_sid)
            return
        known = await workflow.execute_local_activity_method(
            StoreActivities.known_message_keys,
            KnownKeys(self.config.service_sid, [m.key for m in batch]),
            **activity_options.STORE,
        )
        fresh = [m for m in batch if m.key not in set(known)]
        if not fresh:
            return
        if self.successor_sid is None:
            self.successor_sid = await self._claim_successor()
        successor = replace(self.config, channel_sid=self.successor_sid)
        if workflow.patched("successor-starts-fresh"):
            # A new channel, as a webhook would open it: what a caller set on this one (its unique
            # name above all, which the successor's row could not be stored with) stays here.
            successor = replace(
                successor,
                unique_name=None,
                friendly_name=self.config.contact_address,
                attributes=None,
                attributes_written=False,
            )
        await workflow.execute_local_activity_method(
            StoreActivities.forward_messages, ForwardMessages(successor, fresh), **activity_options.STORE
        )
        for message in fresh:
            self.inbox.remember(message.key)
        self.changed()

    async def refuse(self) -> NoReturn:
        """Refuse an update on this closed channel, naming the contact's next channel."""
        if self.config.contact_address is None:
            raise self.closed()
        if self.successor_sid is None:
            self.successor_sid = await self._claim_successor()
        raise ChannelClosedError(self.config.channel_sid, self.successor_sid)

    async def _claim_successor(self) -> str:
        return await workflow.execute_local_activity_method(
            StoreActivities.claim_successor_channel, ClaimSuccessor(self.config), **activity_options.STORE
        )
