"""What one inbound SMS webhook costs the API, counted rather than timed: the database statements
the API runs while answering it, and the ASGI layers (middlewares) the request passes through.

    python -m bench.webhook_queries

On a loopback stack (API and worker in one process, SQLite) with a long-lived SMS Flex Flow, it
sends, one at a time and each once the previous one is stored: a contact's first message, their
second and third, and another contact's first message. Statements are counted with SQLAlchemy's
``before_cursor_execute`` event, and only those run by the HTTP request's own task (the worker's
store writes and the API's background work are not the webhook's); layers are the objects with an
ASGI ``__call__(scope, receive, send)`` entered while the request runs. The counts do not depend on
the machine's load, so runs before and after a change compare exactly.

It then times what each of Switchboard's own middlewares adds to a webhook-shaped request, alone
around an app that answers at once (microseconds on this machine, for scale against the API's
CPU per webhook).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import httpx
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine
from sqlmodel import col
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage
from twilio.request_validator import RequestValidator

from api.main import create_app
from bench.webhook_throughput import bench_server, setup_flow
from switchboard.devstack import BackgroundStack
from switchboard.settings import Settings
from switchboard.store.db import sync_url
from switchboard.store.models import Message

ASGI_ARGUMENTS = ("self", "scope", "receive", "send")
# The middlewares api.main adds (the other layers are uvicorn's, Starlette's and FastAPI's own).
PROJECT_MIDDLEWARES = ("SecurityHeaders", "CodecCors", "WidgetCors", "BodySizeLimit", "WebhookTiming")


@dataclass
class Counts:
    statements: list[str] = field(default_factory=list)
    layers: dict[int, str] = field(default_factory=dict)


class Counter:
    """Counts the statements and ASGI layers of the HTTP requests running meanwhile."""

    def __init__(self) -> None:
        self.current: Counts | None = None

    @staticmethod
    def in_request() -> bool:
        try:
            task = asyncio.current_task()
        except RuntimeError:
            return False
        return task is not None and task.get_coro().__qualname__.endswith("run_asgi")  # type: ignore[union-attr]

    def on_statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.current is not None and self.in_request():
            self.current.statements.append(" ".join(statement.split())[:100])

    def on_call(self, frame: FrameType, what: str, _arg: Any) -> None:
        code = frame.f_code
        if (
            what == "call"
            and self.current is not None
            and code.co_name == "__call__"
            and code.co_varnames[:4] == ASGI_ARGUMENTS
        ):
            layer = frame.f_locals.get("self")
            self.current.layers.setdefault(id(layer), type(layer).__qualname__)

    @contextmanager
    def counting(self, stack: BackgroundStack) -> Iterator[Counts]:
        counts = Counts()
        self.current = counts
        stack.loop.call_soon_threadsafe(sys.setprofile, self.on_call)
        try:
            yield counts
        finally:
            stack.loop.call_soon_threadsafe(sys.setprofile, None)
            self.current = None


def send_sms(http: httpx.Client, settings: Settings, url: str, to: str, sender: str, body: str) -> str:
    key = "SM" + uuid.uuid4().hex
    params = {"From": sender, "To": to, "Body": body, "MessageSid": key, "NumMedia": "0"}
    target = f"{url}/webhooks/twilio/messaging"
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(target, params)
    answer = http.post(target, data=params, headers={"X-Twilio-Signature": signature})
    if answer.status_code != 200:
        raise SystemExit(f"the webhook answered {answer.status_code}: {answer.text}")
    return f"twilio:{key}"


def wait_until_stored(engine: Engine, key: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while conn.execute(select(func.count()).where(col(Message.message_key) == key)).scalar_one() == 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"message {key} was not stored within {timeout:.0f} s")
            time.sleep(0.05)
            conn.rollback()


def run(settings: Settings, *, show_statements: bool) -> list[tuple[str, Counts]]:
    counter = Counter()
    event.listen(Engine, "before_cursor_execute", counter.on_statement)
    stack = BackgroundStack(settings).start()
    store = create_engine(sync_url(settings.resolved_database_url))
    results: list[tuple[str, Counts]] = []
    try:
        _service, number = asyncio.run(setup_flow(stack.url, settings))
        first, second = "+16660000001", "+16660000002"
        with httpx.Client(timeout=60) as http:
            for label, sender in (
                ("contact's 1st message", first),
                ("contact's 2nd message", first),
                ("contact's 3rd message", first),
                ("another contact's 1st", second),
            ):
                with counter.counting(stack) as counts:
                    key = send_sms(http, settings, stack.url, number, sender, label)
                wait_until_stored(store, key)
                results.append((label, counts))
    finally:
        store.dispose()
        stack.stop()
        event.remove(Engine, "before_cursor_execute", counter.on_statement)
    for label, counts in results:
        print(f"  {label:24} {len(counts.statements):2d} statements   {len(counts.layers):2d} ASGI layers")
        if show_statements:
            for statement in counts.statements:
                print(f"      {statement}")
    layers = list(results[-1][1].layers.values())
    print(f"  layers, outermost first: {' > '.join(layers)}")
    own = [name for name in layers if name in PROJECT_MIDDLEWARES]
    print(f"  of which Switchboard's middlewares: {len(own)} ({', '.join(own)})")
    return results


async def answer_at_once(_scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/xml")]})
    await send({"type": "http.response.body", "body": b"<Response></Response>"})


async def middleware_microseconds(settings: Settings, calls: int = 20_000) -> dict[str, float]:
    """Microseconds each middleware adds to a webhook-shaped request (and all of them together)."""
    body = b"From=%2B16660000001&To=%2B15550009999&Body=hello&MessageSid=SM0&NumMedia=0"
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks/twilio/messaging",
        "headers": [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())],
    }

    async def receive() -> AsgiMessage:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(_message: AsgiMessage) -> None:
        return None

    middlewares = create_app(settings).user_middleware  # outermost first, as the app adds them

    def wrapped(inner: ASGIApp) -> dict[str, ASGIApp]:
        return {m.cls.__name__: m.cls(inner, *m.args, **m.kwargs) for m in middlewares}  # type: ignore[attr-defined]

    async def per_call(app: ASGIApp) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            await app(scope, receive, send)
        return (time.perf_counter() - started) / calls * 1e6

    alone = await per_call(answer_at_once)
    every: ASGIApp = answer_at_once
    for layer in reversed(list(wrapped(answer_at_once))):
        every = wrapped(every)[layer]
    figures = {name: await per_call(app) - alone for name, app in wrapped(answer_at_once).items()}
    figures[f"all {len(middlewares)}"] = await per_call(every) - alone
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statements", action="store_true", help="print each statement counted")
    args = parser.parse_args()
    print("Switchboard webhook cost: statements and ASGI layers per inbound SMS webhook (API, SQLite)")
    with bench_server("") as settings:
        run(settings, show_statements=args.statements)
        for name, microseconds in asyncio.run(middleware_microseconds(settings)).items():
            print(f"  middleware {name:16} {microseconds:6.1f} us per request (alone, on this machine)")


if __name__ == "__main__":
    main()
