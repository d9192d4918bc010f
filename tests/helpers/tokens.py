"""Access tokens forged with the stack's own key, for tests of what the API accepts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import jwt

from switchboard.settings import Settings


def forge(settings: Settings, drop: tuple[str, ...] = (), algorithm: str = "HS256", **changes: Any) -> str:
    """A token signed with the right key whose claims we choose."""
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "jti": uuid.uuid4().hex,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": settings.account_sid,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "auth_time": now,
        "origin": "account",
        "grants": {"identity": "dave", "role": "agent"},
        **changes,
    }
    for name in drop:
        del claims[name]
    return jwt.encode(claims, settings.jwt_secret, algorithm=algorithm)
