"""Webhook ingest benchmark: N channels x M messages through the real Twilio messaging webhook.

Prints accepted messages/s (webhook answered 200), stored messages/s, p50/p99 webhook latency and
webhook-to-stored latency, and, measured in the same run against the same Temporal dev server, the
raw signal-with-start rate of a trivial workflow, with the ratio between the two.

    python -m bench.webhook_throughput --channels 20 --messages 50 --concurrency 20

Messages of one channel are sent one after another (as a customer types); channels run in parallel.
By default the API and the worker run as their own processes (`switchboard api`, `switchboard
worker`), as in production, so the load generator and they do not share one interpreter;
`--in-process` runs both in one event loop as `switchboard dev` does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import httpx
from sqlmodel import col, func, select
from temporalio.client import Client
from temporalio.worker import Worker
from twilio.request_validator import RequestValidator

from bench.processes import cpu_sample
from bench.raw_workflow import RawChannel
from switchboard.devstack import BackgroundStack, start_dev_server, wait_until_ready
from switchboard.settings import Settings, generate_dev_secrets
from switchboard.store.db import Database
from switchboard.store.models import Message
from switchboard.store.payload_codec import data_converter


@dataclass
class Timings:
    sent_at: dict[str, float] = field(default_factory=dict)
    # Each customer's message keys in the order they were sent (and answered).
    sent_by: dict[str, list[str]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    first_sent: float = 0.0
    last_accepted: float = 0.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def drive_webhooks(
    settings: Settings,
    url: str | Sequence[str],
    to: str,
    channels: int,
    messages: int,
    concurrency: int,
    *,
    sender_prefix: str = "+1666",
) -> Timings:
    """Given several API URLs, the calls alternate between them (as a load balancer would)."""
    validator = RequestValidator(settings.twilio_auth_token)
    webhooks = [f"{u}/webhooks/twilio/messaging" for u in ([url] if isinstance(url, str) else url)]
    timings = Timings()
    gate = asyncio.Semaphore(concurrency)

    async def customer(client: httpx.AsyncClient, number: int) -> None:
        sender = f"{sender_prefix}{number:07d}"
        order = timings.sent_by.setdefault(sender, [])
        for i in range(messages):
            webhook = webhooks[(number + i) % len(webhooks)]
            sid = "SM" + uuid.uuid4().hex
            params = {"From": sender, "To": to, "Body": f"message {i}", "MessageSid": sid, "NumMedia": "0"}
            headers = {"X-Twilio-Signature": validator.compute_signature(webhook, params)}
            async with gate:
                started = time.time()
                timings.sent_at[f"twilio:{sid}"] = started
                order.append(f"twilio:{sid}")
                response = await client.post(webhook, data=params, headers=headers)
                finished = time.time()
            if response.status_code != 200:
                raise SystemExit(f"webhook answered {response.status_code}: {response.text}")
            timings.latencies.append(finished - started)
            timings.last_accepted = max(timings.last_accepted, finished)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        timings.first_sent = time.time()
        await asyncio.gather(*(customer(client, n) for n in range(channels)))
    return timings


async def wait_until_stored(
    db: Database, service_sid: str, timings: Timings, deadline_seconds: float
) -> tuple[list[float], float]:
    """Wait until every sent message has its row, then check it was stored exactly once and in
    order. Returns the webhook-to-stored latencies and when the last message was stored.

    ``date_created`` is taken by the worker's append activity as it builds the row, inside the
    write transaction; the bench's clock is the same machine's, so the two compare directly."""
    keys = list(timings.sent_at)
    deadline = time.time() + deadline_seconds
    while True:
        async with db.session() as session:
            stored = (await session.exec(select(func.count()).where(col(Message.message_key).in_(keys)))).one()
        if stored >= len(keys) or time.time() > deadline:
            break
        await asyncio.sleep(0.2)
    async with db.session() as session:
        rows = (
            await session.exec(
                select(Message.message_key, Message.channel_sid, Message.index, Message.date_created).where(
                    col(Message.message_key).in_(keys)
                )
            )
        ).all()
        # The chat service is this run's alone: any row beyond one per sent message is a duplicate.
        all_rows = (await session.exec(select(func.count()).where(Message.service_sid == service_sid))).one()
    stored_at = {key: created.replace(tzinfo=UTC).timestamp() for key, _, _, created in rows}
    placed = {key: (channel, index) for key, channel, index, _ in rows}
    failures = []
    if len(stored_at) < len(keys):
        failures.append(
            f"{len(keys) - len(stored_at)} of {len(keys)} messages not stored within {deadline_seconds:.0f}s"
        )
    # Rows still arriving between the two reads are not duplicates: only count them once all are in.
    if all_rows != len(stored_at) and len(stored_at) == len(keys):
        failures.append(f"{all_rows - len(stored_at)} duplicated or unexpected message rows")
    for sender, sent in timings.sent_by.items():
        where = [placed[key] for key in sent if key in placed]
        channels = {channel for channel, _ in where}
        if len(channels) > 1:
            failures.append(f"{sender}'s messages landed on {len(channels)} channels")
        elif [index for _, index in where] != list(range(len(where))):
            failures.append(f"{sender}'s messages are not stored at indexes 0..{len(where) - 1} in send order")
    if failures:
        raise SystemExit("FAILED: " + "; ".join(failures[:10]) + (" ..." if len(failures) > 10 else ""))
    latencies = [stored_at[key] - timings.sent_at[key] for key in keys]
    return latencies, max(stored_at.values())


async def raw_signal_with_start(settings: Settings, channels: int, messages: int, concurrency: int) -> float:
    """Signals-with-start per second for the same shape of traffic, on the same server."""
    client = await Client.connect(settings.temporal_address, data_converter=data_converter(settings))
    queue = f"bench-raw-{uuid.uuid4().hex[:8]}"
    gate = asyncio.Semaphore(concurrency)

    async def channel(number: int) -> None:
        for i in range(messages):
            async with gate:
                await client.start_workflow(
                    RawChannel.run,
                    messages,
                    id=f"raw-{queue}-{number}",
                    task_queue=queue,
                    start_signal="message",
                    start_signal_args=[f"message {i}"],
                )

    async with Worker(client, task_queue=queue, workflows=[RawChannel]):
        started = time.time()
        await asyncio.gather(*(channel(n) for n in range(channels)))
        elapsed = time.time() - started
    return channels * messages / elapsed


class _Accept(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def integration_endpoint() -> Iterator[str]:
    """A loopback endpoint answering 200 to every post, as an external integration would."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


async def setup_flow(
    url: str, settings: Settings, number: str = "+15550009999", *, external: str | None = None
) -> tuple[str, str]:
    """A chat service and a long-lived SMS Flex Flow on it (with an ``external`` integration
    posting every message to ``external``, when given): (the service SID, the Flow's number)."""
    async with httpx.AsyncClient(base_url=url, auth=(settings.account_sid, settings.auth_token)) as http:
        service = await http.post("/v2/Services", data={"FriendlyName": "bench"})
        if service.status_code != 201:
            raise SystemExit(f"creating the chat service answered {service.status_code}: {service.text}")
        service_sid: str = service.json()["sid"]
        flow = await http.post(
            "/v1/FlexFlows",
            data={
                "FriendlyName": "bench",
                "ChatServiceSid": service_sid,
                "ChannelType": "sms",
                "ContactIdentity": number,
                "LongLived": "true",
                **({"IntegrationType": "external", "Integration.Url": external} if external else {}),
            },
        )
        if flow.status_code != 201:
            raise SystemExit(f"creating the Flex Flow answered {flow.status_code}: {flow.text}")
    return service_sid, number


def traffic_arguments(description: str | None) -> argparse.ArgumentParser:
    """The command line the throughput benchmarks share: the traffic's shape and the store."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--messages", type=int, default=50, help="messages per channel")
    parser.add_argument("--concurrency", type=int, default=20, help="webhook calls in flight")
    parser.add_argument("--database-url", default="", help="Switchboard's store (default: SQLite in a temp dir)")
    return parser


def main() -> None:
    parser = traffic_arguments(__doc__)
    parser.add_argument(
        "--in-process", action="store_true", help="API and worker in one process, like `switchboard dev`"
    )
    parser.add_argument("--external", action="store_true", help="an external integration posting every message")
    args = parser.parse_args()
    total = args.channels * args.messages

    endpoint = integration_endpoint() if args.external else contextlib.nullcontext()
    with bench_stack(args.database_url, in_process=args.in_process) as (settings, url), endpoint as external:
        figures = asyncio.run(
            run_benchmark(url, settings, args.channels, args.messages, args.concurrency, external=external)
        )

    accepted, stored, webhook, to_store, raw, cpu_ms = figures
    print(f"Switchboard webhook ingest: {args.channels} channels x {args.messages} messages = {total}")
    print(f"  machine              {os.cpu_count()} cores, {platform.platform()}, Python {sys.version.split()[0]}")
    print(f"  concurrency          {args.concurrency} webhook calls in flight")
    print(
        f"  stack                {'API and worker in one process' if args.in_process else 'API and worker processes'}"
    )
    print(f"  store                {args.database_url.split('@')[-1] if args.database_url else 'SQLite (WAL)'}")
    print(f"  integration          {'external, to a loopback endpoint' if args.external else 'none'}")
    print(f"  accepted             {accepted:8.1f} messages/s   (webhook answered 200, message durable)")
    print(f"  stored               {stored:8.1f} messages/s   (first send to last row written)")
    print(
        f"  webhook latency      p50 {1000 * percentile(webhook, 50):7.1f} ms   p99 {1000 * percentile(webhook, 99):7.1f} ms"
    )
    print(
        f"  webhook-to-stored    p50 {1000 * percentile(to_store, 50):7.1f} ms   p99 {1000 * percentile(to_store, 99):7.1f} ms"
    )
    print(f"  raw signal-with-start {raw:7.1f} /s   (same server, same traffic shape, trivial workflow)")
    print(f"  ratio accepted / raw {accepted / raw:8.2f}")
    print("  lost / duplicated    0 / 0, every customer's messages in send order on one channel")
    print(f"  mean webhook latency {1000 * statistics.fmean(webhook):8.1f} ms")
    per_process = ", ".join(f"{role} {ms:.2f} ms" for role, ms in sorted(cpu_ms.items()))
    print(f"  CPU per message      {per_process}   (bench: the load generator and the store check)")


@contextlib.contextmanager
def bench_stack(database_url: str, *, in_process: bool) -> Iterator[tuple[Settings, str]]:
    """A Temporal dev server (SQLite, WAL) and a Switchboard stack on it, in a temporary
    directory; yields the settings and the API's base URL."""
    with (
        bench_server(database_url) as settings,
        running_stack(settings, in_process=in_process, logs=settings.data_dir) as url,
    ):
        yield settings, url


@contextlib.contextmanager
def bench_server(database_url: str) -> Iterator[Settings]:
    """A Temporal dev server (SQLite, WAL) in a temporary directory, and the settings of a
    Switchboard stack on it (the stack is the caller's to start)."""
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as tmp:
        data_dir = Path(tmp)
        generate_dev_secrets(data_dir)
        server = start_dev_server(data_dir / "temporal.db", port=free_port(), ui_port=None, log_file=data_dir / "t.log")
        try:
            asyncio.run(wait_until_ready(server))
            yield Settings(
                data_dir=data_dir,
                temporal_address=server.address,
                api_port=free_port(),
                task_queue=f"switchboard-bench-{uuid.uuid4().hex[:8]}",
                # No channel closes during the run: every customer's messages share one channel.
                channel_inactivity_seconds=600,
                database_url=database_url,
            ).with_file_secrets()
        finally:
            server.stop()


@contextlib.contextmanager
def running_stack(settings: Settings, *, in_process: bool, logs: Path) -> Iterator[str]:
    """The API and worker for the run; yields the API's base URL once it is healthy.

    By default they run as `switchboard api` and `switchboard worker` processes, as deployed: the
    load generator, the API and the worker each get their own interpreter (and GIL). With
    ``in_process`` they run as `switchboard dev` runs them, ``serve_api_and_worker`` on one event
    loop, here in a background thread (``BackgroundStack``) so the load generator at least does not
    queue behind them on the same loop; it still shares their GIL."""
    if in_process:
        stack = BackgroundStack(settings).start()
        try:
            yield stack.url
        finally:
            stack.stop()
        return
    with running_processes(settings, logs, replicas=1) as urls:
        yield urls[0]


@contextlib.contextmanager
def running_processes(settings: Settings, logs: Path, *, replicas: int) -> Iterator[list[str]]:
    """``replicas`` `switchboard api` processes (the first on the settings' port) and as many
    `switchboard worker` processes on one task queue; yields the APIs' base URLs once healthy."""
    switchboard = str(Path(sys.executable).parent / "switchboard")
    ports = [settings.api_port] + [free_port() for _ in range(replicas - 1)]
    processes = []
    for n, port in enumerate(ports):
        for command in ("api", "worker"):
            env = {**os.environ, **settings.as_environment(), "SWITCHBOARD_API_PORT": str(port)}
            with (logs / f"{command}{n or ''}.log").open("ab") as log:
                processes.append(subprocess.Popen([switchboard, command], env=env, stdout=log, stderr=log))
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.time() + 180
        for url in urls:
            while True:
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.time() > deadline or any(p.poll() is not None for p in processes):
                    raise SystemExit("the stack did not become healthy:\n" + log_tails(logs))
                time.sleep(0.2)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


def log_tails(logs: Path, lines: int = 20) -> str:
    """The end of each log of the run (the temporary directory goes away with the run)."""
    tails = []
    for path in sorted(logs.glob("*.log")):
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        tails.append(f"--- {path.name}\n" + "\n".join(tail))
    return "\n".join(tails)


async def run_benchmark(
    url: str, settings: Settings, channels: int, messages: int, concurrency: int, *, external: str | None = None
) -> tuple[float, float, list[float], list[float], float, dict[str, float]]:
    service_sid, to = await setup_flow(url, settings, external=external)
    before = cpu_sample()
    timings = await drive_webhooks(settings, url, to, channels, messages, concurrency)
    total = channels * messages
    accepted = total / (timings.last_accepted - timings.first_sent)
    db = Database(settings.resolved_database_url)
    try:
        to_store, last_stored = await wait_until_stored(db, service_sid, timings, deadline_seconds=300)
    finally:
        await db.dispose()
    # CPU time each process spent from the first send to the last message stored (the store
    # check's reads included), per message: what scaling out needs per process kind.
    after = cpu_sample()
    cpu_ms: dict[str, float] = {}
    for proc, spent in after.items():
        cpu_ms[proc.role] = cpu_ms.get(proc.role, 0.0) + 1000 * (spent - before.get(proc, 0.0)) / total
    stored = total / (last_stored - timings.first_sent)
    raw = await raw_signal_with_start(settings, channels, messages, concurrency)
    return accepted, stored, timings.latencies, to_store, raw, cpu_ms


if __name__ == "__main__":
    main()
