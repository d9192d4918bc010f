"""Who may do what, in one place. docs/access.md shows the same table.

=================  ======================  ===============  ================  =========  ===========================
caller             REST                    agent socket     customer socket   codec      media (upload / read)
=================  ======================  ===============  ================  =========  ===========================
account / API key  everything              no (no token)    no (no token)     yes        any channel
admin token        everything              as its worker    no                yes        any channel
supervisor token   GET routing state       as its worker;   no                no         upload: its channels;
                   (``/v1/Workspaces``)    reads any                                     read: its service's
                                           channel of its
                                           service
agent token        no                      as its worker    no                no         its channels
customer token     no                      no               its channel       no         its channel
=================  ======================  ===============  ================  =========  ===========================

"Its channels" are those the worker holds a task of (offered, accepted or wrapping up, and not
handed over by a transfer): it acts there (sends, types, marks read, uploads). It still reads
(history, channel info, media) the channels it joined before, once their tasks are completed or
transferred. A supervisor also watches every channel of its chat service but acts only on its
own, so it never speaks as another agent.

The operational endpoints (``/metrics``, ``/docs``, ``/redoc``, ``/openapi.json``) follow the
codec column while ``operational_endpoints_auth`` is on (the default).
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from api.tokens import Grants
from switchboard.store.channel_work import has_joined, may_act
from switchboard.store.models import Channel

WORKER_ROLES = ("agent", "supervisor", "admin")
# What a supervisor reads over REST: TaskRouter's routing state (workspaces, queues, workers, tasks,
# statistics) and the workspaces' business hours, all under this prefix; admins write them.
SUPERVISOR_REST_PREFIX = "/v1/Workspaces"
READ_METHODS = ("GET", "HEAD")


def may_use_rest(grants: Grants, method: str, path: str) -> bool:
    """REST with an access token (account credentials and API keys may do everything)."""
    if grants.role == "admin":
        return True
    if grants.role == "supervisor":
        routing_state = path == SUPERVISOR_REST_PREFIX or path.startswith(SUPERVISOR_REST_PREFIX + "/")
        return method.upper() in READ_METHODS and routing_state
    return False


def may_use_agent_socket(grants: Grants) -> bool:
    return grants.role in WORKER_ROLES and bool(grants.worker_sid) and bool(grants.workspace_sid)


def may_use_customer_socket(grants: Grants) -> bool:
    return grants.role == "customer" and bool(grants.channel_sid)


def may_use_codec(grants: Grants) -> bool:
    return grants.role == "admin"


def may_read_operations(grants: Grants) -> bool:
    """Metrics and the API reference, while they are locked: operators, as for the codec."""
    return may_use_codec(grants)


async def may_reach_channel(session: AsyncSession, grants: Grants, channel_sid: str, *, watch: bool = False) -> bool:
    """Whether ``grants`` may act on the channel (``watch``: only read it)."""
    if grants.role == "customer":
        return grants.channel_sid == channel_sid
    if grants.role == "admin":
        return True
    if watch and grants.role == "supervisor" and grants.chat_service_sid is not None:
        channel = await session.get(Channel, channel_sid)
        if channel is not None and channel.service_sid == grants.chat_service_sid:
            return True
    if grants.worker_sid is None:
        return False
    if await may_act(session, grants.worker_sid, channel_sid):
        return True
    # A conversation the agent finished or handed over stays readable, not writable.
    return watch and await has_joined(session, grants.worker_sid, channel_sid)
