"""Conversations v1 ``Roles`` (``/v1/Roles`` for the default service, ``/v1/Services/{IS}/Roles``):
each service's four default roles and custom ones (``switchboard.store.conversation_users``), and
the check every ``RoleSid`` a caller gives goes through (``check_role``). Chat v2 lists the same
roles (``api.routes.chat_links``).

Switchboard enforces no role's permissions: see docs/conversations.md."""

# No ``from __future__ import annotations``: the routes are closures, and FastAPI resolves their
# annotations (``Depends(scope_of)``) where they are defined.

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Response
from pydantic import Field
from sqlmodel import col, select

from api.deps import CallDep, PagingDep, RestCall, SessionDep, require_account
from api.routes.chat import load_service
from api.schemas import conversation_users as schemas
from api.schemas.resources import REST_CALL_ERRORS, error_responses
from api.twilio_shape import TwilioError, TwilioForm, invalid, iso, not_found
from switchboard.store.conversation_users import (
    DEFAULT_ROLES,
    PERMISSIONS,
    ROLE_PREFIX,
    default_role_sid,
    ensure_default_roles,
)
from switchboard.store.defaults import plan_flex_defaults
from switchboard.store.models import ConversationRole, ConversationUser, Member, utcnow
from workflows import sids


@dataclass(frozen=True)
class ServiceScope:
    """The service a call addresses and the path its resources' URLs start with (``/v1`` or
    ``/v1/Services/{IS}``)."""

    service_sid: str
    path: str


async def default_service_scope(call: CallDep) -> ServiceScope:
    """``/v1/...``: the account's default conversation service, the Flex defaults' one."""
    return ServiceScope(plan_flex_defaults(call.context.settings).defaults.chat_service_sid, "/v1")


async def named_service_scope(session: SessionDep, chat_service_sid: str) -> ServiceScope:
    """``/v1/Services/{IS}/...``: that service, which must exist."""
    await load_service(session, chat_service_sid)
    return ServiceScope(chat_service_sid, f"/v1/Services/{chat_service_sid}")


ScopeOf = Callable[..., Awaitable[ServiceScope]]


def permissions_of(role: ConversationRole) -> list[str]:
    permissions: list[str] = json.loads(role.permissions_json)
    return permissions


def render_role(call: RestCall, scope: ServiceScope, role: ConversationRole) -> dict[str, Any]:
    return {
        "sid": role.sid,
        "account_sid": call.account_sid,
        "chat_service_sid": role.service_sid,
        "friendly_name": role.friendly_name,
        "type": role.type,
        "permissions": permissions_of(role),
        "date_created": iso(role.date_created),
        "date_updated": iso(role.date_updated),
        "url": call.url(f"{scope.path}/Roles/{role.sid}"),
    }


async def load_role(session: SessionDep, service_sid: str, role_sid: str) -> ConversationRole | None:
    await ensure_default_roles(session, service_sid)
    role = await session.get(ConversationRole, role_sid) if sids.is_sid(role_sid, ROLE_PREFIX) else None
    return role if role is not None and role.service_sid == service_sid else None


async def check_role(session: SessionDep, service_sid: str, role_sid: str | None, kind: str) -> str | None:
    """A ``RoleSid`` a caller gives must name a role of the service of the ``kind`` the resource
    takes (``conversation`` for a participant, ``service`` for a user); refused, naming it, else."""
    if not role_sid:
        return None
    role = await load_role(session, service_sid, role_sid)
    if role is None:
        raise invalid("RoleSid", f"role {role_sid} is not a role of service {service_sid}")
    if role.type != kind:
        raise invalid("RoleSid", f"role {role_sid} is a {role.type} role; a {kind} role is required here")
    return role.sid


def check_permissions(kind: str, permissions: list[str]) -> list[str]:
    if not permissions:
        raise invalid("Permission", "at least one permission is required")
    allowed = PERMISSIONS[kind]
    for permission in permissions:
        if permission not in allowed:
            raise invalid("Permission", f"{permission!r} is not a {kind} permission (one of {', '.join(allowed)})")
    return list(dict.fromkeys(permissions))


def render_chat_role(call: RestCall, role: ConversationRole) -> dict[str, Any]:
    """The same role in Chat v2's words (a conversation role is a ``channel`` role, a service
    role a ``deployment`` one)."""
    return {
        "sid": role.sid,
        "account_sid": call.account_sid,
        "service_sid": role.service_sid,
        "friendly_name": role.friendly_name,
        "type": "channel" if role.type == "conversation" else "deployment",
        "permissions": permissions_of(role),
        "date_created": iso(role.date_created),
        "date_updated": iso(role.date_updated),
        "url": call.url(f"/v2/Services/{role.service_sid}/Roles/{role.sid}"),
    }


async def chat_roles_page(call: RestCall, session: SessionDep, service_sid: str, paging: Any) -> dict[str, Any]:
    """Chat v2's ``Roles`` list of the service."""
    await ensure_default_roles(session, service_sid)
    query = select(ConversationRole).where(ConversationRole.service_sid == service_sid)
    query = query.order_by(col(ConversationRole.date_created), col(ConversationRole.friendly_name))
    return await call.offset_page(session, query, paging, "roles", render_chat_role)


class RoleForm(TwilioForm):
    friendly_name: str = Field(alias="FriendlyName", min_length=1, max_length=64)
    type: Literal["conversation", "service"] = Field(alias="Type")
    permission: list[str] = Field(alias="Permission", max_length=64)


class RoleUpdateForm(TwilioForm):
    permission: list[str] = Field(alias="Permission", max_length=64)


def roles_router(prefix: str, scope_of: ScopeOf) -> APIRouter:
    router = APIRouter(
        prefix=prefix, tags=["conversations"], dependencies=[Depends(require_account)], responses=REST_CALL_ERRORS
    )

    async def role(session: SessionDep, scope: ServiceScope, role_sid: str) -> ConversationRole:
        found = await load_role(session, scope.service_sid, role_sid)
        if found is None:
            raise not_found("Role", role_sid)
        return found

    @router.post("", status_code=201, response_model=schemas.Role, responses=error_responses(404))
    async def create_role(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[ServiceScope, Depends(scope_of)],
        form: Annotated[RoleForm, Form()],
    ) -> dict[str, Any]:
        made = ConversationRole(
            sid=sids.new_sid(ROLE_PREFIX),
            service_sid=scope.service_sid,
            friendly_name=form.friendly_name,
            type=form.type,
            permissions_json=json.dumps(check_permissions(form.type, form.permission)),
        )
        session.add(made)
        await session.commit()
        return render_role(call, scope, made)

    @router.get("", response_model=schemas.RolePage, responses=error_responses(404))
    async def list_roles(
        call: CallDep, session: SessionDep, scope: Annotated[ServiceScope, Depends(scope_of)], paging: PagingDep
    ) -> dict[str, Any]:
        """The defaults first, then custom roles oldest first."""
        await ensure_default_roles(session, scope.service_sid)
        query = select(ConversationRole).where(ConversationRole.service_sid == scope.service_sid)
        query = query.order_by(col(ConversationRole.date_created), col(ConversationRole.friendly_name))
        return await call.offset_page(session, query, paging, "roles", lambda c, row: render_role(c, scope, row))

    @router.get("/{role_sid}", response_model=schemas.Role, responses=error_responses(404))
    async def fetch_role(
        call: CallDep, session: SessionDep, scope: Annotated[ServiceScope, Depends(scope_of)], role_sid: str
    ) -> dict[str, Any]:
        return render_role(call, scope, await role(session, scope, role_sid))

    @router.post("/{role_sid}", response_model=schemas.Role, responses=error_responses(404))
    async def update_role(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[ServiceScope, Depends(scope_of)],
        role_sid: str,
        form: Annotated[RoleUpdateForm, Form()],
    ) -> dict[str, Any]:
        """The role's permissions become ``Permission`` (the defaults' too)."""
        found = await role(session, scope, role_sid)
        found.permissions_json = json.dumps(check_permissions(found.type, form.permission))
        found.date_updated = utcnow()
        session.add(found)
        await session.commit()
        return render_role(call, scope, found)

    @router.delete("/{role_sid}", status_code=204, responses=error_responses(404, 409))
    async def delete_role(
        session: SessionDep, scope: Annotated[ServiceScope, Depends(scope_of)], role_sid: str
    ) -> Response:
        """A default role (the service's configuration names it) and a role a user or a
        participant holds are kept."""
        found = await role(session, scope, role_sid)
        if found.sid in {default_role_sid(scope.service_sid, name) for name in DEFAULT_ROLES}:
            raise invalid("Sid", f"{found.sid} is one of the service's default roles and is not deleted")
        holder = (
            await session.exec(select(ConversationUser.sid).where(ConversationUser.role_sid == found.sid).limit(1))
        ).first() or (await session.exec(select(Member.sid).where(Member.role_sid == found.sid).limit(1))).first()
        if holder is not None:
            raise TwilioError(409, f"Role {found.sid} is held by {holder}: give it another role first")
        await session.delete(found)
        await session.commit()
        return Response(status_code=204)

    return router


router = roles_router("/v1/Roles", default_service_scope)
service_router = roles_router("/v1/Services/{chat_service_sid}/Roles", named_service_scope)
