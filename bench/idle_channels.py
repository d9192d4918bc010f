"""Idle channels benchmark: N open channels waiting for their inactivity timer.

Measures the webhook throughput first, then opens N channels (one customer SMS each through the
signed webhook to a long-lived Flex Flow; each channel's workflow then waits on its inactivity
timer), then prints the worker's and the Temporal dev server's resident memory, the store's and the
dev server's database sizes, and the webhook throughput measured again while the N channels are
open. The raw baseline on the same server: N trivial workflows started by signal-with-start and left
waiting, and the server's and their worker's memory growth for them.

    python -m bench.idle_channels --channels 10000

The dev server runs SQLite in WAL mode (devstack.start_dev_server sets the pragma).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
import uuid
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from bench.processes import cpu_sample, cpu_shares, file_size, megabytes, one
from bench.raw_workflow import RawChannel
from bench.webhook_throughput import bench_stack, drive_webhooks, percentile, setup_flow, wait_until_stored
from switchboard.settings import Settings
from switchboard.store.db import Database
from switchboard.store.payload_codec import data_converter


async def measured_throughput(
    url: str, settings: Settings, db: Database, number: str, sender_prefix: str, channels: int, messages: int
) -> tuple[float, float]:
    """Accepted messages/s and p99 webhook latency of channels x messages on a fresh Flex Flow,
    once every message is stored exactly once and in order."""
    service_sid, to = await setup_flow(url, settings, number)
    timings = await drive_webhooks(settings, url, to, channels, messages, channels, sender_prefix=sender_prefix)
    await wait_until_stored(db, service_sid, timings, deadline_seconds=300)
    accepted = channels * messages / (timings.last_accepted - timings.first_sent)
    return accepted, percentile(timings.latencies, 99)


async def open_idle_channels(
    url: str, settings: Settings, db: Database, count: int, concurrency: int
) -> tuple[float, str]:
    """One customer SMS to each of ``count`` channels; answers channels opened per second (all
    stored) and each process's CPU share meanwhile."""
    service_sid, to = await setup_flow(url, settings, "+15550007777")
    before, started = cpu_sample(), time.time()
    timings = await drive_webhooks(settings, url, to, count, 1, concurrency, sender_prefix="+1555")
    await wait_until_stored(db, service_sid, timings, deadline_seconds=max(600, count / 5))
    elapsed = time.time() - started
    return count / elapsed, cpu_shares(before, cpu_sample(), elapsed)


async def raw_idle(client: Client, count: int, concurrency: int) -> tuple[float, int, int]:
    """``count`` trivial workflows, each started by one signal and waiting for a second; answers
    starts per second and the server's and this process's (their worker's) RSS growth."""
    queue = f"bench-idle-{uuid.uuid4().hex[:8]}"
    server, bench = one("temporal"), one("bench")
    server_before, bench_before = server.rss_bytes(), bench.rss_bytes()
    gate = asyncio.Semaphore(concurrency)

    async def start(number: int) -> None:
        async with gate:
            await client.start_workflow(
                RawChannel.run,
                2,
                id=f"idle-{queue}-{number}",
                task_queue=queue,
                start_signal="message",
                start_signal_args=["hello"],
            )

    async with Worker(client, task_queue=queue, workflows=[RawChannel], max_cached_workflows=count + 100):
        started = time.time()
        await asyncio.gather(*(start(n) for n in range(count)))
        rate = count / (time.time() - started)
        # The worker runs each workflow's first task (and caches it) behind the starts: wait
        # until it has gone quiet.
        spent = bench.cpu_seconds()
        while True:
            await asyncio.sleep(1)
            now = bench.cpu_seconds()
            if now - spent < 0.05:
                break
            spent = now
        return rate, server.rss_bytes() - server_before, bench.rss_bytes() - bench_before


async def run(url: str, settings: Settings, channels: int, probe: int, concurrency: int) -> dict[str, Any]:
    db = Database(settings.resolved_database_url)
    figures: dict[str, Any] = {}
    try:
        figures["before"] = await measured_throughput(url, settings, db, "+15550006661", "+1444", probe, probe)
        worker, server = one("worker"), one("temporal")
        figures["rss_empty"] = (worker.rss_bytes(), server.rss_bytes())
        figures["open_rate"], figures["open_cpu"] = await open_idle_channels(url, settings, db, channels, concurrency)
        await asyncio.sleep(2)
        figures["rss_idle"] = (worker.rss_bytes(), server.rss_bytes())
        figures["files"] = (
            file_size(settings.data_dir / "switchboard.db"),
            file_size(settings.data_dir / "temporal.db"),
        )
        figures["during"] = await measured_throughput(url, settings, db, "+15550006662", "+1333", probe, probe)
    finally:
        await db.dispose()
    client = await Client.connect(settings.temporal_address, data_converter=data_converter(settings))
    figures["raw"] = await raw_idle(client, channels, concurrency)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=10_000, help="idle channels to open")
    parser.add_argument(
        "--probe", type=int, default=20, help="throughput probe: this many channels x this many messages"
    )
    parser.add_argument("--concurrency", type=int, default=50, help="webhook calls in flight while opening")
    parser.add_argument("--database-url", default="", help="Switchboard's store (default: SQLite in a temp dir)")
    args = parser.parse_args()
    with bench_stack(args.database_url, in_process=False) as (settings, url):
        f = asyncio.run(run(url, settings, args.channels, args.probe, args.concurrency))
    raw_rate, raw_server, raw_worker = f["raw"]
    n = args.channels
    print(f"Switchboard idle channels: {n} open channels, each waiting for its inactivity timer")
    print(f"  machine              {os.cpu_count()} cores, {platform.platform()}, Python {sys.version.split()[0]}")
    print("  stack                API and worker processes, SQLite (WAL) store, dev server SQLite (WAL)")
    print(f"  opened               {f['open_rate']:8.1f} channels/s (webhook to stored); CPU: {f['open_cpu']}")
    for name, (worker, server) in (("before", f["rss_empty"]), ("with them open", f["rss_idle"])):
        print(f"  RSS {name:<17}worker {megabytes(worker):>10}   Temporal dev server {megabytes(server):>10}")
    grown_worker = f["rss_idle"][0] - f["rss_empty"][0]
    grown_server = f["rss_idle"][1] - f["rss_empty"][1]
    print(
        f"  per idle channel     worker {grown_worker / n / 1024:7.1f} KB   Temporal dev server"
        f" {grown_server / n / 1024:7.1f} KB"
    )
    store, temporal = f["files"]
    print(f"  database files       store {megabytes(store)}   Temporal dev server {megabytes(temporal)}")
    for name, (rate, p99) in (("before", f["before"]), ("while open", f["during"])):
        print(
            f"  webhook {name:<13}{rate:8.1f} messages/s accepted, p99 {1000 * p99:6.1f} ms"
            f"   ({args.probe} channels x {args.probe} messages)"
        )
    print(f"  ratio while / before {f['during'][0] / f['before'][0]:8.2f}")
    print(
        f"  raw: {n} idle workflows started at {raw_rate:.1f} /s; RSS growth: Temporal dev server"
        f" {megabytes(raw_server)} ({raw_server / n / 1024:.1f} KB each), their worker {megabytes(raw_worker)}"
    )
    print("  lost / duplicated    0 / 0, every customer's messages in send order on one channel")


if __name__ == "__main__":
    main()
