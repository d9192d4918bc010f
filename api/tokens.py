"""Access tokens for agents, supervisors, admins and (later) customers: JWTs signed with HS256
under ``jwt_secret``, shaped after Twilio's AccessToken.

Claims: ``jti`` (unique id), ``iss`` / ``aud`` (the ``jwt_issuer`` / ``jwt_audience`` settings),
``sub`` (the account SID), ``iat``, ``nbf``, ``exp`` (seconds), and ``grants``::

    {"identity": "alice", "role": "agent",
     "chat": {"service_sid": "IS..."},
     "task_router": {"workspace_sid": "WS...", "worker_sid": "WK..."},
     "channel_sid": "CH..."}          # customer tokens: the one channel they may reach

``chat``, ``task_router`` and ``channel_sid`` appear only when granted. Verification failures raise
:class:`TokenError` with the code of Twilio's matching access token error.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

import jwt

from settings import MAX_TOKEN_TTL_SECONDS, Settings

ALGORITHM = "HS256"
# Clock skew tolerated between the machine that minted a token and the one checking it.
LEEWAY_SECONDS = 30
REQUIRED_CLAIMS = ("jti", "iss", "aud", "sub", "iat", "nbf", "exp", "grants")

Role = Literal["agent", "supervisor", "admin", "customer"]
ROLES: tuple[Role, ...] = get_args(Role)

# Twilio's access token error codes.
INVALID_TOKEN = 20101  # malformed: not a JWT, claims missing or of the wrong type
INVALID_HEADER = 20102  # an algorithm other than HS256 (including "none")
INVALID_ISSUER = 20103  # issuer, audience or subject (account) not ours
EXPIRED = 20104
NOT_YET_VALID = 20105
INVALID_GRANTS = 20106
INVALID_SIGNATURE = 20107


class TokenError(Exception):
    """A token that cannot be accepted; ``code`` says why (Twilio's 2010x codes)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Grants:
    """What a token lets its bearer do, besides being ``identity``."""

    role: Role = "agent"
    chat_service_sid: str | None = None
    workspace_sid: str | None = None
    worker_sid: str | None = None
    channel_sid: str | None = None

    def claim(self, identity: str) -> dict[str, Any]:
        grants: dict[str, Any] = {"identity": identity, "role": self.role}
        if self.chat_service_sid:
            grants["chat"] = {"service_sid": self.chat_service_sid}
        if self.workspace_sid or self.worker_sid:
            task_router = {"workspace_sid": self.workspace_sid}
            if self.worker_sid:
                task_router["worker_sid"] = self.worker_sid
            grants["task_router"] = task_router
        if self.channel_sid:
            grants["channel_sid"] = self.channel_sid
        return grants

    @classmethod
    def from_claim(cls, claim: Any) -> tuple[str, Grants]:
        """The identity and grants of a ``grants`` claim (signature already checked)."""
        if not isinstance(claim, dict):
            raise TokenError(INVALID_GRANTS, "Invalid Access Token grants: not an object")
        identity, role = claim.get("identity"), claim.get("role")
        if not isinstance(identity, str) or not identity:
            raise TokenError(INVALID_GRANTS, "Invalid Access Token grants: identity is missing")
        if role not in ROLES:
            raise TokenError(INVALID_GRANTS, f"Invalid Access Token grants: unknown role {role!r}")
        chat = _section(claim, "chat")
        task_router = _section(claim, "task_router")
        return identity, cls(
            role=role,
            chat_service_sid=_text(chat, "service_sid"),
            workspace_sid=_text(task_router, "workspace_sid"),
            worker_sid=_text(task_router, "worker_sid"),
            channel_sid=_text(claim, "channel_sid"),
        )


def _section(claim: dict[str, Any], name: str) -> dict[str, Any]:
    value = claim.get(name, {})
    if not isinstance(value, dict):
        raise TokenError(INVALID_GRANTS, f"Invalid Access Token grants: {name} is not an object")
    return value


def _text(section: dict[str, Any], name: str) -> str | None:
    value = section.get(name)
    if value is not None and not isinstance(value, str):
        raise TokenError(INVALID_GRANTS, f"Invalid Access Token grants: {name} is not a string")
    return value


@dataclass(frozen=True)
class TokenClaims:
    """A verified token."""

    jti: str
    issuer: str
    audience: str
    account_sid: str
    identity: str
    grants: Grants
    issued_at: datetime
    not_before: datetime
    expires_at: datetime

    @property
    def role(self) -> Role:
        return self.grants.role


def _signing_key(settings: Settings) -> str:
    if not settings.jwt_secret:  # never sign or verify with an empty key
        raise RuntimeError("SWITCHBOARD_JWT_SECRET is not set")
    return settings.jwt_secret


def mint_token(
    settings: Settings, identity: str, grants: Grants, ttl: int | None = None, *, now: datetime | None = None
) -> tuple[str, datetime]:
    """A signed token for ``identity`` valid for ``ttl`` seconds (default ``token_ttl_seconds``,
    at most a day) from ``now``; returns it with its expiry."""
    ttl = settings.token_ttl_seconds if ttl is None else ttl
    if not 0 < ttl <= MAX_TOKEN_TTL_SECONDS:
        raise ValueError(f"ttl must be between 1 and {MAX_TOKEN_TTL_SECONDS} seconds, not {ttl}")
    if not identity:
        raise ValueError("identity must not be empty")
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    expires = issued + timedelta(seconds=ttl)
    claims = {
        "jti": secrets.token_hex(16),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": settings.account_sid,
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "grants": grants.claim(identity),
    }
    token = jwt.encode(claims, _signing_key(settings), algorithm=ALGORITHM, headers={"typ": "JWT"})
    return token, expires


def verify_token(settings: Settings, token: str) -> TokenClaims:
    """Check signature, algorithm, ``exp``, ``nbf``, ``iat`` (with ``LEEWAY_SECONDS``), issuer,
    audience and account; answer the claims or raise :class:`TokenError`."""
    key = _signing_key(settings)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": list(REQUIRED_CLAIMS), "strict_aud": True},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError(EXPIRED, "Access Token expired or expiration date invalid") from exc
    except jwt.ImmatureSignatureError as exc:
        raise TokenError(NOT_YET_VALID, "Access Token not yet valid") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenError(INVALID_SIGNATURE, "Invalid Access Token signature") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise TokenError(INVALID_HEADER, f"Invalid Access Token header: only {ALGORITHM} is accepted") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenError(INVALID_ISSUER, "Invalid Access Token issuer") from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenError(INVALID_ISSUER, "Invalid Access Token audience") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(INVALID_TOKEN, f"Invalid Access Token: {exc}") from exc
    if claims["sub"] != settings.account_sid:
        raise TokenError(INVALID_ISSUER, "Invalid Access Token subject: not this account")
    if not isinstance(claims["jti"], str) or not claims["jti"]:
        raise TokenError(INVALID_TOKEN, "Invalid Access Token: jti is not a string")
    identity, grants = Grants.from_claim(claims["grants"])
    return TokenClaims(
        jti=claims["jti"],
        issuer=claims["iss"],
        audience=settings.jwt_audience,
        account_sid=claims["sub"],
        identity=identity,
        grants=grants,
        issued_at=datetime.fromtimestamp(claims["iat"], UTC),
        not_before=datetime.fromtimestamp(claims["nbf"], UTC),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )
