"""The store's message write on its own: ``append_messages`` as the channel workflows call it, for
many channels at once, without Temporal.

C channels each append M messages one call at a time (a channel stores its next message once the
last is stored, as its workflow does), all channels at once, against a fresh store; then every
message is checked stored once, at indexes 0..M-1. Prints messages stored per second, the
database statements and transactions per message (counted by SQLAlchemy's engine events) and the
worker process's CPU per message.

    python -m bench.store_appends --channels 50 --messages 20 [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from sqlalchemy import event
from sqlmodel import col, func, select

from activities.store import StoreActivities
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.db import Database
from switchboard.store.migrate import migrate
from switchboard.store.models import Channel, Message, Service
from workflows import sids
from workflows.messages import AppendMessages, InboundMessage, NewMessage
from workflows.starter import ChannelClient


def key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


async def run(database_url: str, channels: int, messages: int) -> dict[str, float]:
    db = Database(database_url)
    statements = 0
    commits = 0

    def on_statement(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    def on_commit(*_args: Any) -> None:
        nonlocal commits
        commits += 1

    try:
        await migrate(db.engine)
        cipher = Cipher.from_setting(f"k1:{key()}")
        service_sid = sids.new_sid(sids.SERVICE)
        channel_sids = [sids.new_sid(sids.CHANNEL) for _ in range(channels)]
        async with db.write_session() as session:
            session.add(Service(sid=service_sid, friendly_name="bench"))
            await session.flush()
            for sid in channel_sids:
                session.add(Channel(sid=sid, service_sid=service_sid, attributes_enc=cipher.encrypt("{}", "x")))
            await session.commit()
        store = StoreActivities(db, cipher, KeyedHasher.from_setting(key()), cast(ChannelClient, None))

        async def channel(sid: str) -> None:
            for i in range(messages):
                new = NewMessage(sids.new_sid(sids.MESSAGE), InboundMessage(f"bench:{sid}:{i}", "+15550001", f"m {i}"))
                await store.append_messages(AppendMessages(sid, service_sid, [new]))

        event.listen(db.engine.sync_engine, "before_cursor_execute", on_statement)
        event.listen(db.engine.sync_engine, "commit", on_commit)
        cpu_before = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(channel(sid) for sid in channel_sids))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        event.remove(db.engine.sync_engine, "before_cursor_execute", on_statement)
        event.remove(db.engine.sync_engine, "commit", on_commit)

        async with db.session() as session:
            rows = (
                await session.exec(
                    select(Message.channel_sid, func.count(), func.min(Message.index), func.max(Message.index))
                    .where(col(Message.channel_sid).in_(channel_sids))
                    .group_by(col(Message.channel_sid))
                )
            ).all()
        wrong = [r for r in rows if (r[1], r[2], r[3]) != (messages, 0, messages - 1)]
        if len(rows) != channels or wrong:
            raise SystemExit(f"FAILED: {len(rows)} channels stored, {len(wrong)} with missing or extra messages")
        total = channels * messages
        return {
            "rate": total / elapsed,
            "statements": statements / total,
            "commits": commits / total,
            "cpu_ms": 1000 * cpu / total,
        }
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20, help="messages per channel, one call each")
    parser.add_argument("--database-url", default="", help="the store (default: SQLite in a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'store.db'}"
        figures = asyncio.run(run(url, args.channels, args.messages))
    print(f"Store appends: {args.channels} channels x {args.messages} messages, one message per call")
    print(f"  machine              {os.cpu_count()} cores, {platform.platform()}, Python {sys.version.split()[0]}")
    print(f"  store                {args.database_url.split('@')[-1] if args.database_url else 'SQLite (WAL)'}")
    print(f"  stored               {figures['rate']:8.1f} messages/s")
    print(f"  statements           {figures['statements']:8.2f} per message")
    print(f"  transactions         {figures['commits']:8.2f} per message")
    print(f"  CPU                  {figures['cpu_ms']:8.2f} ms per message")
    print("  lost / duplicated    0 / 0, every channel's messages at indexes 0..M-1")


if __name__ == "__main__":
    main()
