"""Key rings and re-encryption of the store under a new key.

Every ``*_enc`` column of every table holds ``<key_id>$...`` sealed with the column's name
(``<table>.<column without _enc>``) as associated data. Re-encryption walks each table in primary
key order, a batch per short transaction, and rewrites the values not yet under the current key. A
value is replaced only if it is still the one read (compare and set), so a write by the running API
or worker in between wins, and a run that stops half-way is resumed by running it again: values
already under the current key are skipped.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import Column, ColumnElement, Table, and_, func, or_, select, tuple_, update
from sqlmodel import SQLModel

from switchboard.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from switchboard.store.crypto import Cipher, KeyRingError
from switchboard.store.db import Database

ENCRYPTED_SUFFIX = "_enc"


# --- key rings ----------------------------------------------------------------------------------


def parse_ring(ring: str) -> list[tuple[str, str]]:
    """``id:base64[,id:base64...]`` as (id, material) pairs, in order."""
    pairs = []
    for item in filter(None, (part.strip() for part in ring.split(","))):
        key_id, _, material = item.partition(":")
        pairs.append((key_id, material))
    return pairs


def current_key_id(ring: str, current: str) -> str:
    return current or parse_ring(ring)[-1][0]


def with_new_key(ring: str, prefix: str) -> tuple[str, str]:
    """The ring with a fresh 256-bit key appended; answers it and the new key's id (``prefix``
    and the next free number)."""
    ids = {key_id for key_id, _ in parse_ring(ring)}
    number = len(ids) + 1
    while f"{prefix}{number}" in ids:
        number += 1
    key_id = f"{prefix}{number}"
    material = base64.b64encode(secrets.token_bytes(32)).decode()
    return ",".join(filter(None, (ring.strip(), f"{key_id}:{material}"))), key_id


def staged_key_id(ring: str, current: str) -> str | None:
    """A key listed after the current one (added, not yet current), if any: the last such."""
    ids = [key_id for key_id, _ in parse_ring(ring)]
    position = ids.index(current_key_id(ring, current))
    return ids[-1] if position < len(ids) - 1 else None


# --- re-encryption ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncryptedTable:
    table: Table
    columns: list[Column[Any]]

    @property
    def key(self) -> list[Column[Any]]:
        return list(self.table.primary_key.columns)

    def context(self, column: Column[Any]) -> str:
        """The associated data values of ``column`` are sealed with."""
        return f"{self.table.name}.{column.name.removesuffix(ENCRYPTED_SUFFIX)}"

    def stale(self, key_id: str) -> ColumnElement[bool]:
        """Rows with a value not under ``key_id``."""
        prefix = f"{key_id}$"
        return or_(*(and_(c.is_not(None), ~c.startswith(prefix, autoescape=True)) for c in self.columns))


def encrypted_tables() -> Iterator[EncryptedTable]:
    for table in SQLModel.metadata.sorted_tables:
        columns = [c for c in table.columns if c.name.endswith(ENCRYPTED_SUFFIX)]
        if columns:
            yield EncryptedTable(table, columns)


async def count_stale(db: Database, key_id: str) -> int:
    """Rows holding a value under another key than ``key_id``."""
    total = 0
    async with db.engine.connect() as conn:
        for item in encrypted_tables():
            total += (
                await conn.execute(select(func.count()).select_from(item.table).where(item.stale(key_id)))
            ).scalar_one()
    return total


async def count_by_key(db: Database, key_ids: list[str]) -> dict[str, int]:
    """How many stored values each key of ``key_ids`` sealed; ``"other"``: values of keys not listed."""
    counts = dict.fromkeys([*key_ids, "other"], 0)
    async with db.engine.connect() as conn:
        for item in encrypted_tables():
            for column in item.columns:
                query = select(func.count()).select_from(item.table).where(column.is_not(None))
                total = (await conn.execute(query)).scalar_one()
                for key_id in key_ids:
                    sealed = (
                        await conn.execute(query.where(column.startswith(f"{key_id}$", autoescape=True)))
                    ).scalar_one()
                    counts[key_id] += sealed
                    total -= sealed
                counts["other"] += total
    return counts


class ReencryptionError(RuntimeError):
    pass


async def reencrypt(
    db: Database, cipher: Cipher, batch_size: int = 200, on_batch: Callable[[int], None] = lambda _: None
) -> int:
    """Rewrite every value not under ``cipher``'s current key; answers how many rows changed.
    ``on_batch`` hears how many rows each batch looked at."""
    changed = 0
    for item in encrypted_tables():
        key = item.key
        last: tuple[Any, ...] | None = None
        while True:
            query = select(*key, *item.columns).where(item.stale(cipher.current_key_id))
            if last is not None:
                query = query.where(tuple_(*key) > tuple_(*last) if len(key) > 1 else key[0] > last[0])
            query = query.order_by(*key).limit(batch_size)
            async with db.engine.begin() as conn:
                rows = (await conn.execute(query)).all()
                for row in rows:
                    changed += await _reseal_row(conn, item, cipher, row)
            if not rows:
                break
            last = tuple(rows[-1][: len(key)])
            on_batch(len(rows))
    return changed


async def _reseal_row(conn: Any, item: EncryptedTable, cipher: Cipher, row: Any) -> int:
    key_values = row[: len(item.key)]
    new_values: dict[str, str] = {}
    still: list[ColumnElement[bool]] = []
    for column, value in zip(item.columns, row[len(item.key) :], strict=True):
        if value is None or value.startswith(f"{cipher.current_key_id}$"):
            continue
        context = item.context(column)
        try:
            plaintext = cipher.decrypt(value, context)
        except (KeyRingError, InvalidTag, ValueError) as exc:
            raise ReencryptionError(
                f"{context} of row {tuple(key_values)} cannot be decrypted ({exc.__class__.__name__}: {exc}); "
                "is its key missing from the ring?"
            ) from exc
        new_values[column.name] = cipher.encrypt(plaintext, context)
        still.append(column == value)
    if not new_values:
        return 0
    matches = [k == v for k, v in zip(item.key, key_values, strict=True)]
    result = await conn.execute(update(item.table).where(*matches, *still).values(**new_values))
    return int(result.rowcount or 0)
