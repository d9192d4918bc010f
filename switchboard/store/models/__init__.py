"""SQLModel tables, one module per resource family. Columns ending in ``_enc`` hold AES-GCM
ciphertext (see ``store.crypto``); columns ending in ``_hash`` hold keyed hashes used for lookups,
never the plaintext. Importing this package registers every table with ``SQLModel.metadata``."""

from switchboard.store.models.addresses import AddressConfiguration
from switchboard.store.models.agents import AgentFeedItem, ChannelAgent
from switchboard.store.models.api_keys import ApiKey
from switchboard.store.models.base import utcnow
from switchboard.store.models.bindings import ConversationBinding, DeliveryReceipt
from switchboard.store.models.business_hours import BusinessHours
from switchboard.store.models.canned import CannedResponse
from switchboard.store.models.chat import Channel, Member, Message, Service
from switchboard.store.models.conversation_hooks import ConversationHookConfig
from switchboard.store.models.conversation_users import ConversationRole, ConversationUser, UserConversationSetting
from switchboard.store.models.delivery import MessageDelivery
from switchboard.store.models.desks import DeskConnection
from switchboard.store.models.flex import Contact, FlexFlow, IntegrationFailure
from switchboard.store.models.interactions import FlexInteraction, FlexInteractionInvite
from switchboard.store.models.notes import ConversationNote
from switchboard.store.models.ratings import ChatRating
from switchboard.store.models.retention import AuditEvent, Erasure
from switchboard.store.models.revocations import TokenRevocation
from switchboard.store.models.studio import StudioExecution, StudioFlow, StudioFlowRevision, StudioStep
from switchboard.store.models.taskrouter import (
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
)
from switchboard.store.models.webchat import CustomerFeedItem, MediaObject

__all__ = [
    "AddressConfiguration",
    "AgentFeedItem",
    "ApiKey",
    "AuditEvent",
    "BusinessHours",
    "CannedResponse",
    "Channel",
    "ChannelAgent",
    "ChatRating",
    "Contact",
    "ConversationBinding",
    "ConversationHookConfig",
    "ConversationNote",
    "ConversationRole",
    "ConversationUser",
    "CustomerFeedItem",
    "DeliveryReceipt",
    "DeskConnection",
    "Erasure",
    "FlexFlow",
    "FlexInteraction",
    "FlexInteractionInvite",
    "IntegrationFailure",
    "MediaObject",
    "Member",
    "Message",
    "MessageDelivery",
    "Reservation",
    "RoutingEventRow",
    "RoutingWorkflow",
    "Service",
    "StudioExecution",
    "StudioFlow",
    "StudioFlowRevision",
    "StudioStep",
    "Task",
    "TaskChannel",
    "TaskQueue",
    "TokenRevocation",
    "UserConversationSetting",
    "Worker",
    "WorkerChannel",
    "Workspace",
    "WorkspaceActivity",
    "utcnow",
]
