"""Dataclasses that cross the workflow boundary: workflow inputs, signal and update arguments,
query answers and activity inputs/outputs of the channel workflow."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from workflows.studio.messages import ExecutionState

# Conversations' ``Source`` of a message, by the channel's type (``SDK`` for the others).
MESSAGE_SOURCES = {"sms": "SMS", "whatsapp": "WHATSAPP", "facebook": "MESSENGER"}


class ChannelStatus(StrEnum):
    ACTIVE = "ACTIVE"
    # Quiet: a long-lived channel reopens with its next message; a short-lived one hands the
    # contact's next message to a new channel.
    INACTIVE = "INACTIVE"
    # Closed for good (Conversations' ``closed``, by REST or the conversation's closed timer): it
    # takes no message or change again; a contact's next message opens a new channel.
    CLOSED = "CLOSED"


def conversation_state(status: ChannelStatus, long_lived: bool) -> str:
    """Twilio Conversations' state of a channel: ``closed`` when closed for good, or a contact's
    short-lived channel that closed (its customer's next message opens a new channel);
    ``inactive`` a quiet long-lived one (it reopens with its next message)."""
    if status == ChannelStatus.ACTIVE:
        return "active"
    if status == ChannelStatus.CLOSED:
        return "closed"
    return "inactive" if long_lived else "closed"


class Origin(StrEnum):
    """Who started a channel run, which decides what a run does when its channel was closed."""

    # A customer wrote (webhook): a closed short-lived channel hands the message to a new channel.
    CONTACT = "contact"
    # A REST caller addressed this channel by SID: the channel itself reopens.
    API = "api"
    # A REST caller changes the conversation's state or timers: the channel opens as it stands
    # (an inactive one stays inactive until the change or a message says otherwise).
    STATE = "state"


@dataclass
class ConversationTimers:
    """A conversation's own timers (Conversations' ``Timers.Inactive`` and ``Timers.Closed``),
    in seconds after its last activity; None: not set."""

    inactive: float | None = None
    closed: float | None = None

    @property
    def set(self) -> bool:
        return self.inactive is not None or self.closed is not None


@dataclass
class ConversationUpdate:
    """A REST caller's change to a conversation's lifecycle: ``state`` (active, inactive or
    closed) and its timers (seconds; 0 removes a timer; None leaves it as it is)."""

    state: str | None = None
    timer_inactive: float | None = None
    timer_closed: float | None = None


@dataclass
class MediaRef:
    content_type: str
    url: str
    # Media uploaded to Switchboard (``ME…``) name themselves; a provider's media has only a URL.
    sid: str = ""
    filename: str = ""
    size: int = 0

    def record(self) -> dict[str, Any]:
        """As stored and shown: the fields this media has."""
        return {name: value for name, value in vars(self).items() if value or name in ("content_type", "url")}


@dataclass
class InboundMessage:
    """A message entering a channel, from a customer, an agent or a REST caller."""

    # Idempotency key: provider message id, REST idempotency token, or minted at the edge.
    key: str
    author: str
    body: str | None
    attributes: str = "{}"
    media: list[MediaRef] = field(default_factory=list)
    # Whether the channel's integration sees this message (runs or feeds its flow, posts it to the
    # external URL, opens a task). Like Twilio's webhooks: customers' and agents' messages do; REST
    # posts only with ``X-Twilio-Webhook-Enabled: true``; a flow's own messages never do.
    runs_integration: bool = True
    # Whether it may also begin an interaction when none is open (start the Studio flow, create the
    # task): a customer's message, or a REST post asking for the webhooks. An agent's never does:
    # it still feeds a running flow and reaches an external integration, but a customer who left
    # is not put back in a queue or a flow by the agent's words.
    begins_interaction: bool = True
    # Taken only while the conversation is with this task (an agent's first words on a
    # conversation it started): a conversation that moved on to another task refuses it.
    requires_task: str | None = None
    # Conversations' post-event webhooks hear of it (``onMessageAdded``) with this ``Source``
    # (``SDK``, ``API``, ``SMS``, ``WHATSAPP``); None: no post-event target wanted it when it was sent.
    event_source: str | None = None


@dataclass
class ConversationEvent:
    """A Conversations post-event (``onMessageAdded``, ``onConversationAdded``, ...) the channel
    posts to its webhooks: a stored message by ``index`` (read from the store when posted), or
    the event's own ``form``."""

    event_type: str
    index: int | None = None
    source: str = "API"
    form: dict[str, str] = field(default_factory=dict)


@dataclass
class ConversationEventPosts:
    """A batch of a channel's post-events for ``post_conversation_events``."""

    channel_sid: str
    service_sid: str
    events: list[ConversationEvent]


@dataclass
class StoredMessage:
    sid: str
    index: int
    key: str
    # True when the key was already stored (a provider retry): nothing new was written.
    duplicate: bool = False


@dataclass
class AppendedMessages:
    """What ``append_messages`` stored, and the channel's totals as the store has them: the store
    is authoritative, since a write can outlive a workflow task that failed to record it."""

    stored: list[StoredMessage]
    messages_count: int
    last_index: int | None


@dataclass
class MessagingBinding:
    """How an SMS or WhatsApp participant of a conversation is reached (Conversations v1): its
    ``address``, through the business's ``proxy_address``; ``type`` is ``sms`` or ``whatsapp``."""

    type: str
    address: str
    proxy_address: str


@dataclass
class MemberSpec:
    identity: str
    role_sid: str | None = None
    attributes: str = "{}"
    # An SMS or WhatsApp participant (its identity is the address).
    binding: MessagingBinding | None = None


@dataclass
class MemberView:
    sid: str
    identity: str
    # True when a member with this identity already existed.
    existing: bool = False
    # An SMS or WhatsApp participant: the channel's messages are delivered to it.
    bound: bool = False


@dataclass
class Integration:
    """A Flex Flow's integration, as the channel runs it."""

    type: str  # studio | external | task
    flow_sid: str | None = None
    url: str | None = None
    # How an ``external`` integration calls ``url``: POST (a form) or GET (a query string).
    method: str = "POST"
    workspace_sid: str | None = None
    workflow_sid: str | None = None
    channel: str | None = None
    priority: int = 0
    timeout: int = 86400
    creation_on_message: bool = False
    retry_count: int = 3
    # A ``studio`` integration's webhook, as a flow's trigger names it (``WebhookSid``); None: the
    # one Flex gives the channel (``sids.flow_webhook_sid``).
    webhook_sid: str | None = None
    # Conversations' integration (an address configuration, a conversation's ``studio`` webhook):
    # its flow's trigger fires ``incomingConversationMessage``, its webhook is posted Conversations'
    # ``onMessageAdded``.
    conversations: bool = False


@dataclass
class TriggerWebhook:
    """A channel's ``trigger`` webhook: the messages whose body names one of its keywords are
    posted to ``url`` in Chat's webhook shape."""

    url: str
    triggers: list[str]
    method: str = "POST"
    retry_count: int = 0

    def fires_on(self, body: str | None) -> bool:
        """A keyword (a word or a phrase) stands in the body as a whole, in any case."""
        if not body:
            return False
        return any(
            re.search(rf"(?<!\w){re.escape(keyword.strip())}(?!\w)", body, re.IGNORECASE)
            for keyword in self.triggers
            if keyword.strip()
        )


@dataclass
class ChannelConfig:
    """What a channel is; fixed for its life and passed to every run."""

    channel_sid: str
    service_sid: str
    channel_type: str
    long_lived: bool
    inactivity_seconds: float
    run_message_budget: int
    flex_flow_sid: str | None = None
    # The customer's address and its keyed hash, for channels a contact opened.
    contact_address: str | None = None
    contact_hash: str | None = None
    friendly_name: str | None = None
    unique_name: str | None = None
    # JSON text; for contact channels the workflow builds Flex's attributes itself.
    attributes: str | None = None
    type: str = "private"
    created_by: str = "system"
    integration: Integration | None = None
    # The business's own address on this channel (the Flex Flow's contact identity): Studio's
    # ``flow.channel.address`` and the ``To`` of customers' messages.
    flow_address: str | None = None
    # Flex v1 Channels: the customer's display name, pre-engagement data and extra task
    # attributes (JSON text).
    contact_name: str | None = None
    pre_engagement_data: str | None = None
    task_attributes: str | None = None
    # A contact's channel whose attributes an API caller wrote (``attributes``): they stand, with
    # Flex's ``status`` kept current, instead of the attributes the workflow builds.
    attributes_written: bool = False
    # The channel's ``trigger`` webhooks (alongside its integration).
    triggers: list[TriggerWebhook] = field(default_factory=list)
    # The conversation's own timers, when a caller set them.
    timers: ConversationTimers | None = None


@dataclass
class ChannelChange:
    """A REST caller's change to a channel: the fields given change, the others stay."""

    friendly_name: str | None = None
    unique_name: str | None = None
    # JSON text.
    attributes: str | None = None
    # The channel's webhooks as stored (JSON list), and the integration they leave the channel.
    webhooks_json: str | None = None
    integration: Integration | None = None
    triggers: list[TriggerWebhook] | None = None


@dataclass
class ChangeChannel:
    """``change_channel``'s input: the change and the attributes the channel now shows."""

    channel_sid: str
    change: ChannelChange
    attributes: str


@dataclass
class CarriedState:
    """The small state a run hands to its continuation."""

    next_index: int
    messages_count: int
    members: list[MemberView]
    recent_keys: list[str]
    pending: list[InboundMessage]
    # The routing task the conversation is with, if any: the flow does not run meanwhile.
    open_task_sid: str | None = None
    execution: ExecutionState | None = None
    # Indexes of stored messages still to be posted to the external integration, in order: the
    # continuation posts them (references, not bodies, so a long queue stays a small input).
    outbox: list[int] = field(default_factory=list)
    # Conversations post-events still to be posted, in order.
    events: list[ConversationEvent] = field(default_factory=list)
    # When the conversation's timers count from (its last activity), as a POSIX timestamp.
    timers_from: float | None = None


@dataclass
class ChannelInput:
    config: ChannelConfig
    origin: Origin = Origin.CONTACT
    carried: CarriedState | None = None


@dataclass
class ChannelState:
    """Answer of the ``state`` query."""

    channel_sid: str
    status: ChannelStatus
    messages_count: int
    last_index: int | None
    members: list[MemberView]
    attributes: str
    run_messages: int
    # Messages accepted by signal but not yet stored.
    pending: int
    # Set when this run only handed late messages to the contact's next channel.
    successor_sid: str | None = None
    open_task_sid: str | None = None
    execution_sid: str | None = None
    # The Studio state the running execution is at.
    execution_step: str | None = None


# --- activity inputs and outputs -------------------------------------------------------------


@dataclass
class OpenChannel:
    config: ChannelConfig
    origin: Origin
    attributes: str


@dataclass
class OpenedChannel:
    # The channel was closed and, being short-lived, must not reopen for a contact's message.
    closed_for_contact: bool
    next_index: int
    messages_count: int
    members: list[MemberView]
    attributes: str
    # The status the channel opened in: CLOSED (final, for any caller), INACTIVE (a state change
    # opened it as it stands), or ACTIVE.
    status: ChannelStatus = ChannelStatus.ACTIVE
    # A message reopened the channel, which was inactive (Conversations' ``onConversationStateUpdated``).
    reopened: bool = False


@dataclass
class NewMessage:
    sid: str
    message: InboundMessage


@dataclass
class AppendMessages:
    channel_sid: str
    service_sid: str
    messages: list[NewMessage]


@dataclass
class SetChannelStatus:
    channel_sid: str
    status: ChannelStatus
    attributes: str


@dataclass
class SetConversationTimers:
    """The conversation's timers as they now stand, counting from now."""

    channel_sid: str
    timers: ConversationTimers


@dataclass
class EndClosedRouting:
    """A closed conversation's routing ends: its task, if still live, is canceled (waiting) or
    wrapped up (with an agent), and everyone on the channel hears ``chat.ended``."""

    channel_sid: str
    task_sid: str


@dataclass
class AddMember:
    channel_sid: str
    service_sid: str
    member_sid: str
    spec: MemberSpec


@dataclass
class KnownKeys:
    service_sid: str
    keys: list[str]


@dataclass
class ClaimSuccessor:
    config: ChannelConfig


@dataclass
class ForwardMessages:
    config: ChannelConfig
    messages: list[InboundMessage]


@dataclass
class CreateTask:
    """A routing task for a channel, from ``send-to-flex`` or a ``task`` integration."""

    task_sid: str
    workspace_sid: str
    workflow_sid: str
    task_channel: str
    # Rendered JSON text.
    attributes: str
    priority: int
    timeout: int
    channel_sid: str
    # An outbound conversation's task is offered to the agent who started it, no one else.
    only_worker: str | None = None


@dataclass
class OutboundStart:
    """An agent starts a conversation with the contact: the task of the interaction, offered to
    that agent alone (Flex's ``creation_on_message`` false), unless one is open already."""

    worker_sid: str
    workspace_sid: str
    workflow_sid: str
    task_channel: str
    # JSON text.
    attributes: str


@dataclass
class ChatWebhook:
    """An ``external`` integration's POST of one message, in Programmable Chat's webhook shape."""

    url: str
    form: dict[str, str]
    retry_count: int
    flex_flow_sid: str | None
    channel_sid: str
    message_sid: str


@dataclass
class ChatWebhookPosts:
    """Queued posts of an ``external`` integration, by reference: the activity reads each
    message from the store, posts them one after another in order, and records at
    ``IntegrationFailures`` what fails after its retries."""

    url: str
    retry_count: int
    flex_flow_sid: str | None
    channel_sid: str
    service_sid: str
    # Indexes of the channel's stored messages, in posting order.
    indexes: list[int]
    method: str = "POST"
    # Posted in Conversations' ``onMessageAdded`` shape rather than Chat's ``onMessageSent``.
    conversations: bool = False
    # The channel's trigger webhooks: each also gets the messages whose body names a keyword.
    # ``url`` is empty when only they post.
    triggers: list[TriggerWebhook] = field(default_factory=list)


@dataclass
class PostedWebhooks:
    """What a batch of posts came to: how many the integration took, how many were recorded as
    failed."""

    posted: int
    failed: int


@dataclass
class WebhookFailure:
    webhook: ChatWebhook
    attempts: int
    error: str


@dataclass
class OutboundDelivery:
    """A stored message a provider must carry to the contact (an agent's or a flow's message on
    an SMS or WhatsApp channel)."""

    message_sid: str
    channel_sid: str
    channel_type: str
    to: str
    from_: str


@dataclass
class DeliveryFailure:
    """A delivery the provider never took (retries exhausted): recorded as failed."""

    delivery: OutboundDelivery
    error: str


@dataclass
class BindingDelivery:
    """A stored message the channel's SMS and WhatsApp participants (bindings) get, each from its
    proxy address, except its own author."""

    message_sid: str
    channel_sid: str


@dataclass
class BindingFailure:
    """Deliveries to bindings the provider never took (retries exhausted): recorded as failed."""

    delivery: BindingDelivery
    error: str
