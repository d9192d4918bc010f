"""Conversations v1 webhooks: a conversation's own webhooks (``/v1/Conversations/{CH}/Webhooks``
and ``/v1/Services/{IS}/Conversations/{CH}/Webhooks``), and the pre-event and post-event webhooks
of the account (``/v1/Configuration/Webhooks``) and of a service
(``/v1/Services/{IS}/Configuration/Webhooks``).

A conversation's webhooks ARE its chat channel's webhooks: one list, kept on the channel row and
changed through the channel's workflow by the same functions as Chat v2's (``api.routes.chat_links``),
so a webhook made through either API is listed and obeyed through both. Their integration rule is
``api.channel_webhooks``'s (a ``studio`` target runs its flow, a ``trigger`` target gets the
messages naming its keywords, a ``webhook`` target filtering Chat's ``onMessageSent`` is the
external integration); a ``webhook`` target filtering Conversations' post-events (``onMessageAdded``,
...) gets them in Conversations' shape (``switchboard.conversation_events``)."""

# No ``from __future__ import annotations``: the routes are closures, and FastAPI resolves their
# annotations (``Depends(scope_of)``) where they are defined.

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request, Response
from pydantic import Field

from api.deps import CallDep, ChannelsDep, PagingDep, RestCall, SessionDep, require_account
from api.routes.chat import load_channel, load_service
from api.routes.chat_links import MAX_TRIGGER_LENGTH, MAX_TRIGGERS, WebhookConfigurationForm, configure, store_webhooks
from api.routes.chat_links import webhooks_of as channel_webhooks_of
from api.routes.conversations_v1 import Scope, default_scope, service_scope
from api.schemas import conversation_webhooks as schemas
from api.schemas.resources import REST_CALL_ERRORS, error_responses
from api.twilio_shape import TwilioError, TwilioForm, iso
from switchboard.conversation_events import FILTERS, POST_EVENTS
from switchboard.store.models import Channel, ConversationHookConfig, utcnow
from switchboard.store.models.conversation_hooks import ACCOUNT_SCOPE
from workflows import sids

# Twilio's codes for a conversation's webhooks.
WEBHOOK_NOT_FOUND = 50360
INVALID_TARGET = 50364
INVALID_FILTER = 50365
INVALID_TRIGGER = 50366
URL_MISSING = 50369
FILTER_MISSING = 50370
TRIGGER_MISSING = 50371
INVALID_PRE_WEBHOOK_URL = 50077
# Chat's name for a new message: a conversation's webhook may filter it (the channel's external
# integration, posted in Chat's shape), as the webhooks are Chat v2's too.
CHAT_MESSAGE_SENT = "onMessageSent"
SCOPED_FILTERS = frozenset(POST_EVENTS) | {CHAT_MESSAGE_SENT}


def refuse(code: int, parameter: str, message: str) -> TwilioError:
    return TwilioError(400, f"Invalid parameter {parameter}: {message}", code)


def absolute_url(value: str, parameter: str, code: int | None = None) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise TwilioError(400, f"Invalid parameter {parameter}: must be an absolute http(s) URL", code)
    return value


# --- a conversation's webhooks ----------------------------------------------------------------


class ScopedConfigurationForm(TwilioForm):
    url: str | None = Field(None, alias="Configuration.Url", max_length=2048)
    method: str | None = Field(None, alias="Configuration.Method", max_length=8)
    filters: list[str] | None = Field(None, alias="Configuration.Filters", max_length=len(SCOPED_FILTERS))
    triggers: list[str] | None = Field(None, alias="Configuration.Triggers")
    flow_sid: str | None = Field(None, alias="Configuration.FlowSid", pattern=r"^FW[0-9a-fA-F]{32}$")
    replay_after: int | None = Field(None, alias="Configuration.ReplayAfter")


class ScopedWebhookForm(ScopedConfigurationForm):
    target: str | None = Field(None, alias="Target", max_length=16)


def chat_form(form: ScopedConfigurationForm, target: str) -> WebhookConfigurationForm:
    """The Conversations form as Chat v2's channel webhook form, once Twilio's Conversations rules
    hold (its codes: a missing URL, filter or trigger; an unknown filter; a bad keyword)."""
    if form.replay_after is not None:
        raise refuse(20001, "Configuration.ReplayAfter", "replaying earlier messages to a new webhook is not supported")
    method = form.method.upper() if form.method else None
    if method is not None and method not in ("GET", "POST"):
        raise refuse(20001, "Configuration.Method", "must be get or post")
    for name in form.filters or []:
        if name not in SCOPED_FILTERS:
            raise refuse(INVALID_FILTER, "Configuration.Filters", f"{name!r} is not a conversation webhook filter")
    if form.triggers is not None:
        if len(form.triggers) > MAX_TRIGGERS:
            raise refuse(INVALID_TRIGGER, "Configuration.Triggers", f"takes at most {MAX_TRIGGERS} keywords")
        for keyword in form.triggers:
            if not keyword.strip() or len(keyword) > MAX_TRIGGER_LENGTH:
                raise refuse(
                    INVALID_TRIGGER, "Configuration.Triggers", f"takes keywords of 1 to {MAX_TRIGGER_LENGTH} characters"
                )
    if form.url is not None:
        absolute_url(form.url, "Configuration.Url")
    return WebhookConfigurationForm.model_validate(
        {
            "Configuration.Url": form.url,
            "Configuration.Method": method,
            "Configuration.Filters": form.filters,
            "Configuration.Triggers": form.triggers,
            "Configuration.FlowSid": form.flow_sid,
        }
    )


def check_complete(hook: dict[str, Any]) -> None:
    """What the target needs, with Twilio's codes (before Chat's own checks)."""
    if hook["type"] in ("webhook", "trigger") and not hook.get("url"):
        raise refuse(URL_MISSING, "Configuration.Url", f"is required for a {hook['type']} webhook")
    if hook["type"] == "webhook" and not hook.get("filters"):
        raise refuse(FILTER_MISSING, "Configuration.Filters", "is required for a webhook target")
    if hook["type"] == "trigger" and not hook.get("triggers"):
        raise refuse(TRIGGER_MISSING, "Configuration.Triggers", "is required for a trigger target")


def render_scoped(call: RestCall, scope: Scope, channel: Channel, hook: dict[str, Any]) -> dict[str, Any]:
    configuration: dict[str, Any] = {}
    for key in ("url", "method", "filters", "triggers", "flow_sid"):
        value = hook.get(key)
        if value is not None:
            configuration[key] = value.lower() if key == "method" else value
    rendered = {
        "sid": hook["sid"],
        "account_sid": call.account_sid,
        "conversation_sid": channel.sid,
        "target": hook["type"],
        "url": f"{call.url(scope.path)}/{channel.sid}/Webhooks/{hook['sid']}",
        "configuration": configuration,
        "date_created": hook["date_created"],
        "date_updated": hook["date_updated"],
    }
    if scope.path.startswith("/v1/Services/"):
        rendered["chat_service_sid"] = channel.service_sid
    return rendered


def find(webhooks: list[dict[str, Any]], webhook_sid: str) -> dict[str, Any]:
    for hook in webhooks:
        if hook["sid"] == webhook_sid:
            return hook
    raise TwilioError(404, f"The requested resource /Webhooks/{webhook_sid} was not found", WEBHOOK_NOT_FOUND)


def scoped_router(
    prefix: str,
    scope_of: Callable[..., Awaitable[Scope]],
    resource: type[schemas.ConversationScopedWebhook],
    page: type[schemas.ConversationScopedWebhookPage] | type[schemas.ServiceConversationScopedWebhookPage],
) -> APIRouter:
    router = APIRouter(
        prefix=prefix, tags=["conversations"], dependencies=[Depends(require_account)], responses=REST_CALL_ERRORS
    )
    path = "/{conversation_sid}/Webhooks"

    async def conversation(session: SessionDep, scope: Scope, conversation_sid: str) -> Channel:
        return await load_channel(session, scope.service_sid, conversation_sid, "Conversation")

    @router.get(path, response_model=page, responses=error_responses(404))
    async def list_webhooks(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        paging: PagingDep,
    ) -> dict[str, Any]:
        """The channel's webhooks: those made through Chat v2 too, and its Flex Flow's Studio one."""
        channel = await conversation(session, scope, conversation_sid)
        webhooks, _ = await channel_webhooks_of(session, channel)
        chunk = webhooks[paging.offset : paging.offset + paging.page_size]
        has_next = len(webhooks) > paging.offset + paging.page_size
        items = [render_scoped(call, scope, channel, hook) for hook in chunk]
        return call.page("webhooks", items, paging, None, has_next)

    @router.post(path, status_code=201, response_model=resource, responses=error_responses(404))
    async def create_webhook(
        call: CallDep,
        session: SessionDep,
        channels: ChannelsDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        form: Annotated[ScopedWebhookForm, Form()],
    ) -> dict[str, Any]:
        if not form.target:
            raise TwilioError(400, "Invalid parameter Target: is required", 50368)
        if form.target not in ("webhook", "trigger", "studio"):
            raise refuse(INVALID_TARGET, "Target", "must be webhook, trigger or studio")
        channel = await conversation(session, scope, conversation_sid)
        webhooks, flow_integration = await channel_webhooks_of(session, channel)
        now = _now()
        hook: dict[str, Any] = {"sid": sids.new_sid(sids.WEBHOOK), "type": form.target, "date_created": now}
        chat = chat_form(form, form.target)
        for key in ("url", "filters", "triggers", "flow_sid"):
            if getattr(chat, key) is not None:
                hook[key] = getattr(chat, key)
        check_complete(hook)
        configure(hook, chat)
        if form.target != "studio":
            hook.setdefault("method", "POST")
        hook.setdefault("retry_count", 0)
        hook["date_updated"] = now
        await store_webhooks(call, session, channels, channel, [*webhooks, hook], flow_integration)
        return render_scoped(call, scope, channel, hook)

    @router.get(path + "/{webhook_sid}", response_model=resource, responses=error_responses(404))
    async def fetch_webhook(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        webhook_sid: str,
    ) -> dict[str, Any]:
        channel = await conversation(session, scope, conversation_sid)
        webhooks, _ = await channel_webhooks_of(session, channel)
        return render_scoped(call, scope, channel, find(webhooks, webhook_sid))

    @router.post(path + "/{webhook_sid}", response_model=resource, responses=error_responses(404))
    async def update_webhook(
        call: CallDep,
        session: SessionDep,
        channels: ChannelsDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        webhook_sid: str,
        form: Annotated[ScopedConfigurationForm, Form()],
    ) -> dict[str, Any]:
        channel = await conversation(session, scope, conversation_sid)
        webhooks, flow_integration = await channel_webhooks_of(session, channel)
        hook = find(webhooks, webhook_sid)
        chat = chat_form(form, hook["type"])
        changed = dict(hook)
        for key in ("url", "filters", "triggers", "flow_sid"):
            if getattr(chat, key) is not None:
                changed[key] = getattr(chat, key)
        check_complete(changed)
        configure(hook, chat)
        hook["date_updated"] = _now()
        await store_webhooks(call, session, channels, channel, webhooks, flow_integration)
        return render_scoped(call, scope, channel, hook)

    @router.delete(path + "/{webhook_sid}", status_code=204, responses=error_responses(404))
    async def delete_webhook(
        call: CallDep,
        session: SessionDep,
        channels: ChannelsDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        webhook_sid: str,
    ) -> Response:
        """As Chat v2's: deleting the Studio webhook hands the conversation off the flow."""
        channel = await conversation(session, scope, conversation_sid)
        webhooks, flow_integration = await channel_webhooks_of(session, channel)
        hook = find(webhooks, webhook_sid)
        remaining = [other for other in webhooks if other is not hook]
        await store_webhooks(call, session, channels, channel, remaining, flow_integration)
        return Response(status_code=204)

    return router


def _now() -> str:
    return iso(utcnow()) or ""


router = scoped_router(
    "/v1/Conversations", default_scope, schemas.ConversationScopedWebhook, schemas.ConversationScopedWebhookPage
)
service_router = scoped_router(
    "/v1/Services/{chat_service_sid}/Conversations",
    service_scope,
    schemas.ServiceConversationScopedWebhook,
    schemas.ServiceConversationScopedWebhookPage,
)


# --- pre-event and post-event webhooks of the account and of a service -----------------------

configuration_router = APIRouter(
    prefix="/v1", tags=["conversations"], dependencies=[Depends(require_account)], responses=REST_CALL_ERRORS
)


class ServiceHooksForm(TwilioForm):
    method: str | None = Field(None, alias="Method", max_length=8)
    filters: list[str] | None = Field(None, alias="Filters", max_length=len(FILTERS))
    pre_webhook_url: str | None = Field(None, alias="PreWebhookUrl", max_length=2048)
    post_webhook_url: str | None = Field(None, alias="PostWebhookUrl", max_length=2048)


class AccountHooksForm(ServiceHooksForm):
    target: Literal["webhook", "flex"] | None = Field(None, alias="Target")


async def hook_config(session: SessionDep, scope: str) -> ConversationHookConfig:
    return await session.get(ConversationHookConfig, scope) or ConversationHookConfig(scope=scope)


async def update_config(
    request: Request, session: SessionDep, scope: str, form: ServiceHooksForm
) -> ConversationHookConfig:
    """Sets what the form gives; a URL given empty is removed."""
    config = await hook_config(session, scope)
    emptied = {name for name, value in (await request.form()).items() if value == ""}
    if "PreWebhookUrl" in emptied:
        config.pre_webhook_url = None
    if "PostWebhookUrl" in emptied:
        config.post_webhook_url = None
    if form.method is not None:
        method = form.method.upper()
        if method not in ("GET", "POST"):
            raise refuse(20001, "Method", "must be GET or POST")
        config.method = method
    if form.filters is not None:
        for name in form.filters:
            if name not in FILTERS:
                raise refuse(20001, "Filters", f"{name!r} is not a Conversations webhook event")
        config.filters_json = json.dumps(list(dict.fromkeys(form.filters)))
    if form.pre_webhook_url is not None:
        config.pre_webhook_url = form.pre_webhook_url and absolute_url(
            form.pre_webhook_url, "PreWebhookUrl", INVALID_PRE_WEBHOOK_URL
        )
    if form.post_webhook_url is not None:
        config.post_webhook_url = form.post_webhook_url and absolute_url(form.post_webhook_url, "PostWebhookUrl")
    if isinstance(form, AccountHooksForm) and form.target is not None:
        if form.target == "flex":
            raise refuse(
                20001, "Target", "flex (Flex's own routing of every conversation) is not supported: use webhook"
            )
        config.target = form.target
    config.date_updated = utcnow()
    session.add(config)
    await session.commit()
    await session.refresh(config)
    return config


def render_account(call: RestCall, config: ConversationHookConfig) -> dict[str, Any]:
    return {
        "account_sid": call.account_sid,
        "method": config.method,
        "filters": json.loads(config.filters_json),
        "pre_webhook_url": config.pre_webhook_url,
        "post_webhook_url": config.post_webhook_url,
        "target": config.target,
        "url": call.url("/v1/Configuration/Webhooks"),
    }


def render_service(call: RestCall, config: ConversationHookConfig) -> dict[str, Any]:
    return {
        "account_sid": call.account_sid,
        "chat_service_sid": config.scope,
        "pre_webhook_url": config.pre_webhook_url,
        "post_webhook_url": config.post_webhook_url,
        "filters": json.loads(config.filters_json),
        "method": config.method,
        "url": call.url(f"/v1/Services/{config.scope}/Configuration/Webhooks"),
    }


@configuration_router.get("/Configuration/Webhooks", response_model=schemas.ConfigurationWebhook)
async def fetch_account_webhooks(call: CallDep, session: SessionDep) -> dict[str, Any]:
    """The account's pre-event and post-event webhooks: they hear every service's conversations."""
    return render_account(call, await hook_config(session, ACCOUNT_SCOPE))


@configuration_router.post("/Configuration/Webhooks", response_model=schemas.ConfigurationWebhook)
async def update_account_webhooks(
    request: Request, call: CallDep, session: SessionDep, form: Annotated[AccountHooksForm, Form()]
) -> dict[str, Any]:
    return render_account(call, await update_config(request, session, ACCOUNT_SCOPE, form))


@configuration_router.get(
    "/Services/{chat_service_sid}/Configuration/Webhooks",
    response_model=schemas.ServiceWebhookConfiguration,
    responses=error_responses(404),
)
async def fetch_service_webhooks(call: CallDep, session: SessionDep, chat_service_sid: str) -> dict[str, Any]:
    await load_service(session, chat_service_sid)
    return render_service(call, await hook_config(session, chat_service_sid))


@configuration_router.post(
    "/Services/{chat_service_sid}/Configuration/Webhooks",
    response_model=schemas.ServiceWebhookConfiguration,
    responses=error_responses(404),
)
async def update_service_webhooks(
    request: Request,
    call: CallDep,
    session: SessionDep,
    chat_service_sid: str,
    form: Annotated[ServiceHooksForm, Form()],
) -> dict[str, Any]:
    await load_service(session, chat_service_sid)
    return render_service(call, await update_config(request, session, chat_service_sid, form))
