"""SQLModel tables, one module per resource family. Columns ending in ``_enc`` hold AES-GCM
ciphertext (see ``store.crypto``); columns ending in ``_hash`` hold keyed hashes used for lookups,
never the plaintext. Importing this package registers every table with ``SQLModel.metadata``."""

from store.models.agents import AgentFeedItem, ChannelAgent
from store.models.api_keys import ApiKey
from store.models.base import utcnow
from store.models.chat import Channel, Member, Message, Service
from store.models.delivery import MessageDelivery
from store.models.desks import DeskConnection
from store.models.flex import Contact, FlexFlow, IntegrationFailure
from store.models.retention import AuditEvent, Erasure
from store.models.revocations import TokenRevocation
from store.models.studio import StudioExecution, StudioFlow, StudioFlowRevision, StudioStep
from store.models.taskrouter import (
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
from store.models.webchat import CustomerFeedItem, MediaObject

__all__ = [
    "AgentFeedItem",
    "ApiKey",
    "AuditEvent",
    "Channel",
    "ChannelAgent",
    "Contact",
    "CustomerFeedItem",
    "DeskConnection",
    "Erasure",
    "FlexFlow",
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
    "Worker",
    "WorkerChannel",
    "Workspace",
    "WorkspaceActivity",
    "utcnow",
]
