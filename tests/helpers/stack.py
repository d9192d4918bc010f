"""Switchboard stacks for the tests: settings, the stack class with its HTTP helpers, and the
small utilities tests share (free ports, fresh numbers, polling, PostgreSQL databases)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import secrets
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import uvicorn
from twilio.request_validator import RequestValidator
from twilio.rest import Client as TwilioClient

from api.main import create_app
from switchboard.devstack import ApiServer, BackgroundStack, DevServer
from switchboard.settings import Settings
from switchboard.store.defaults import plan_flex_defaults

T = TypeVar("T")
POSTGRES_ADMIN_URL = os.environ.get("SWITCHBOARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")
REDIS_URL = os.environ.get("SWITCHBOARD_TEST_REDIS", "redis://127.0.0.1:6379/0")
ARTIFACTS = Path(__file__).parent.parent.parent / "test-artifacts"
_numbers = itertools.count(1)
LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_phone() -> str:
    """A distinct customer number per call, so tests never share a contact."""
    return f"+1555{os.getpid() % 1000:03d}{next(_numbers):04d}"


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


class Stack(BackgroundStack):
    """A background stack with the HTTP helpers tests use."""

    # --- HTTP helpers -----------------------------------------------------------------------

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=(self.settings.account_sid, self.settings.auth_token), timeout=60)

    def twilio(self) -> TwilioClient:
        client = TwilioClient(self.settings.account_sid, self.settings.auth_token)
        for domain in (client.chat, client.conversations, client.flex_api, client.studio, client.taskrouter):
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


def spawn(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``switchboard <command>`` as an operator runs it, with ``env`` added, output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen([SWITCHBOARD, command], env={**os.environ, **env}, stdout=out, stderr=out)


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


@contextlib.contextmanager
def stack_on_postgresql(temporal: DevServer, data_dir: Path, **overrides: Any) -> Iterator[Stack]:
    """A stack on its own PostgreSQL database, stopped before the database is dropped (its
    routing work would otherwise retry against a database that is gone)."""
    with fresh_postgres_database() as url:
        settings = test_settings(data_dir, temporal_address=temporal.address, database_url=url, **overrides)
        stack = Stack(settings).start()
        try:
            yield stack
        finally:
            stack.stop()


def healthy(stack: Stack) -> None:
    try:
        answer = httpx.get(f"{stack.url}/healthz")
    except httpx.TransportError as exc:
        raise AssertionError(f"{stack.url}: {exc}") from exc
    assert answer.status_code == 200, answer.text


@contextlib.contextmanager
def second_api(settings: Settings) -> Iterator[Stack]:
    """Another API replica (no worker) on the same store, Temporal and Redis, in its own thread."""
    server = ApiServer(uvicorn.Config(create_app(settings), "127.0.0.1", settings.api_port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="second-api", daemon=True)
    thread.start()
    try:

        def started() -> None:
            assert server.started and thread.is_alive()

        eventually(started)
        yield Stack(settings)  # for its URL and settings; it is not started as a stack
    finally:
        server.should_exit = True
        thread.join(30)
