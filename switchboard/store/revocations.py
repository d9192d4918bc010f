"""Token revocation in the store, where every API replica sees it from its next request on (no
process keeps a copy, so nothing delays it). A token is dead when any of these holds:

- it was signed in with an API key (its ``origin`` is the key's SID) and that key was revoked,
  i.e. its row deleted;
- its identity's sessions, or all sessions, were revoked after its session began (``auth_time``:
  a refresh keeps it, so tokens refreshed from a revoked one die with it).

Checking a token is one round trip to the database: two primary key lookups in one SELECT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import exists, func, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store.api_keys import SID_PREFIX as API_KEY_PREFIX
from switchboard.store.crypto import KeyedHasher
from switchboard.store.models import ApiKey, TokenRevocation, utcnow

ALL_SCOPE = "all"


def identity_scope(hasher: KeyedHasher, identity: str) -> str:
    """The row of ``identity``'s revocations: a keyed hash (identities are personal data)."""
    return hasher.digest("token-revocation", identity)


@dataclass(frozen=True)
class Revocation:
    """Why a token is refused."""

    key_revoked: bool
    revoked_before: datetime | None

    def message(self, origin: str) -> str:
        if self.key_revoked:
            return f"Access Token revoked: the API key it was signed in with ({origin}) was revoked; sign in again"
        assert self.revoked_before is not None
        when = self.revoked_before.isoformat(timespec="seconds")
        return f"Access Token revoked: sessions begun before {when} were ended; sign in again"


async def revocation(
    session: AsyncSession, hasher: KeyedHasher, identity: str, origin: str, session_started_at: datetime
) -> Revocation | None:
    """Why a token of ``identity`` signed in with ``origin`` at ``session_started_at`` is revoked,
    or None when it is not."""
    scopes = [ALL_SCOPE, identity_scope(hasher, identity)]
    latest = (
        select(func.max(col(TokenRevocation.revoked_before)))
        .where(col(TokenRevocation.scope).in_(scopes))
        .scalar_subquery()
    )
    key_alive = exists().where(col(ApiKey.sid) == origin) if origin.startswith(API_KEY_PREFIX) else true()
    row = (await session.execute(select(latest.label("latest"), key_alive.label("key_alive")))).one()
    revoked_before = _aware(row.latest)
    key_revoked = not row.key_alive
    if key_revoked or (revoked_before is not None and session_started_at < revoked_before):
        return Revocation(key_revoked, revoked_before)
    return None


def _aware(value: datetime | str | None) -> datetime | None:
    """SQLite hands back naive datetimes (they are stored as UTC), or text from an aggregate."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=value.tzinfo or UTC) if value is not None else None


async def revoke(session: AsyncSession, scope: str, before: datetime | None = None) -> datetime:
    """End every session of ``scope`` begun before ``before`` (default: now); answers that time.
    An earlier revocation of the scope moves forward, never back. Commits."""
    when = before or utcnow()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(TokenRevocation).values(scope=scope, revoked_before=when, date_updated=utcnow())
    table = TokenRevocation.__table__  # type: ignore[attr-defined]
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.scope],
        set_={"revoked_before": statement.excluded.revoked_before, "date_updated": statement.excluded.date_updated},
        where=table.c.revoked_before < statement.excluded.revoked_before,
    )
    await session.execute(upsert)
    await session.commit()
    return when
