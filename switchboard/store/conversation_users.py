"""Users and roles of a chat service, as Conversations v1 and Chat v2 both show them.

- A user is an identity of a service. A REST caller makes one, and one is made implicitly when an
  identity joins a channel of the service (``implicit_user``, called where every join is stored),
  as Twilio does. Its SID is a keyed digest of the service and the identity, so the implicit and
  the explicit paths agree without a lock.
- Each service has Twilio's four default roles (``DEFAULT_ROLES``); their SIDs are derived from
  the service and the role's name, so the service's configuration names them without reading the
  store, and they are written on first use (``ensure_default_roles``). Custom roles are stored.
- Switchboard keeps roles and checks every ``RoleSid`` against them; it enforces no permission of
  theirs (its writers are the REST caller, who may do anything, and the desk and web chat, whose
  access ``api.access`` decides): see docs/conversations.md."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store.contacts import identity_hash
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.models import ConversationRole, ConversationUser

USER_PREFIX = "US"
ROLE_PREFIX = "RL"

# The permissions a role of each type may hold (Twilio's Role resource).
SERVICE_PERMISSIONS = (
    "addParticipant",
    "createConversation",
    "deleteAnyMessage",
    "deleteConversation",
    "editAnyMessage",
    "editAnyMessageAttributes",
    "editAnyUserInfo",
    "editConversationAttributes",
    "editConversationName",
    "editNotificationLevel",
    "editOwnMessage",
    "editOwnMessageAttributes",
    "editOwnUserInfo",
    "joinConversation",
    "removeParticipant",
)
CONVERSATION_PERMISSIONS = (
    "addNonChatParticipant",
    "addParticipant",
    "deleteAnyMessage",
    "deleteOwnMessage",
    "editAnyMessage",
    "editAnyMessageAttributes",
    "editAnyParticipantAttributes",
    "editConversationAttributes",
    "editConversationName",
    "editNotificationLevel",
    "editOwnMessage",
    "editOwnMessageAttributes",
    "editOwnParticipantAttributes",
    "leaveConversation",
    "removeParticipant",
    "sendMediaMessage",
    "sendMessage",
)
PERMISSIONS = {"service": SERVICE_PERMISSIONS, "conversation": CONVERSATION_PERMISSIONS}

CONVERSATION_ADMIN = "channel admin"
CONVERSATION_USER = "channel user"
SERVICE_ADMIN = "service admin"
SERVICE_USER = "service user"
# Each service's defaults, named as Twilio names them (Conversations shares them with Chat).
DEFAULT_ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    CONVERSATION_ADMIN: ("conversation", CONVERSATION_PERMISSIONS),
    CONVERSATION_USER: (
        "conversation",
        (
            "sendMessage",
            "sendMediaMessage",
            "leaveConversation",
            "editOwnMessage",
            "editOwnMessageAttributes",
            "deleteOwnMessage",
            "editOwnParticipantAttributes",
            "editNotificationLevel",
        ),
    ),
    SERVICE_ADMIN: ("service", SERVICE_PERMISSIONS),
    SERVICE_USER: ("service", ("createConversation", "joinConversation", "editOwnUserInfo")),
}


def default_role_sid(service_sid: str, name: str) -> str:
    """The SID of the service's default role ``name`` (not secret: a digest of public names)."""
    return ROLE_PREFIX + hashlib.sha256(f"role\x1f{service_sid}\x1f{name}".encode()).hexdigest()[:32]


def user_sid(hasher: KeyedHasher, service_sid: str, identity: str) -> str:
    return USER_PREFIX + hasher.digest("user", service_sid, identity)[:32]


async def ensure_default_roles(session: AsyncSession, service_sid: str) -> None:
    """Writes the service's default roles that are not stored yet (committing)."""
    sids = {default_role_sid(service_sid, name): name for name in DEFAULT_ROLES}
    stored = set((await session.exec(select(ConversationRole.sid).where(col(ConversationRole.sid).in_(sids)))).all())
    if stored == set(sids):
        return
    for sid, name in sids.items():
        if sid not in stored:
            kind, permissions = DEFAULT_ROLES[name]
            session.add(
                ConversationRole(
                    sid=sid,
                    service_sid=service_sid,
                    friendly_name=name,
                    type=kind,
                    permissions_json=json.dumps(list(permissions)),
                )
            )
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()  # a concurrent caller wrote them first


async def user_by_identity(
    session: AsyncSession, hasher: KeyedHasher, service_sid: str, identity: str
) -> ConversationUser | None:
    query = select(ConversationUser).where(
        ConversationUser.service_sid == service_sid,
        ConversationUser.identity_hash == identity_hash(hasher, identity),
    )
    return (await session.exec(query)).first()


def new_user(
    cipher: Cipher,
    hasher: KeyedHasher,
    service_sid: str,
    identity: str,
    *,
    friendly_name: str | None = None,
    attributes: str = "{}",
    role_sid: str | None = None,
) -> ConversationUser:
    """A user row (not yet added); its role defaults to the service's default user role."""
    return ConversationUser(
        sid=user_sid(hasher, service_sid, identity),
        service_sid=service_sid,
        identity_enc=cipher.encrypt(identity, "conversation_user.identity"),
        identity_hash=identity_hash(hasher, identity),
        friendly_name_enc=cipher.encrypt_optional(friendly_name, "conversation_user.friendly_name"),
        attributes_enc=cipher.encrypt(attributes, "conversation_user.attributes"),
        role_sid=role_sid or default_role_sid(service_sid, SERVICE_USER),
    )


async def implicit_user(
    session: AsyncSession, cipher: Cipher, hasher: KeyedHasher, service_sid: str, identity: str
) -> None:
    """Adds the identity's user to ``session`` when the service has none (the caller commits; a
    concurrent join of the same identity makes the commit fail, and the retry finds the user)."""
    if await user_by_identity(session, hasher, service_sid, identity) is None:
        session.add(new_user(cipher, hasher, service_sid, identity))
