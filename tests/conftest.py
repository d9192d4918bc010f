"""The tests' fixtures: one Temporal dev server per session, and Switchboard stacks (API on a
loopback port + worker) running in a background thread against it, each with its own database and
task queue; fakes of the outside world on loopback. What tests share besides fixtures is in
``tests.helpers``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from switchboard.devstack import DevServer, start_dev_server, wait_until_ready
from switchboard.fake_provider import FakeMeta, FakeTwilio
from switchboard.settings import Settings
from tests.helpers.jwks import JwksServer
from tests.helpers.recording import RecordingServer
from tests.helpers.stack import Stack, StackFactory, free_port, fresh_postgres_database, test_settings

CHROMIUM = os.environ.get("SWITCHBOARD_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    data = tmp_path_factory.mktemp("temporal")
    server = start_dev_server(data / "temporal.db", port=free_port(), ui_port=None, log_file=data / "temporal.log")
    try:
        asyncio.run(wait_until_ready(server))
        yield server
    finally:
        server.stop()


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


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


@pytest.fixture(scope="module")
def outside(store_backend: str) -> Iterator[RecordingServer]:
    """One per module and store backend, so the requests of a module's two runs never mix."""
    server = RecordingServer()
    try:
        yield server
    finally:
        server.close()
