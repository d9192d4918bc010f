"""The ``switchboard`` command: ``dev`` (everything on one machine), ``api`` and ``worker``."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from api.main import create_app
from api.serving import uvicorn_options
from devstack import serve_api_and_worker, start_dev_server, wait_until_ready
from settings import Settings, generate_dev_secrets, load_settings

app = typer.Typer(
    add_completion=False, pretty_exceptions_enable=False, help="Switchboard: contact-center messaging on Temporal."
)


async def run_dev(settings: Settings, temporal_port: int, ui_port: int) -> None:
    data_dir = settings.data_dir
    server = start_dev_server(
        data_dir / "temporal.db", port=temporal_port, ui_port=ui_port, log_file=data_dir / "temporal.log"
    )
    try:
        await wait_until_ready(server, settings.temporal_namespace)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def announce() -> None:
            api_url = f"{'https' if settings.tls else 'http'}://{settings.api_host}:{settings.api_port}"
            typer.echo(f"API          {api_url}  (REST reference {api_url}/docs)")
            typer.echo(f"Temporal UI  {server.ui_url}")
            typer.echo(f"Web chat     {api_url}/demo/  (the widget on the default web Flex Flow)")
            typer.echo(f"Agent desk   {api_url}/desk/  (dev sign-in: any agent name)")
            typer.echo(f"Temporal     {server.address}   data in {data_dir}")
            typer.echo("Press Ctrl-C to stop.")

        await serve_api_and_worker(settings, stop, announce)
    finally:
        server.stop()
        typer.echo("Switchboard stopped.")


@app.command()
def dev(
    data_dir: Annotated[Path, typer.Option(envvar="SWITCHBOARD_DATA_DIR", help="Where state and keys live")] = Path(
        ".switchboard"
    ),
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    temporal_port: Annotated[int, typer.Option(help="Temporal gRPC port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port")] = 8233,
) -> None:
    """Start the whole stack on this machine: Temporal dev server with its UI, worker, API, web chat demo and agent desk."""
    secrets_path, created = generate_dev_secrets(data_dir)
    if created:
        typer.echo(f"Generated a new encryption key, hash key and API credentials in {secrets_path}.")
        typer.echo("Keep that file: the stored conversations cannot be read without it.")
    settings = Settings(
        data_dir=data_dir, api_port=port, temporal_address=f"127.0.0.1:{temporal_port}", desk_dev_sign_in=True
    ).with_file_secrets()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run_dev(settings, temporal_port, ui_port))


@app.command()
def api() -> None:
    """Run the API alone, against SWITCHBOARD_TEMPORAL_ADDRESS and SWITCHBOARD_DATABASE_URL."""
    settings = load_settings().require_secrets()
    uvicorn.run(create_app(settings), **uvicorn_options(settings))


@app.command()
def worker() -> None:
    """Run a worker alone, against SWITCHBOARD_TEMPORAL_ADDRESS and SWITCHBOARD_DATABASE_URL."""
    from worker import main as worker_main

    logging.basicConfig(level=logging.INFO)
    asyncio.run(worker_main())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
