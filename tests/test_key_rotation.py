"""Rotation of the store's key while messages flow: ``switchboard keys add``, a rolling restart,
``keys rotate`` (current + re-encryption) under traffic, another roll, ``keys reencrypt`` under
traffic; no request fails, no message is lost, and afterwards every stored value is under the new
key and readable. Also: an interrupted re-encryption continues where it stopped, and a new codec
key leaves payloads sealed with the old one readable."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlmodel
from sqlalchemy import select
from typer.testing import CliRunner

from switchboard.cli import app
from switchboard.devstack import DevServer
from switchboard.settings import Settings, generate_dev_secrets
from switchboard.store.crypto import Cipher
from switchboard.store.db import Database, create_tables
from switchboard.store.models import Channel, Contact, Message, Service
from switchboard.store.payload_codec import KEY_ID, data_converter
from switchboard.store.rekey import count_by_key, count_stale, encrypted_tables, reencrypt
from tests.helpers.stack import Stack, eventually, free_port, new_phone


def settings_for(data_dir: Path, temporal: DevServer, task_queue: str) -> Settings:
    """What a process started against the data directory reads (the secrets file as it is now)."""
    return Settings(
        data_dir=data_dir, temporal_address=temporal.address, api_port=free_port(), task_queue=task_queue
    ).with_file_secrets()


def keys(data_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["keys", *args], env={"SWITCHBOARD_DATA_DIR": str(data_dir)})
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


class Traffic:
    """Customers texting in and REST callers posting, until stopped; every answer is kept."""

    def __init__(self, stack: Stack, number: str, rest_url: str, customer: str) -> None:
        self.stack, self.number, self.rest_url, self.customer = stack, number, rest_url, customer
        self.statuses: list[int] = []
        self.bodies: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.stack.http() as http:
            while not self._stop.is_set() or len(self.bodies) < 6:
                n = len(self.bodies)
                body = f"traffic {n} {uuid.uuid4().hex[:6]}"
                if n % 2:
                    response = http.post(self.rest_url, data={"Body": body})
                else:
                    params = self.stack.sms_params(self.number, self.customer, body)
                    response = self.stack.post_webhook(http, params)
                self.statuses.append(response.status_code)
                self.bodies.append(body)

    def __enter__(self) -> Traffic:
        self._thread.start()
        eventually(lambda: self._assert(len(self.statuses) >= 2))  # flowing before the command starts
        self.at_start = len(self.statuses)
        return self

    @staticmethod
    def _assert(condition: bool) -> None:
        assert condition

    def __exit__(self, *_: object) -> None:
        # Messages answered while the command ran.
        self.during = len(self.statuses) - self.at_start
        self._stop.set()
        self._thread.join(timeout=120)


@pytest.fixture
def rolling() -> Iterator[list[Stack]]:
    """Stacks started during a test, stopped at its end."""
    stacks: list[Stack] = []
    yield stacks
    for stack in stacks:
        stack.stop()


def all_messages(http: httpx.Client, service: str) -> list[str]:
    bodies = []
    for channel in http.get(f"/v2/Services/{service}/Channels").json()["channels"]:
        page = http.get(f"/v2/Services/{service}/Channels/{channel['sid']}/Messages", params={"PageSize": 1000})
        assert page.status_code == 200, page.text
        bodies += [m["body"] for m in page.json()["messages"]]
    return bodies


def test_rotation_under_traffic(temporal_server: DevServer, tmp_path: Path, rolling: list[Stack]) -> None:
    data_dir = tmp_path / "data"
    generate_dev_secrets(data_dir)
    task_queue = f"test-{uuid.uuid4().hex[:8]}"

    def start() -> Stack:
        stack = Stack(settings_for(data_dir, temporal_server, task_queue)).start()
        rolling.append(stack)
        return stack

    first = start()
    customer = new_phone()
    with first.http() as http:
        service = first.create_service(http)
        number = first.create_flex_flow(http, service)["contact_identity"]
        assert first.post_webhook(http, first.sms_params(number, customer, "before rotation")).status_code == 200
        rest = http.post(
            f"/v2/Services/{service}/Channels",
            data={"FriendlyName": "rest", "Attributes": json.dumps({"note": "kept"})},
        ).json()["sid"]
        assert http.post(f"/v2/Services/{service}/Channels/{rest}/Members", data={"Identity": "bob"}).status_code == 201
        rest_url = f"/v2/Services/{service}/Channels/{rest}/Messages"
        for i in range(30):  # enough rows for re-encryption to take many batches
            assert http.post(rest_url, data={"Body": f"seed {i}"}).status_code == 201

        def seeded() -> None:
            assert len(all_messages(http, service)) == 31

        eventually(seeded)

    # A new key every process can read, then a rolling restart (the next stack before the first stops).
    assert "Added store key k2" in keys(data_dir, "add")
    second = start()
    first.stop()
    rolling.remove(first)
    assert second.settings.encryption_key_id == "k1"

    with Traffic(second, number, rest_url, customer) as during_rotate:
        rotated = keys(data_dir, "rotate", "--batch-size", "3")
    assert "The current store key is now k2" in rotated and "Re-encrypting under k2" in rotated

    # Roll again so new writes use k2; pick up what the previous processes wrote under k1 meanwhile.
    third = start()
    second.stop()
    rolling.remove(second)
    assert third.settings.encryption_key_id == "k2"
    with Traffic(third, number, rest_url, customer) as during_reencrypt:
        resumed = keys(data_dir, "reencrypt", "--batch-size", "3")
    assert "0 rows hold values under other keys" in resumed

    assert during_rotate.during >= 1 and during_reencrypt.during >= 1, (during_rotate.during, during_reencrypt.during)
    sent = [*during_rotate.bodies, *during_reencrypt.bodies]
    assert set(during_rotate.statuses + during_reencrypt.statuses) <= {200, 201}, (
        during_rotate.statuses,
        during_reencrypt.statuses,
    )
    with third.http() as http:

        def everything_stored() -> list[str]:
            bodies = all_messages(http, service)
            assert set(sent) <= set(bodies), set(sent) - set(bodies)
            return bodies

        stored = eventually(everything_stored)
    assert {"before rotation", "seed 0", "seed 29"} <= set(stored)

    # Every value under k2, and every one decrypts with its column's associated data.
    cipher = Cipher.from_setting(third.settings.encryption_keys, third.settings.encryption_key_id)

    async def check() -> dict[str, int]:
        db = Database(third.settings.resolved_database_url)
        try:
            async with db.engine.connect() as conn:
                for item in encrypted_tables():
                    for row in (await conn.execute(select(*item.columns))).all():
                        for column, value in zip(item.columns, row, strict=True):
                            if value is not None:
                                assert value.startswith("k2$"), (item.context(column), value[:8])
                                cipher.decrypt(value, item.context(column))
            return await count_by_key(db, ["k1", "k2"])
        finally:
            await db.dispose()

    counts = asyncio.run(check())
    assert counts["k1"] == 0 and counts["other"] == 0 and counts["k2"] > len(sent)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_an_interrupted_reencryption_continues_where_it_stopped(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}" if engine == "sqlite" else request.getfixturevalue("postgres_url")
    old = Cipher.from_setting("k1:" + "A" * 43 + "=")
    new = Cipher.from_setting("k1:" + "A" * 43 + "=,k2:" + "B" * 43 + "=")

    class Interrupted(Exception):
        pass

    def stop(_: int) -> Any:
        raise Interrupted

    async def run() -> None:
        db = Database(Settings(database_url=url).resolved_database_url)
        try:
            await create_tables(db.engine)
            async with db.session() as session:
                session.add(Service(sid="IS" + "0" * 32, friendly_name="s"))
                await session.flush()  # no relationships: the rows go in the order they are flushed
                session.add(
                    Channel(
                        sid="CH" + "0" * 32,
                        service_sid="IS" + "0" * 32,
                        attributes_enc=old.encrypt("{}", "channel.attributes"),
                    )
                )
                await session.flush()
                for i in range(10):
                    session.add(
                        Message(
                            sid=f"IM{i:032d}",
                            channel_sid="CH" + "0" * 32,
                            service_sid="IS" + "0" * 32,
                            index=i,
                            message_key=str(i),
                            author_enc=old.encrypt("alice", "message.author"),
                            body_enc=old.encrypt(f"body {i}", "message.body"),
                            attributes_enc=old.encrypt("{}", "message.attributes"),
                        )
                    )
                for i in range(3):  # a table keyed by two columns
                    address = f"+1555000000{i}"
                    session.add(
                        Contact(
                            flex_flow_sid="FO" + "0" * 32,
                            address_hash=f"{i:064d}",
                            address_enc=old.encrypt(address, "contact.address"),
                            current_channel_sid="CH" + "0" * 32,
                        )
                    )
                await session.commit()
            assert await count_stale(db, "k2") == 14
            with pytest.raises(Interrupted):
                await reencrypt(db, new, batch_size=4, on_batch=stop)
            # The first batch is committed; the rest is still under k1.
            left = await count_stale(db, "k2")
            assert 0 < left < 14
            assert await reencrypt(db, new, batch_size=4) == left
            assert await count_stale(db, "k2") == 0
            # Nothing left to do: a further run changes nothing.
            assert await reencrypt(db, new, batch_size=4) == 0
            async with db.session() as session:
                messages = (await session.exec(sqlmodel.select(Message))).all()
                contacts = (await session.exec(sqlmodel.select(Contact))).all()
            bodies = [new.decrypt(m.body_enc or "", "message.body") for m in messages]
            assert sorted(bodies) == sorted(f"body {i}" for i in range(10))
            assert sorted(new.decrypt(c.address_enc, "contact.address") for c in contacts) == [
                f"+1555000000{i}" for i in range(3)
            ]
        finally:
            await db.dispose()

    asyncio.run(run())


async def test_rotating_the_codec_key_keeps_older_payloads_readable(tmp_path: Path) -> None:
    generate_dev_secrets(tmp_path)
    before = Settings(data_dir=tmp_path).with_file_secrets()
    [sealed] = await data_converter(before).encode(["sealed before the rotation"])

    output = keys(tmp_path, "rotate", "--ring", "codec")
    assert "The current codec key is now c2" in output and "cannot be re-encrypted" in output
    assert "SWITCHBOARD_CODEC_KEYS=c1:" in output and "SWITCHBOARD_CODEC_KEY_ID=c2" in output
    after = Settings(data_dir=tmp_path).with_file_secrets()
    assert after.codec_key_id == "c2" and after.codec_keys.startswith(before.codec_keys + ",c2:")
    assert after.encryption_keys == before.encryption_keys  # the store's ring is untouched

    converter = data_converter(after)
    [newer] = await converter.encode(["sealed after"])
    assert newer.metadata[KEY_ID] == b"c2" and sealed.metadata[KEY_ID] == b"c1"
    assert await converter.decode([sealed, newer]) == ["sealed before the rotation", "sealed after"]
