"""The API application: app factory and lifespan (database, Temporal client)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from temporalio.client import Client

from api.deps import AppContext
from api.routes import chat, flex_flows, health
from api.twilio_shape import TwilioError, twilio_error_handler, validation_error_handler
from api.webhooks import twilio_messaging
from settings import Settings
from store.crypto import Cipher, KeyedHasher
from store.db import Database, create_tables
from web import STATIC_DIR

log = logging.getLogger(__name__)


async def keep_connecting(context: AppContext) -> None:
    """Connect to Temporal, retrying: the API starts (and /healthz says 503) while it is down."""
    settings = context.settings
    delay = 0.2
    while context.temporal is None:
        try:
            context.temporal = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
        except Exception as exc:
            log.warning("Temporal at %s not reachable (%s); retrying", settings.temporal_address, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def create_app(settings: Settings) -> FastAPI:
    settings.require_secrets()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.resolved_database_url)
        await create_tables(db.engine)
        context = AppContext(
            settings=settings,
            db=db,
            cipher=Cipher.from_setting(settings.encryption_keys, settings.encryption_key_id),
            hasher=KeyedHasher.from_setting(settings.hash_key),
        )
        app.state.context = context
        connecting = asyncio.create_task(keep_connecting(context))
        try:
            yield
        finally:
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connecting
            await db.dispose()

    app = FastAPI(
        title="Switchboard",
        summary="Contact-center messaging on Temporal, in Twilio's REST shapes",
        lifespan=lifespan,
    )
    app.add_exception_handler(TwilioError, twilio_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    for router in (health.router, chat.router, flex_flows.router, twilio_messaging.router):
        app.include_router(router)
    app.mount("/demo", StaticFiles(directory=STATIC_DIR, html=True), name="demo")
    return app
