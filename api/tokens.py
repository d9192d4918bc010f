"""Access tokens for agents, supervisors, admins and (later) customers: JWTs signed with HS256
under ``jwt_secret``, shaped after Twilio's AccessToken.

Claims: ``jti`` (unique id), ``iss`` / ``aud`` (the ``jwt_issuer`` / ``jwt_audience`` settings),
``sub`` (the account SID), ``iat``, ``nbf``, ``exp`` (seconds), ``auth_time`` (when the session
began: the first sign-in, carried unchanged by every refresh, in milliseconds so a revocation and
the next sign-in in the same second are told apart), ``origin`` (what the session was signed in
with: ``account`` for the account's credentials, an API key's SID, ``webchat`` for the widget's
customers, ``dev-sign-in``, ``sso``; a token minted with a token keeps its minter's), and ``grants``::

    {"identity": "alice", "role": "agent",
     "chat": {"service_sid": "IS..."},
     "task_router": {"workspace_sid": "WS...", "worker_sid": "WK..."},
     "channel_sid": "CH..."}          # customer tokens: the one channel they may reach

``chat``, ``task_router`` and ``channel_sid`` appear only when granted. Verification failures raise
:class:`TokenError` with the code of Twilio's matching access token error.

Single sign-on: with ``jwt_jwks_url`` set, tokens signed with RS256 by the identity provider (keys
from its JWKS, cached) are accepted too, when ``iss`` is ``jwt_sso_issuer`` and ``aud`` is
``jwt_sso_audience``. Their ``sub`` is the identity, and the ``jwt_sso_claim`` claim (default
``switchboard``) holds the grants in the ``grants`` claim's shape, its ``identity`` optional::

    {"sub": "alice@example.com", "switchboard": {"role": "supervisor", "chat": {"service_sid": "IS..."},
     "task_router": {"workspace_sid": "WS...", "worker_sid": "WK..."}}}

Without that claim a token grants nothing (refused). The role ``customer`` is never taken from an
identity provider: customers get channel-bound tokens from the web chat. Their session began at
their ``auth_time`` (else ``iat``, which they must carry) and their origin is ``sso``.

A session lasts at most ``token_session_max_seconds`` from its ``auth_time``: no token is minted
to expire after that, so refreshing cannot stretch a stolen token's life. Revocation (a deleted
API key, an identity's or every session ended) is checked against the store by ``api.deps``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal, get_args

import jwt

from switchboard.settings import MAX_TOKEN_TTL_SECONDS, Settings

ALGORITHM = "HS256"
# Clock skew tolerated between the machine that minted a token and the one checking it.
LEEWAY_SECONDS = 30
REQUIRED_CLAIMS = ("jti", "iss", "aud", "sub", "iat", "nbf", "exp", "auth_time", "origin", "grants")
SSO_ALGORITHMS = ("RS256",)
# ``iat`` tells a session that began before a revocation from one that began after it.
SSO_REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp")

# What a session was signed in with (the ``origin`` claim); API keys' SIDs are the other origins.
ACCOUNT_ORIGIN = "account"
WEBCHAT_ORIGIN = "webchat"
DEV_SIGN_IN_ORIGIN = "dev-sign-in"
SSO_ORIGIN = "sso"
MAX_ORIGIN_LENGTH = 64
# How long keys fetched from the identity provider's JWKS are kept; an unknown kid refetches.
JWKS_CACHE_SECONDS = 300
JWKS_TIMEOUT_SECONDS = 10

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
# Switchboard's uses of those codes: a revoked token is no longer a valid one (20101); a session
# past its bound is over, as an expired token is (20104): both need a new sign-in.
REVOKED = INVALID_TOKEN
SESSION_OVER = EXPIRED


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
    # What the session was signed in with, and when (``auth_time``); refreshes keep both.
    origin: str
    session_started_at: datetime
    # An identity provider's ``name`` claim (a person's display name), when it gives one.
    name: str | None = None

    @property
    def role(self) -> Role:
        return self.grants.role


@dataclass(frozen=True)
class MintedToken:
    token: str
    expires_at: datetime
    ttl: int


def _signing_key(settings: Settings) -> str:
    if not settings.jwt_secret:  # never sign or verify with an empty key
        raise RuntimeError("SWITCHBOARD_JWT_SECRET is not set")
    return settings.jwt_secret


def mint_token(
    settings: Settings,
    identity: str,
    grants: Grants,
    ttl: int | None = None,
    *,
    origin: str = ACCOUNT_ORIGIN,
    session_start: datetime | None = None,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    """A signed token for ``identity`` valid for ``ttl`` seconds (default ``token_ttl_seconds``,
    at most a day) from ``now``, never past its session's bound; returns it with its expiry."""
    minted = mint(settings, identity, grants, ttl, origin=origin, session_start=session_start, now=now)
    return minted.token, minted.expires_at


def mint(
    settings: Settings,
    identity: str,
    grants: Grants,
    ttl: int | None = None,
    *,
    origin: str,
    session_start: datetime | None = None,
    now: datetime | None = None,
) -> MintedToken:
    """:func:`mint_token`, answering the lifetime granted too. ``session_start`` (default: now, a
    first sign-in) is the ``auth_time`` a refresh carries on; once the session is past
    ``token_session_max_seconds`` this raises :class:`TokenError` (``SESSION_OVER``)."""
    ttl = settings.token_ttl_seconds if ttl is None else ttl
    if not 0 < ttl <= MAX_TOKEN_TTL_SECONDS:
        raise ValueError(f"ttl must be between 1 and {MAX_TOKEN_TTL_SECONDS} seconds, not {ttl}")
    if not identity:
        raise ValueError("identity must not be empty")
    if not origin or len(origin) > MAX_ORIGIN_LENGTH:
        raise ValueError("origin must be 1 to 64 characters")
    moment = now or datetime.now(UTC)
    issued = moment.replace(microsecond=0)
    begun = session_start or moment
    # Milliseconds, rounded down: a session never seems to begin after it did.
    started = begun.replace(microsecond=begun.microsecond // 1000 * 1000)
    session_ends = started + timedelta(seconds=settings.token_session_max_seconds)
    ttl = min(ttl, int((session_ends - issued).total_seconds()))
    if ttl <= 0:
        hours = settings.token_session_max_seconds / 3600
        raise TokenError(
            SESSION_OVER,
            f"Access Token session is over: it began at {started.isoformat(timespec='seconds')}, more than "
            f"{hours:g} hours ago (SWITCHBOARD_TOKEN_SESSION_MAX_SECONDS); sign in again",
        )
    expires = issued + timedelta(seconds=ttl)
    claims = {
        "jti": secrets.token_hex(16),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": settings.account_sid,
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "auth_time": round(started.timestamp(), 3),
        "origin": origin,
        "grants": grants.claim(identity),
    }
    token = jwt.encode(claims, _signing_key(settings), algorithm=ALGORITHM, headers={"typ": "JWT"})
    return MintedToken(token, expires, ttl)


def verify_token(settings: Settings, token: str) -> TokenClaims:
    """Check signature, algorithm, ``exp``, ``nbf``, ``iat`` (with ``LEEWAY_SECONDS``), issuer,
    audience and account; answer the claims or raise :class:`TokenError`. RS256 tokens go to the
    identity provider's keys when single sign-on is configured. May fetch the JWKS (blocking):
    async callers run it in a thread."""
    if settings.jwt_jwks_url and _algorithm(token) in SSO_ALGORITHMS:
        return verify_sso_token(settings, token)
    claims = _decode(
        token,
        _signing_key(settings),
        algorithm=ALGORITHM,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        required=REQUIRED_CLAIMS,
    )
    if claims["sub"] != settings.account_sid:
        raise TokenError(INVALID_ISSUER, "Invalid Access Token subject: not this account")
    if not isinstance(claims["jti"], str) or not claims["jti"]:
        raise TokenError(INVALID_TOKEN, "Invalid Access Token: jti is not a string")
    origin = claims["origin"]
    if not isinstance(origin, str) or not 0 < len(origin) <= MAX_ORIGIN_LENGTH:
        raise TokenError(INVALID_TOKEN, "Invalid Access Token: origin is not a string")
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
        origin=origin,
        session_started_at=_timestamp(claims, "auth_time"),
    )


def _timestamp(claims: dict[str, Any], name: str) -> datetime:
    value = claims[name]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TokenError(INVALID_TOKEN, f"Invalid Access Token: {name} is not a number")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise TokenError(INVALID_TOKEN, f"Invalid Access Token: {name} is out of range") from exc


def _algorithm(token: str) -> Any:
    try:
        return jwt.get_unverified_header(token).get("alg")
    except jwt.InvalidTokenError as exc:
        raise TokenError(INVALID_TOKEN, f"Invalid Access Token: {exc}") from exc


def _decode(token: str, key: Any, *, algorithm: str, audience: str, issuer: str, required: tuple[str, ...]) -> Any:
    """The claims of ``token`` once its signature, algorithm, times, issuer and audience check out."""
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": list(required), "strict_aud": True},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError(EXPIRED, "Access Token expired or expiration date invalid") from exc
    except jwt.ImmatureSignatureError as exc:
        raise TokenError(NOT_YET_VALID, "Access Token not yet valid") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenError(INVALID_SIGNATURE, "Invalid Access Token signature") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise TokenError(INVALID_HEADER, f"Invalid Access Token header: only {algorithm} is accepted") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenError(INVALID_ISSUER, "Invalid Access Token issuer") from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenError(INVALID_ISSUER, "Invalid Access Token audience") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(INVALID_TOKEN, f"Invalid Access Token: {exc}") from exc


@lru_cache(maxsize=8)
def jwks_client(url: str) -> jwt.PyJWKClient:
    """One client per JWKS URL for the process, so its key cache is shared by every request."""
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=JWKS_CACHE_SECONDS, timeout=JWKS_TIMEOUT_SECONDS)


def verify_sso_token(settings: Settings, token: str) -> TokenClaims:
    """An identity provider's token: signed by a key its JWKS publishes, for our audience, with
    Switchboard grants in ``jwt_sso_claim``."""
    try:
        signing_key = jwks_client(settings.jwt_jwks_url).get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError as exc:
        raise TokenError(
            INVALID_SIGNATURE, "Invalid Access Token: the identity provider's keys are unreachable"
        ) from exc
    except jwt.PyJWKClientError as exc:
        raise TokenError(
            INVALID_SIGNATURE, "Invalid Access Token signature: no key of the identity provider matches"
        ) from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(INVALID_TOKEN, f"Invalid Access Token: {exc}") from exc
    claims = _decode(
        token,
        signing_key.key,
        algorithm=SSO_ALGORITHMS[0],
        audience=settings.jwt_sso_audience,
        issuer=settings.jwt_sso_issuer,
        required=SSO_REQUIRED_CLAIMS,
    )
    subject = claims["sub"]
    section = claims.get(settings.jwt_sso_claim)
    if not isinstance(subject, str) or not subject:
        raise TokenError(INVALID_TOKEN, "Invalid Access Token: sub is not a string")
    if not isinstance(section, dict):
        raise TokenError(INVALID_GRANTS, f"Invalid Access Token grants: no {settings.jwt_sso_claim!r} claim")
    identity, grants = Grants.from_claim({"identity": subject, **section})
    if grants.role == "customer" or grants.channel_sid is not None:
        raise TokenError(INVALID_GRANTS, "Invalid Access Token grants: customers do not sign in through SSO")
    issued = _timestamp(claims, "iat")
    # The provider's sign-in time when it tells it (OpenID Connect's auth_time), else the token's.
    started = _timestamp(claims, "auth_time") if claims.get("auth_time") is not None else issued
    return TokenClaims(
        jti=str(claims.get("jti") or ""),
        issuer=claims["iss"],
        audience=settings.jwt_sso_audience,
        account_sid=settings.account_sid,
        identity=identity,
        grants=grants,
        issued_at=issued,
        not_before=datetime.now(UTC),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        origin=SSO_ORIGIN,
        session_started_at=min(started, issued),
        name=claims["name"] if isinstance(claims.get("name"), str) else None,
    )
