"""``switchboard keys``: add encryption keys, make one current, and re-encrypt the store under it.

Two key rings: ``store`` (``encryption_keys``: the database's ``*_enc`` columns) and ``codec``
(``codec_keys``: Temporal payloads). Every key of a ring decrypts; the current one encrypts. Keys
come from the environment (production) or the dev secrets file (``switchboard dev``): the commands
update the file when that is where the ring lives, and always print what to set in production.

No downtime: every process must be able to read a key before anything is sealed with it. So
``keys add`` (the key becomes readable), restart the API and workers one by one, then ``keys
rotate`` (it becomes current and the store is re-encrypted under it; restart once more so new
writes use it, and ``keys reencrypt`` picks up what older processes wrote meanwhile).
``keys rotate`` alone adds, makes current and re-encrypts in one go, for a stack that is stopped.

Temporal's histories cannot be re-encrypted: rotating the codec key makes the new key encrypt from
then on, and the old keys must stay in the ring while histories sealed with them are kept.
"""

from __future__ import annotations

import asyncio
import os
from enum import StrEnum
from typing import Annotated

import typer

from switchboard.settings import SECRETS_FILE, Settings, load_settings, update_dev_secrets
from switchboard.store.crypto import Cipher
from switchboard.store.db import Database, create_tables
from switchboard.store.rekey import (
    count_by_key,
    count_stale,
    current_key_id,
    parse_ring,
    reencrypt,
    staged_key_id,
    with_new_key,
)

keys_app = typer.Typer(help="Encryption keys: add one, make it current, re-encrypt the store under it.")


class Ring(StrEnum):
    store = "store"
    codec = "codec"


# The setting holding each ring, the one naming its current key, and the prefix of new key ids.
RING_SETTINGS = {
    Ring.store: ("encryption_keys", "encryption_key_id", "k"),
    Ring.codec: ("codec_keys", "codec_key_id", "c"),
}

RingOption = Annotated[Ring, typer.Option(help="store: the database's columns; codec: Temporal payloads")]
BatchOption = Annotated[int, typer.Option(min=1, help="Rows per transaction")]


def _ring(settings: Settings, ring: Ring) -> tuple[str, str]:
    keys_field, current_field, _ = RING_SETTINGS[ring]
    keys: str = getattr(settings, keys_field)
    if not keys:
        raise SystemExit(f"no {ring} keys: set SWITCHBOARD_{keys_field.upper()} or run `switchboard dev` once")
    return keys, current_key_id(keys, getattr(settings, current_field))


def _save(settings: Settings, ring: Ring, keys: str, current: str) -> None:
    """Write the ring to the dev secrets file when it lives there; print what production sets."""
    keys_field, current_field, _ = RING_SETTINGS[ring]
    Cipher.from_setting(keys, current)  # never save a ring that does not parse
    from_environment = bool(os.environ.get(f"SWITCHBOARD_{keys_field.upper()}"))
    secrets_file = settings.data_dir / SECRETS_FILE
    if not from_environment and secrets_file.exists():
        update_dev_secrets(settings.data_dir, {keys_field: keys, current_field: current})
        typer.echo(f"Updated {secrets_file}.")
    typer.echo("Where keys come from the environment, set (these are secrets):")
    typer.echo(f"  SWITCHBOARD_{keys_field.upper()}={keys}")
    typer.echo(f"  SWITCHBOARD_{current_field.upper()}={current}")


def _codec_note() -> None:
    typer.echo(
        "Temporal histories cannot be re-encrypted: payloads are sealed with the new key from now on; "
        "keep the old codec keys in the ring as long as histories sealed with them are retained."
    )


async def _reencrypt(settings: Settings, keys: str, current: str, batch_size: int) -> None:
    cipher = Cipher.from_setting(keys, current)
    db = Database(settings.resolved_database_url)
    try:
        await create_tables(db.engine)
        total = await count_stale(db, cipher.current_key_id)
        with typer.progressbar(length=total, label=f"Re-encrypting under {cipher.current_key_id}") as bar:
            changed = await reencrypt(db, cipher, batch_size, bar.update)
        left = await count_stale(db, cipher.current_key_id)
    finally:
        await db.dispose()
    typer.echo(f"Re-encrypted {changed} rows; {left} rows hold values under other keys.")
    if left:
        typer.echo("Run `switchboard keys reencrypt` again once every process uses the current key.")


@keys_app.command()
def add(
    ring: RingOption = Ring.store, current: Annotated[bool, typer.Option(help="Also make it current")] = False
) -> None:
    """Add a new key to a ring: readable by processes (re)started after this; the current key stays
    unless --current."""
    settings = load_settings()
    keys, now_current = _ring(settings, ring)
    keys, key_id = with_new_key(keys, RING_SETTINGS[ring][2])
    typer.echo(f"Added {ring} key {key_id}{' (current)' if current else ''}.")
    _save(settings, ring, keys, key_id if current else now_current)
    if not current:
        typer.echo("Restart the API and workers with it, then run `switchboard keys rotate`.")


@keys_app.command()
def rotate(ring: RingOption = Ring.store, batch_size: BatchOption = 200) -> None:
    """Make the newest key current (adding one unless `keys add` staged it) and re-encrypt the
    store under it. Resumable: run `keys reencrypt` to continue an interrupted run."""
    settings = load_settings()
    keys, now_current = _ring(settings, ring)
    key_id = staged_key_id(keys, now_current)
    if key_id is None:
        keys, key_id = with_new_key(keys, RING_SETTINGS[ring][2])
        typer.echo(f"Added {ring} key {key_id}: processes running now cannot read it, restart them.")
    typer.echo(f"The current {ring} key is now {key_id} (was {now_current}).")
    _save(settings, ring, keys, key_id)
    if ring is Ring.codec:
        _codec_note()
        return
    asyncio.run(_reencrypt(settings, keys, key_id, batch_size))


@keys_app.command("reencrypt")
def reencrypt_command(batch_size: BatchOption = 200) -> None:
    """Re-encrypt stored values not under the current store key (continues where a run stopped)."""
    settings = load_settings()
    keys, current = _ring(settings, Ring.store)
    asyncio.run(_reencrypt(settings, keys, current, batch_size))


@keys_app.command()
def status() -> None:
    """The keys of each ring, and how many stored values each store key sealed."""
    settings = load_settings()
    for ring in Ring:
        keys, current = _ring(settings, ring)
        ids = [key_id for key_id, _ in parse_ring(keys)]
        typer.echo(f"{ring}: keys {', '.join(ids)}; current {current}")
    keys, current = _ring(settings, Ring.store)

    async def counts() -> dict[str, int]:
        db = Database(settings.resolved_database_url)
        try:
            await create_tables(db.engine)
            return await count_by_key(db, [key_id for key_id, _ in parse_ring(keys)])
        finally:
            await db.dispose()

    for key_id, count in asyncio.run(counts()).items():
        typer.echo(f"  {key_id}: {count} stored values")
