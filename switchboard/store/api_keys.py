"""API key secrets: made here, shown once, stored as an HMAC-SHA256 under the deployment's hash
key. The secrets are 256 random bits, so a slow password hash would add nothing against guessing,
and the key means a copy of the database alone cannot test one; checks compare in constant time."""

from __future__ import annotations

import hmac
import secrets

from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store.crypto import KeyedHasher
from switchboard.store.models import ApiKey
from workflows import sids

SID_PREFIX = sids.API_KEY


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_hash(hasher: KeyedHasher, sid: str, secret: str) -> str:
    # Bound to the SID, so a secret is good for its own key only.
    return hasher.digest("api-key", sid, secret)


def new_api_key(hasher: KeyedHasher, friendly_name: str | None) -> tuple[ApiKey, str]:
    """A key row and its secret (which is not kept)."""
    sid = sids.new_sid(SID_PREFIX)
    secret = new_secret()
    return ApiKey(sid=sid, friendly_name=friendly_name, secret_hash=secret_hash(hasher, sid, secret)), secret


async def valid_api_key(session: AsyncSession, hasher: KeyedHasher, sid: str, secret: str) -> bool:
    """Whether ``sid`` is a key that was not revoked and ``secret`` is its secret."""
    if not sid.startswith(SID_PREFIX) or len(sid) > 34:
        return False
    key = await session.get(ApiKey, sid)
    expected = key.secret_hash if key is not None else "0" * 64
    return hmac.compare_digest(secret_hash(hasher, sid, secret), expected) and key is not None
