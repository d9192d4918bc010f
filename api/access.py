"""Who may do what, in one place. docs/access.md shows the same table.

=================  ======================  ===============  ================  =========  ===========================
caller             REST                    agent socket     customer socket   codec      media (upload / read)
=================  ======================  ===============  ================  =========  ===========================
account / API key  everything              no (no token)    no (no token)     yes        any channel
admin token        everything              as its worker;   no                yes        any channel
                                           the supervisor
                                           view
supervisor token   GET routing state,      as its worker;   no                no         upload: its channels;
                   canned responses        reads any                                     read: its service's
                   (``/v1/Workspaces``)
                                           channel of its
                                           service; the
                                           supervisor view
                                           of its workspace
agent token        no                      as its worker    no                no         its channels
customer token     no                      no               its channel       no         its channel
=================  ======================  ===============  ================  =========  ===========================

"Its channels" are those the worker holds a task of (offered, accepted or wrapping up, and not
handed over by a transfer): it acts there (sends, types, marks read, uploads). It still reads
(history, channel info, media) the channels it joined before, once their tasks are completed or
transferred. A supervisor also watches every channel of its chat service but acts only on its
own, so it never speaks as another agent.

The supervisor view (``supervise``, ``monitor``, and ``transfer`` / ``set_activity`` on another
agent's task or worker) is for supervisor and admin tokens, on the workspace of their own worker
(``may_supervise``). The development sign-in gives a desk the role its worker's attributes grant
(``"roles": ["supervisor"]`` or ``["admin"]``, set over REST; ``desk_role``), never one the caller
names.

An agent serving a customer now (holding a task of one of the customer's channels) also reads that
customer's other channels, its past conversations (``may_reach_channel`` with ``watch``); it never
looks up arbitrary contacts. Finding a contact by exact address or identity (a keyed hash lookup)
is for supervisors (on their chat service's channels) and admins (``may_find_contacts``).

Internal notes are written and read by whoever may read the channel (``may_note``), never by a
customer token: an agent on a conversation it holds or held, a supervisor of its service, an admin.

The operational endpoints (``/metrics``, ``/docs``, ``/redoc``, ``/openapi.json``) follow the
codec column while ``operational_endpoints_auth`` is on (the default).
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from api.tokens import Grants, Role
from switchboard.store.channel_work import has_joined, may_act, serves_contact
from switchboard.store.models import Channel

WORKER_ROLES = ("agent", "supervisor", "admin")
# Roles that see the supervisor view, highest first.
SUPERVISOR_ROLES: tuple[Role, ...] = ("admin", "supervisor")
# What a supervisor reads over REST: TaskRouter's routing state (workspaces, queues, workers, tasks)
# and the workspaces' canned responses and business hours (admins write them; agents get their
# canned responses over the agent socket),
# and a contact's conversations (``/v1/Contacts``, its chat service's only).
SUPERVISOR_REST_PREFIXES = ("/v1/Workspaces", "/v1/Contacts")
# Who may find a contact by its address or identity.
CONTACT_FINDERS = ("supervisor", "admin")
READ_METHODS = ("GET", "HEAD")


def may_use_rest(grants: Grants, method: str, path: str) -> bool:
    """REST with an access token (account credentials and API keys may do everything)."""
    if grants.role == "admin":
        return True
    if grants.role == "supervisor":
        readable = any(path == prefix or path.startswith(prefix + "/") for prefix in SUPERVISOR_REST_PREFIXES)
        return method.upper() in READ_METHODS and readable
    return False


def may_use_agent_socket(grants: Grants) -> bool:
    return grants.role in WORKER_ROLES and bool(grants.worker_sid) and bool(grants.workspace_sid)


def may_supervise(grants: Grants, workspace_sid: str) -> bool:
    """The supervisor view of ``workspace_sid``: its queues, agents and live conversations,
    monitoring them, transferring any agent's task and changing any agent's activity."""
    return grants.role in SUPERVISOR_ROLES and grants.workspace_sid == workspace_sid


def desk_role(attributes: object) -> Role:
    """The role a worker signs in to the desk with (development sign-in): the highest of its
    attributes' ``roles`` that is a supervisor role, else ``agent``."""
    roles = attributes.get("roles") if isinstance(attributes, dict) else None
    granted = {role for role in roles if isinstance(role, str)} if isinstance(roles, list) else set()
    return next((role for role in SUPERVISOR_ROLES if role in granted), "agent")


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
    if not watch:
        return False
    # A conversation the agent finished or handed over stays readable, not writable.
    if await has_joined(session, grants.worker_sid, channel_sid):
        return True
    # The past of the customer the agent serves now: the customer's other channels.
    channel = await session.get(Channel, channel_sid)
    if channel is None or channel.contact_hash is None:
        return False
    return await serves_contact(session, grants.worker_sid, channel.contact_hash)


def may_find_contacts(grants: Grants) -> bool:
    """Looking a contact up by its exact address or identity: supervisors and admins."""
    return grants.role in CONTACT_FINDERS


async def may_note(session: AsyncSession, grants: Grants, channel_sid: str) -> bool:
    """Writing and reading internal notes: whoever reads the channel, but never its customer."""
    return grants.role in WORKER_ROLES and await may_reach_channel(session, grants, channel_sid, watch=True)
