"""Real components for the tests: one Temporal dev server per session, and Switchboard stacks
(API on a loopback port + worker) running in a background thread against it, each with its own
database file and task queue."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, sync_playwright
from twilio.request_validator import RequestValidator
from twilio.rest import Client as TwilioClient

from switchboard.devstack import BackgroundStack, DevServer, start_dev_server, wait_until_ready
from switchboard.fake_provider import FakeMeta, FakeTwilio
from switchboard.settings import Settings
from switchboard.store.defaults import plan_flex_defaults
from tests.jwks_server import JwksServer

T = TypeVar("T")
POSTGRES_ADMIN_URL = os.environ.get("SWITCHBOARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")
CHROMIUM = os.environ.get("SWITCHBOARD_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
REDIS_URL = os.environ.get("SWITCHBOARD_TEST_REDIS", "redis://127.0.0.1:6379/0")
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
_numbers = itertools.count(1)
LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_phone() -> str:
    """A distinct customer number per call, so tests never share a contact."""
    return f"+1555{os.getpid() % 1000:03d}{next(_numbers):04d}"


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    data = tmp_path_factory.mktemp("temporal")
    server = start_dev_server(data / "temporal.db", port=free_port(), ui_port=None, log_file=data / "temporal.log")
    try:
        asyncio.run(wait_until_ready(server))
        yield server
    finally:
        server.stop()


def test_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "task_queue": f"test-{uuid.uuid4().hex[:8]}",
        "api_port": free_port(),
        "account_sid": "AC" + secrets.token_hex(16),
        "auth_token": secrets.token_hex(16),
        "encryption_keys": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "codec_keys": "c1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "hash_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "twilio_auth_token": secrets.token_hex(16),
        "jwt_secret": secrets.token_urlsafe(32),
        "channel_inactivity_seconds": 30.0,
        # The loopback fakes and recording servers stand in for the outside world; tests of the
        # outbound policy itself build stacks with this emptied.
        "outbound_allowed_networks": LOOPBACK_NETWORKS,
    }
    values.update(overrides)
    return Settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


class Stack(BackgroundStack):
    """A background stack with the HTTP helpers tests use."""

    # --- HTTP helpers -----------------------------------------------------------------------

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=(self.settings.account_sid, self.settings.auth_token), timeout=60)

    def twilio(self) -> TwilioClient:
        client = TwilioClient(self.settings.account_sid, self.settings.auth_token)
        for domain in (client.chat, client.flex_api, client.studio, client.taskrouter):
            domain.base_url = self.url
        return client

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.settings.twilio_auth_token).compute_signature(url, params))

    def sms_params(self, to: str, from_: str, body: str, message_sid: str | None = None) -> dict[str, str]:
        return {
            "From": from_,
            "To": to,
            "Body": body,
            "MessageSid": message_sid or "SM" + uuid.uuid4().hex,
            "AccountSid": self.settings.account_sid,
            "NumMedia": "0",
        }

    def post_webhook(self, http: httpx.Client, params: dict[str, str]) -> httpx.Response:
        url = f"{self.url}/webhooks/twilio/messaging"
        return http.post(url, data=params, headers={"X-Twilio-Signature": self.sign(url, params)})

    def create_service(self, http: httpx.Client) -> str:
        response = http.post("/v2/Services", data={"FriendlyName": "support"})
        assert response.status_code == 201, response.text
        return str(response.json()["sid"])

    def create_flex_flow(self, http: httpx.Client, service_sid: str, **fields: str) -> dict[str, Any]:
        data = {
            "FriendlyName": "sms in",
            "ChatServiceSid": service_sid,
            "ChannelType": "sms",
            "ContactIdentity": new_phone(),
            **fields,
        }
        response = http.post("/v1/FlexFlows", data=data)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


StackFactory = Callable[..., Stack]


# Modules marked ``store_backends`` run every test that starts stacks twice: with each stack's
# store in a SQLite file, and in a PostgreSQL database created for that stack.
STORE_BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "store_backends: run the module's stack tests on SQLite and on PostgreSQL")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("store_backends") and "store_backend" in metafunc.fixturenames:
        metafunc.parametrize("store_backend", STORE_BACKENDS, indirect=True, scope="module")


@pytest.fixture(scope="module")
def store_backend(request: pytest.FixtureRequest) -> str:
    """Where this module's stacks keep their store (SQLite unless the module is marked)."""
    backend: str = getattr(request, "param", "sqlite")
    return backend


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A PostgreSQL database created for the caller, dropped afterwards."""
    name = f"switchboard_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        # A test database need not survive a crash: commits skip the WAL flush, as SQLite's do.
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def make_stack(
    temporal_server: DevServer, tmp_path_factory: pytest.TempPathFactory, store_backend: str
) -> Iterator[StackFactory]:
    """Start stacks with settings overrides; each gets its own database (a SQLite file, or a fresh
    PostgreSQL database in modules run on both) and task queue."""
    stacks: list[Stack] = []
    with contextlib.ExitStack() as databases:

        def make(**overrides: Any) -> Stack:
            data_dir = tmp_path_factory.mktemp("stack")
            overrides.setdefault("temporal_address", temporal_server.address)
            if store_backend == "postgresql" and "database_url" not in overrides:
                overrides["database_url"] = databases.enter_context(fresh_postgres_database())
            stack = Stack(test_settings(data_dir, **overrides)).start()
            stacks.append(stack)
            return stack

        yield make
        for stack in stacks:  # before their databases are dropped
            stack.stop()


@pytest.fixture(scope="module")
def stack(make_stack: StackFactory) -> Stack:
    return make_stack()


@pytest.fixture(scope="module")
def fake_twilio(store_backend: str) -> Iterator[FakeTwilio]:
    """Twilio's Messages API on loopback (real HTTP), recording what it is sent; one per module
    and store backend, so the requests of a module's two runs never mix."""
    fake = FakeTwilio("AC" + secrets.token_hex(16), secrets.token_hex(16)).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    """An identity provider's JWKS on loopback (real HTTP), for single sign-on tokens."""
    server = JwksServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def fake_meta(store_backend: str) -> Iterator[FakeMeta]:
    """Meta's Graph API on loopback (real HTTP), recording what it is sent; one per module and
    store backend."""
    fake = FakeMeta(secrets.token_hex(16)).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test started with ``spawn``, terminated after it."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(30)


def spawn(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``switchboard <command>`` as an operator runs it, with ``env`` added, output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen([SWITCHBOARD, command], env={**os.environ, **env}, stdout=out, stderr=out)


@pytest.fixture(scope="module")
def sending(make_stack: StackFactory, fake_twilio: FakeTwilio) -> Stack:
    """A stack that sends SMS and WhatsApp through ``fake_twilio`` (and signs agents in by name)."""
    return make_stack(
        desk_dev_sign_in=True,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_api_url=fake_twilio.url,
    )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=STORE_BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty SQLite file, or a freshly created PostgreSQL database (as the store's URL)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    else:
        with fresh_postgres_database() as url:
            yield Settings(database_url=url).resolved_database_url


def eventually(check: Callable[[], T], timeout: float = 30, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns without an AssertionError (webhooks answer once a message is
    durable in Temporal; it is stored a moment later)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, ValueError):  # ValueError: unpacking a list that is not there yet
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class RecordingServer:
    """A real HTTP server on loopback standing in for the outside world (a customer's backend, a
    bot's webhook): records every request and answers from a per-path script of replies (the
    last reply repeats), JSON by default."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: dict[str, list[Reply]] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parsed = urlparse(self.path)
                recorded = Recorded(
                    self.command, parsed.path, parse_qs(parsed.query), dict(self.headers), self.rfile.read(length)
                )
                with outer.lock:
                    outer.requests.append(recorded)
                    script = outer.replies.get(parsed.path) or [Reply()]
                    reply = script.pop(0) if len(script) > 1 else script[0]
                payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = payload.encode()
                self.send_response(reply.status)
                self.send_header(
                    "Content-Type", "application/json" if not isinstance(reply.body, str) else "text/plain"
                )
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def script(self, path: str, *replies: Reply) -> None:
        with self.lock:
            self.replies[path] = list(replies)

    def received(self, path: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def outside(store_backend: str) -> Iterator[RecordingServer]:
    """One per module and store backend, so the requests of a module's two runs never mix."""
    server = RecordingServer()
    try:
        yield server
    finally:
        server.close()


def clear_the_floor(stack: Stack, *names: str) -> None:
    """Agents of earlier tests go Offline and their customers' waiting tasks are canceled, so
    what comes next is offered to ``names`` only (tests of one module share a stack)."""
    workspace = stack.twilio().taskrouter.v1.workspaces(plan_flex_defaults(stack.settings).defaults.workspace_sid)
    offline = next(a.sid for a in workspace.activities.list() if a.friendly_name == "Offline")
    for worker in workspace.workers.list():
        if worker.friendly_name not in names and worker.available:
            workspace.workers(worker.sid).update(activity_sid=offline)
    for task in workspace.tasks.list(assignment_status=["pending", "reserved"]):
        workspace.tasks(task.sid).update(assignment_status="canceled", reason="a new test")
