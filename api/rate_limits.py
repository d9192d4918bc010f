"""Rate limits: widget channel creation per client IP, and per access token its REST calls and
socket commands. Moving windows kept in memory, or in Redis (``redis_url``) so that all API
replicas count together. Over a limit: Twilio's 429 (code 20429) with ``Retry-After``."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from api.twilio_shape import TOO_MANY_REQUESTS, TwilioError
from switchboard.settings import Settings

log = logging.getLogger(__name__)

SESSIONS = "webchat-sessions"
TOKEN = "token"


@dataclass(frozen=True)
class Refused:
    """A hit over a limit: what was limited and when to try again."""

    rate: RateLimitItem
    retry_after: int

    def error(self, what: str) -> TwilioError:
        return TwilioError(
            429,
            f"Too Many Requests: {what} is limited to {self.rate}; retry after {self.retry_after} s",
            TOO_MANY_REQUESTS,
            {"Retry-After": str(self.retry_after)},
        )


def rate_storage(settings: Settings) -> Storage:
    if not settings.redis_url:
        return MemoryStorage()
    # One deployment's replicas count together (they share the token signing key); another
    # deployment on the same Redis counts apart.
    deployment = hashlib.sha256(settings.jwt_secret.encode()).hexdigest()[:16]
    return RedisStorage(
        f"async+{settings.redis_url}", implementation="redispy", key_prefix=f"switchboard-rates:{deployment}"
    )


class RateLimits:
    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        self.storage = storage or rate_storage(settings)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.rates = {
            SESSIONS: parse_many(settings.webchat_session_rate) if settings.webchat_session_rate.strip() else [],
            TOKEN: parse_many(settings.token_rate) if settings.token_rate.strip() else [],
        }

    async def hit(self, kind: str, key: str) -> Refused | None:
        """Count one hit of ``key`` against ``kind``'s limits; the first limit it is over, or None.
        A store that cannot be reached (Redis down) lets the hit through: better served than
        refused."""
        try:
            for rate in self.rates[kind]:
                if not await self.limiter.hit(rate, kind, key):
                    stats = await self.limiter.get_window_stats(rate, kind, key)
                    return Refused(rate, max(1, math.ceil(stats.reset_time - time.time())))
        except Exception as exc:
            log.warning("rate limit store not reachable (%s); %s not limited", exc.__class__.__name__, kind)
        return None

    async def check(self, kind: str, key: str, what: str) -> None:
        refused = await self.hit(kind, key)
        if refused is not None:
            raise refused.error(what)


def client_ip(request: Request) -> str:
    """The client's address: the connection's peer, or, when that peer is one of
    ``trusted_proxies``, the rightmost address of ``X-Forwarded-For`` no trusted proxy wrote (the
    server settles it before the request gets here: ``api.serving``)."""
    return request.client.host if request.client else "unknown"
