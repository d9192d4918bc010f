"""The ``switchboard`` command: ``dev`` (everything on one machine), ``api``, ``worker``, ``migrate``
(the database schema) and ``keys`` (encryption keys and their rotation)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import signal
import ssl
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

import typer
import uvicorn

from api.main import create_app
from api.serving import uvicorn_options
from switchboard.devstack import (
    ShutdownTimeout,
    free_port,
    serve_api_and_worker,
    serving_temporal_ui_front,
    start_dev_server,
    wait_until_ready,
)
from switchboard.fake_provider import FakeMeta, FakeProvider, FakeTwilio
from switchboard.key_rotation import keys_app
from switchboard.observability import configure_logging
from switchboard.settings import SECRETS_FILE, Settings, generate_dev_secrets, load_settings
from switchboard.store.db import owner_only_sqlite_files
from switchboard.store.defaults import (
    CHAT_SERVICE_NAME,
    QUEUE_NAME,
    SMS_FLEX_FLOW_NAME,
    WEB_FLEX_FLOW_NAME,
    WORKFLOW_NAME,
    WORKSPACE_NAME,
    plan_flex_defaults,
)
from switchboard.store.payload_codec import CODEC_PATH, data_converter

app = typer.Typer(
    add_completion=False, pretty_exceptions_enable=False, help="Switchboard: contact-center messaging on Temporal."
)
app.add_typer(keys_app, name="keys")


def describe_defaults(settings: Settings) -> list[str]:
    """The lines naming what a new Flex project has (``store.defaults``): the account, chat
    service, workspace with its queue and workflow, Studio flow, and the Flex Flows with their
    numbers. Their SIDs derive from the account SID, so they are known before the API starts."""
    defaults = plan_flex_defaults(settings).defaults
    return [
        f"Account      {settings.account_sid}  (its auth token: SWITCHBOARD_AUTH_TOKEN, or in "
        f"{settings.data_dir / SECRETS_FILE})",
        f'Chat service {defaults.chat_service_sid}  "{CHAT_SERVICE_NAME}"',
        f'Workspace    {defaults.workspace_sid}  "{WORKSPACE_NAME}" (queue {defaults.task_queue_sid} "{QUEUE_NAME}", '
        f'workflow {defaults.workflow_sid} "{WORKFLOW_NAME}", Studio flow {defaults.studio_flow_sid})',
        f'Flex Flows   {defaults.sms_flex_flow_sid}  "{SMS_FLEX_FLOW_NAME}", SMS to {settings.flex_sms_number}; '
        f'{defaults.web_flex_flow_sid}  "{WEB_FLEX_FLOW_NAME}", the demo page\'s web chat',
    ]


def describe_providers(settings: Settings) -> str | None:
    """The line saying which channels' outbound messages go nowhere (no provider account): the
    desk shows them as sent, since Switchboard stored them, but no customer receives them."""
    missing = []
    if not settings.twilio_account_sid:
        missing.append("SMS and WhatsApp (no Twilio account)")
    if not settings.meta_access_token:
        missing.append("Messenger and WhatsApp Cloud (no Meta access token)")
    if not missing:
        return None
    return (
        f"Not sent     agents' messages on {' or '.join(missing)} are stored, not sent to the customer; "
        "--fake-providers sends them to local fake Twilio and Meta APIs"
    )


async def run_dev(settings: Settings, temporal_port: int, ui_port: int) -> None:
    data_dir = settings.data_dir
    api_url = f"{'https' if settings.tls else 'http'}://{settings.api_host}:{settings.api_port}"
    host = "127.0.0.1"
    # The printed UI address is a front serving the dev server's UI and the API's codec on one
    # origin (devstack.TemporalUiFront); the dev server's own UI listens on a port of its own.
    ui_url = f"http://{host}:{ui_port}"
    server = start_dev_server(
        data_dir / "temporal.db",
        port=temporal_port,
        ui_port=free_port(host),
        log_file=data_dir / "temporal.log",
        codec_endpoint=f"{ui_url}{CODEC_PATH}",
        host=host,
    )
    try:
        await wait_until_ready(server, settings.temporal_namespace, converter=data_converter(settings))
        # The dev server makes its files readable by all; they hold what the store does
        # (ciphertext, SIDs, timestamps): the owner's alone too.
        owner_only_sqlite_files(data_dir / "temporal.db")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # SIGHUP too: the dev server no longer hears the terminal's signals, so a closed terminal
        # stops it through here.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)

        def announce() -> None:
            typer.echo(f"API          {api_url}  (REST reference {api_url}/docs, with the account SID and token)")
            typer.echo(
                f"Temporal UI  {ui_url}  (payloads decrypted in a browser that signed in once at "
                f"{ui_url}{CODEC_PATH}/sign-in with the account SID and auth token)"
            )
            typer.echo(f"Web chat     {api_url}/demo/  (the widget on the default web Flex Flow)")
            typer.echo(f"Agent desk   {api_url}/desk/  (dev sign-in: any agent name)")
            typer.echo(f"Temporal     {server.address}   data in {data_dir}")
            for line in describe_defaults(settings):
                typer.echo(line)
            providers = describe_providers(settings)
            if providers:
                typer.echo(providers)
            typer.echo("Press Ctrl-C to stop.")

        assert server.ui_url is not None
        verify = ssl.create_default_context(cafile=settings.tls_cert_file) if settings.tls else True
        async with serving_temporal_ui_front(host, ui_port, server.ui_url, api_url, verify):
            try:
                await serve_api_and_worker(settings, stop, announce)
            except ShutdownTimeout as exc:
                server.stop()
                typer.echo(f"Switchboard stopped ({exc}; Temporal hands what was in flight to the next worker).")
                # Not a return: asyncio.run would wait on the undrained worker's tasks.
                os._exit(0)
    finally:
        server.stop()
        typer.echo("Switchboard stopped.")


def demo_text_command(fake_twilio_url: str) -> str:
    """A shell command texting the default SMS number through the fake Twilio. Each value is
    URL-encoded (``--data-urlencode``): ``-d From=+1555...`` would send the ``+`` as a space."""
    fields = ("From=+15551230000", "Body=hi")
    return shlex.join(
        ["curl", *(arg for field in fields for arg in ("--data-urlencode", field)), fake_twilio_url + "/customer/sms"]
    )


def using_fakes(settings: Settings, twilio: FakeTwilio, meta: FakeMeta) -> Settings:
    """``settings`` sending through the fake providers. They serve customers' media from loopback,
    which the outbound policy refuses: their addresses are allowed too."""
    allowed = [settings.outbound_allowed_networks, *(str(urlparse(fake.url).hostname) for fake in (twilio, meta))]
    return settings.model_copy(
        update={
            "twilio_account_sid": twilio.account_sid,
            "twilio_api_url": twilio.url,
            "meta_access_token": meta.access_token,
            "meta_graph_url": meta.url,
            "outbound_allowed_networks": ",".join(dict.fromkeys(a for a in allowed if a.strip())),
        }
    )


@app.command()
def dev(
    data_dir: Annotated[Path, typer.Option(envvar="SWITCHBOARD_DATA_DIR", help="Where state and keys live")] = Path(
        ".switchboard"
    ),
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    temporal_port: Annotated[int, typer.Option(help="Temporal gRPC port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port")] = 8233,
    fake_providers: Annotated[
        bool, typer.Option(help="Send SMS, WhatsApp and Messenger to local fake Twilio and Meta APIs (demos)")
    ] = False,
) -> None:
    """Start the whole stack on this machine: Temporal dev server with its UI, worker, API, web chat demo and agent desk."""
    secrets_path, created = generate_dev_secrets(data_dir)
    if created:
        typer.echo(f"Generated a new encryption key, hash key and API credentials in {secrets_path}.")
        typer.echo("Keep that file: the stored conversations cannot be read without it.")
    settings = Settings(
        data_dir=data_dir, api_port=port, temporal_address=f"127.0.0.1:{temporal_port}", desk_dev_sign_in=True
    ).with_file_secrets()
    if not settings.temporal_ui_origin:  # the dev server's UI may call the codec endpoint
        settings = settings.model_copy(update={"temporal_ui_origin": f"http://127.0.0.1:{ui_port}"})
    configure_logging(settings, default_level="WARNING")
    fakes: list[FakeProvider] = []
    if fake_providers:
        twilio = FakeTwilio("AC" + secrets.token_hex(16), settings.twilio_auth_token).start()
        twilio.messaging_webhook = f"{settings.base_url}/webhooks/twilio/messaging"
        twilio.business_number = settings.flex_sms_number
        meta = FakeMeta(secrets.token_hex(16)).start()
        fakes = [twilio, meta]
        settings = using_fakes(settings, twilio, meta)
        typer.echo(f"Fake Twilio  {twilio.url}  (a customer texts: {demo_text_command(twilio.url)})")
        typer.echo(f"Fake Meta    {meta.url}")
    try:
        asyncio.run(run_dev(settings, temporal_port, ui_port))
    finally:
        for fake in fakes:
            fake.stop()


@app.command()
def api() -> None:
    """Run the API alone, against SWITCHBOARD_TEMPORAL_ADDRESS and SWITCHBOARD_DATABASE_URL."""
    settings = load_settings().require_secrets()
    configure_logging(settings)
    # log_config=None: uvicorn's access and error lines go through the handler configured above.
    uvicorn.run(create_app(settings), **uvicorn_options(settings), log_config=None)


@app.command()
def worker() -> None:
    """Run a worker alone, against SWITCHBOARD_TEMPORAL_ADDRESS and SWITCHBOARD_DATABASE_URL."""
    from worker import main as worker_main

    asyncio.run(worker_main())


@app.command("migrate")
def migrate_command(
    show: Annotated[
        bool, typer.Option("--show", help="Print the database's revision and the latest; change nothing")
    ] = False,
) -> None:
    """Bring the database (SWITCHBOARD_DATABASE_URL, or the data directory's SQLite file) to the latest schema.

    The API and worker do this as they start; run it ahead of a rolling upgrade to migrate once."""
    from switchboard.store.db import Database
    from switchboard.store.migrate import current_revision, head_revision, migrate

    async def run() -> None:
        db = Database(load_settings().resolved_database_url)
        try:
            if show:
                async with db.engine.connect() as conn:
                    current = await conn.run_sync(current_revision)
                typer.echo(f"database at {current or 'no revision'}; latest is {head_revision()}")
                return
            result = await migrate(db.engine)
            stamped = " (an existing create_all schema, stamped)" if result.stamped else ""
            typer.echo(f"database at {result.after} (was {result.before or 'empty'}){stamped}")
        finally:
            await db.dispose()

    asyncio.run(run())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
