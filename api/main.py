"""The API application: app factory and lifespan (database, Temporal client)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client

from api.body_limit import BodySizeLimit, BodyTooLarge, body_too_large_handler
from api.deps import AppContext
from api.routes import (
    address_configurations,
    api_keys,
    chat,
    chat_links,
    codec,
    contacts,
    conversation_participants,
    conversation_receipts,
    conversation_roles,
    conversation_users,
    conversation_webhooks,
    conversations_v1,
    desk,
    erasures,
    flex_channels,
    flex_flows,
    flex_interactions,
    flex_web_channels,
    health,
    media,
    reference,
    studio,
    taskrouter,
    tokens,
    webchat,
)
from api.routes.pages import mount_pages
from api.security_headers import SecurityHeaders
from api.sockets import agent as agent_socket
from api.sockets import customer as customer_socket
from api.twilio_shape import (
    INVALID_PARAMETER,
    SERVICE_UNAVAILABLE,
    TwilioError,
    error_response,
    http_error_handler,
    twilio_error_handler,
    validation_error_handler,
)
from api.webhooks import custom, meta, twilio_messaging
from api.webhooks.timing import WebhookTiming
from api.widget_cors import WidgetCors
from switchboard.observability import temporal_runtime
from switchboard.settings import Settings
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.db import Database
from switchboard.store.defaults import ensure_flex_defaults
from switchboard.store.fanout import FeedPublisher, FeedWaiters
from switchboard.store.migrate import SchemaMismatch, migrate
from switchboard.store.payload_codec import data_converter

log = logging.getLogger(__name__)


async def retry_until_done(what: str, attempt: Callable[[], Awaitable[bool]]) -> None:
    """Retry ``attempt`` with backoff until it answers True: the API starts, and /healthz says
    503, while a dependency is down."""
    delay = 0.2
    while True:
        try:
            if await attempt():
                return
        except Exception as exc:
            log.warning("%s not reachable (%s); retrying", what, exc)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


async def connect_temporal(context: AppContext) -> bool:
    settings = context.settings
    context.temporal = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        runtime=temporal_runtime(settings),
    )
    return True


async def prepare_database(context: AppContext) -> bool:
    await migrate(context.db.engine)
    defaults = await ensure_flex_defaults(context.db, context.settings)
    log.info("Flex defaults %s: %s", "created" if defaults.created else "in place", defaults.describe())
    return True


async def database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """A database that cannot be reached is a 503 (providers retry), not a bare 500."""
    log.error("database error: %s", exc.__class__.__name__)
    return error_response(503, "the database is not reachable; retry shortly", SERVICE_UNAVAILABLE)


async def value_not_storable(_request: Request, exc: Exception) -> JSONResponse:
    """A value the database cannot hold (PostgreSQL refuses NUL characters in text, numbers past
    a column's range) is the request's fault: a 400, not a 500."""
    log.warning("value refused by the database: %s", exc.__class__.__name__)
    return error_response(
        400,
        "Invalid parameter: a value the store cannot hold (a NUL character, a number out of range)",
        INVALID_PARAMETER,
    )


async def nested_too_deeply(_request: Request, _exc: Exception) -> JSONResponse:
    """Input nested past the depth a parser recurses to (JSON bodies and attributes, protobuf JSON,
    routing expressions): the request's fault, a 400, never a 500."""
    return error_response(
        400, "Invalid parameter: the input is nested too deeply (JSON or an expression)", INVALID_PARAMETER
    )


def create_app(settings: Settings, worker_in_process: bool = False) -> FastAPI:
    """The API; ``worker_in_process``: a worker runs on the same event loop (the dev stack), so
    its commits wake this process's sockets without Redis."""
    settings.require_secrets()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sockets wake when this process writes their feed, or another one says so over Redis (or,
        # without Redis, through the PostgreSQL store's notifications).
        store_url = settings.resolved_database_url
        feeds = FeedWaiters(settings.redis_url, settings.feed_fallback_poll_seconds, store_url, worker_in_process)
        db = Database(store_url, FeedPublisher(settings.redis_url, store_url))
        context = AppContext(
            settings=settings,
            db=db,
            cipher=Cipher.from_setting(settings.encryption_keys, settings.encryption_key_id),
            hasher=KeyedHasher.from_setting(settings.hash_key),
            feeds=feeds,
        )
        app.state.context = context
        background = [
            asyncio.create_task(
                retry_until_done(f"Temporal at {settings.temporal_address}", lambda: connect_temporal(context))
            ),
            asyncio.create_task(feeds.run()),
        ]
        try:
            try:  # tables in place before the first request, unless the database is down right now
                await prepare_database(context)
            except SchemaMismatch:
                raise  # not a database that is down: retrying cannot help
            except Exception as exc:
                log.warning("the database is not reachable (%s); retrying in the background", exc)
                background.append(
                    asyncio.create_task(retry_until_done("the database", lambda: prepare_database(context)))
                )
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await db.dispose()

    app = FastAPI(
        title="Switchboard",
        summary="Contact-center messaging on Temporal, in Twilio's REST shapes",
        lifespan=lifespan,
        # Served by api.routes.reference, behind the operational endpoints' lock.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_exception_handler(TwilioError, twilio_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(DataError, value_not_storable)
    app.add_exception_handler(RecursionError, nested_too_deeply)
    app.add_exception_handler(BodyTooLarge, body_too_large_handler)
    for router in (
        health.router,
        chat.router,
        chat_links.router,
        conversations_v1.router,
        conversations_v1.service_router,
        conversations_v1.services_router,
        conversation_users.router,
        conversation_users.service_router,
        conversation_roles.router,
        conversation_roles.service_router,
        conversation_participants.router,
        conversation_participants.service_router,
        conversation_receipts.router,
        conversation_receipts.service_router,
        conversation_webhooks.router,
        conversation_webhooks.service_router,
        conversation_webhooks.configuration_router,
        address_configurations.router,
        flex_flows.router,
        flex_channels.router,
        flex_web_channels.router,
        flex_interactions.router,
        studio.router,
        taskrouter.router,
        tokens.router,
        tokens.refresh_router,
        webchat.router,
        media.router,
        media.provider_router,
        desk.router,
        twilio_messaging.router,
        meta.router,
        custom.router,
        agent_socket.router,
        customer_socket.router,
        codec.router,
        erasures.router,
        contacts.router,
        api_keys.router,
        reference.router,
    ):
        app.include_router(router)
    mount_pages(app)
    app.add_middleware(WebhookTiming)
    app.add_middleware(BodySizeLimit, settings=settings)
    app.add_middleware(WidgetCors, origins=settings.webchat_origins)
    app.add_middleware(codec.CodecCors, origins=settings.temporal_ui_origins)
    app.add_middleware(SecurityHeaders)
    return app
