"""Single-process against multi-process stack: the same webhook traffic on the same dev server.

First the API and the worker in one process (``switchboard dev``'s way, on a background thread of
the benchmark), then two `switchboard api` processes, the load generator alternating its calls
between them, and two `switchboard worker` processes on the same task queue; both against one
Temporal dev server (SQLite, WAL) and one store. Each phase sends N customers x M SMS through the
signed webhook to its own Flex Flow and waits until every message is stored exactly once and in
order. Prints both rates, the ratio, each process's CPU share, and the raw signal-with-start rate
of the same server for the same traffic shape.

    python -m bench.multiprocess_throughput --channels 20 --messages 50
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.processes import cpu_sample, cpu_shares
from bench.webhook_throughput import (
    bench_server,
    drive_webhooks,
    percentile,
    raw_signal_with_start,
    running_processes,
    running_stack,
    setup_flow,
    traffic_arguments,
    wait_until_stored,
)
from switchboard.settings import Settings
from switchboard.store.db import Database


async def phase(
    urls: Sequence[str], settings: Settings, number: str, channels: int, messages: int, concurrency: int
) -> dict[str, Any]:
    """One phase's traffic: accepted and stored messages/s, p99 webhook latency, CPU shares."""
    service_sid, to = await setup_flow(urls[0], settings, number)
    before, started = cpu_sample(), time.time()
    timings = await drive_webhooks(settings, urls, to, channels, messages, concurrency)
    db = Database(settings.resolved_database_url)
    try:
        _, last_stored = await wait_until_stored(db, service_sid, timings, deadline_seconds=300)
    finally:
        await db.dispose()
    total = channels * messages
    return {
        "accepted": total / (timings.last_accepted - timings.first_sent),
        "stored": total / (last_stored - timings.first_sent),
        "p99": percentile(timings.latencies, 99),
        "cpu": cpu_shares(before, cpu_sample(), time.time() - started),
    }


def main() -> None:
    parser = traffic_arguments(__doc__)
    args = parser.parse_args()
    shape = (args.channels, args.messages, args.concurrency)
    with bench_server(args.database_url) as settings:
        with running_stack(settings, in_process=True, logs=settings.data_dir) as url:
            single = asyncio.run(phase([url], settings, "+15550005551", *shape))
        with running_processes(settings, settings.data_dir, replicas=2) as urls:
            multi = asyncio.run(phase(urls, settings, "+15550005552", *shape))
        raw_rate = asyncio.run(raw_signal_with_start(settings, *shape))
    total = args.channels * args.messages
    print(f"Switchboard single- against multi-process stack: {args.channels} channels x {args.messages} = {total}")
    print(f"  machine              {os.cpu_count()} cores, {platform.platform()}, Python {sys.version.split()[0]}")
    print(f"  concurrency          {args.concurrency} webhook calls in flight; same dev server, same store")
    for name, f in (("one process", single), ("2 API + 2 workers", multi)):
        print(
            f"  {name:<20} accepted {f['accepted']:7.1f} /s   stored {f['stored']:7.1f} /s"
            f"   webhook p99 {1000 * f['p99']:6.1f} ms"
        )
        print(f"  {'':<20} CPU: {f['cpu']}")
    print(f"  ratio multi / single {multi['stored'] / single['stored']:8.2f}   (stored messages/s)")
    print(f"  raw signal-with-start {raw_rate:7.1f} /s   (same server, same traffic shape, trivial workflow)")
    print("  lost / duplicated    0 / 0 in both, every customer's messages in send order on one channel")


if __name__ == "__main__":
    main()
