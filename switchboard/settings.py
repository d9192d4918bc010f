"""Every setting Switchboard reads, in one place (environment variables prefixed ``SWITCHBOARD_``).

Secrets (account credentials, encryption and hashing keys, the Twilio webhook token, the key that
signs access tokens) come from the environment in production. The dev stack generates them once
into ``<data_dir>/secrets.json`` (adding any that a file from an older version lacks) and every
process started against that data directory reads them from there when the environment is silent,
so ``switchboard dev`` works on a fresh machine without any configuration.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import limits
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard.outbound_http import OutboundPolicy
from workflows.routing.expressions import time_zone

SECRETS_FILE = "secrets.json"
# The fields a secrets file may supply; anything else in it is ignored.
SECRET_FIELDS = (
    "account_sid",
    "auth_token",
    "encryption_keys",
    "hash_key",
    "twilio_auth_token",
    "jwt_secret",
    "codec_keys",
)
# Key rings and the settings naming their current key; a secrets file may give the current key
# with its ring (``switchboard keys`` writes both).
CURRENT_KEY_FIELDS = {"encryption_keys": "encryption_key_id", "codec_keys": "codec_key_id"}
# Access tokens live at most a day, as Twilio's do.
MAX_TOKEN_TTL_SECONDS = 86400


def split_list(value: str) -> list[str]:
    """A comma-separated setting's entries, without blanks."""
    return [entry.strip() for entry in value.split(",") if entry.strip()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore")

    data_dir: Path = Field(Path(".switchboard"), description="Where the dev stack keeps its files")
    database_url: str = Field("", description="SQLAlchemy URL; empty = SQLite file in data_dir")

    # Redis (redis://host:6379/0) carries wake-ups between API replicas and keeps the rate limits
    # they share; empty = one process (in-memory limits).
    redis_url: str = ""
    # How often a socket looks at its feed anyway while the Redis subscription is up.
    feed_fallback_poll_seconds: float = Field(5.0, gt=0)
    # How often a watched supervisor board is computed again without a wake-up (what no commit
    # signals: a TargetWorkers expression reading the time or business hours). Commits wake it.
    supervisor_board_refresh_seconds: float = Field(30.0, gt=0)
    # How long the API trusts a Flex Flow (and a contact's channel, while no Redis subscription
    # carries invalidations) it looked up for a webhook; 0 = look up on every message.
    lookup_cache_seconds: float = Field(5.0, ge=0)

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "switchboard"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # The externally visible base URL, used to validate provider signatures and render resource
    # URLs when the API sits behind a proxy. Empty = the URL the request arrived on.
    public_url: str = ""

    account_sid: str = ""
    auth_token: str = ""
    # "key_id:base64key[,key_id:base64key...]": every listed key can decrypt; the current one
    # (encryption_key_id, or the last listed) encrypts.
    encryption_keys: str = ""
    encryption_key_id: str = ""
    hash_key: str = Field("", description="base64 key for keyed hashes of addresses")
    # Temporal payload encryption, in the same "id:base64[,...]" form: every key decrypts, the
    # current one (codec_key_id, or the last listed) encrypts.
    codec_keys: str = ""
    codec_key_id: str = ""
    # Origins of the Temporal UI allowed to call the codec endpoint (/codec) with an operator's
    # credentials: comma-separated, e.g. https://temporal.example.com. Empty: no browser origin.
    temporal_ui_origin: str = ""
    twilio_auth_token: str = Field("", description="validates X-Twilio-Signature on webhooks")

    # Access tokens (JWT, HS256) for agents and customers.
    jwt_secret: str = Field("", description="HS256 key signing access tokens; at least 32 characters")
    jwt_issuer: str = Field("switchboard", min_length=1)
    jwt_audience: str = Field("switchboard", min_length=1)
    token_ttl_seconds: int = Field(3600, ge=60, le=MAX_TOKEN_TTL_SECONDS, description="default access token TTL")
    # A sign-in lasts one working shift: refreshes carry its start (auth_time) and no token outlives
    # it, so a stolen token cannot be refreshed forever; the next shift signs in again.
    token_session_max_seconds: int = Field(
        12 * 3600, ge=60, le=30 * 86400, description="how long after its sign-in a session may be refreshed"
    )
    # Single sign-on: RS256/ES256 tokens of an identity provider, verified with the keys its JWKS URL
    # publishes; off while ``jwt_jwks_url`` is empty. Claims map as ``api.sso`` describes.
    jwt_jwks_url: str = Field("", description="JWKS URL of the identity provider whose tokens are accepted")
    jwt_sso_issuer: str = Field("", description="the identity provider's iss; required with jwt_jwks_url")
    jwt_sso_audience: str = Field("", description="the aud the identity provider gives Switchboard's tokens")
    jwt_sso_claim: str = Field("switchboard", min_length=1, description="claim holding the Switchboard grants")

    # Outbound SMS and WhatsApp through Twilio's Messages API (or a fake provider in tests and
    # demos). No account: agents' messages on those channels are recorded as failed, not sent.
    twilio_account_sid: str = ""
    twilio_api_url: str = "https://api.twilio.com"

    # WhatsApp Cloud API and Messenger: Graph API base URL and page/system user access token for
    # outbound; the app secret checks X-Hub-Signature-256; the verify token answers the handshake.
    meta_graph_url: str = "https://graph.facebook.com/v21.0"
    meta_access_token: str = ""
    meta_app_secret: str = ""
    meta_verify_token: str = ""

    # How long an outbound call to a provider may take before it counts as unanswered (and is
    # retried under the same idempotency key, so a late answer never sends twice).
    provider_timeout_seconds: float = Field(15.0, gt=0, le=25)

    # Requests to URLs that flows, REST callers and providers' messages choose (Studio HTTP widgets,
    # external integrations, TaskRouter event callbacks, provider media) never reach loopback,
    # private, link-local, CGNAT, multicast, reserved or metadata addresses, except these:
    # comma-separated CIDRs (10.20.0.0/16) or exact host names (hooks.internal). See outbound_http.
    outbound_allowed_networks: str = ""

    # Signs custom channels' inbound webhooks (X-Switchboard-Signature); empty refuses them.
    custom_webhook_secret: str = ""

    # Images and files sent in web chats and from the desk.
    media_max_bytes: int = Field(5 * 1024 * 1024, gt=0, le=100 * 1024 * 1024)
    # What one request body (uploads: media_max_bytes more) and one WebSocket frame may weigh.
    request_max_bytes: int = Field(1024 * 1024, ge=64 * 1024)
    websocket_max_bytes: int = Field(256 * 1024, ge=64 * 1024)
    # Commands one socket may have waiting behind the one running; one more closes it (1008).
    websocket_max_pending_commands: int = Field(64, ge=1, le=10_000)
    # Proxies whose X-Forwarded-For (and X-Forwarded-Proto) are believed: comma-separated
    # addresses or networks (10.0.0.0/8). Empty: nobody's; the client is the connection's peer.
    trusted_proxies: str = ""
    # Rate limits in the limits library's notation ("30/minute", several joined with ";"); empty
    # turns one off. Widget sessions and Flex WebChannels per client IP; per access token, its
    # socket commands and REST calls.
    webchat_session_rate: str = "30/minute;300/hour"
    token_rate: str = "30/second;600/minute"
    # HTTPS and secure WebSockets: a PEM certificate (chain) and its private key.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Pages allowed to embed the web chat widget (its calls are cross-origin there): comma-separated
    # origins such as https://shop.example.com, or * for any page.
    webchat_allowed_origins: str = "*"
    # /metrics, /docs, /redoc and /openapi.json answer only operators (the account's credentials,
    # an API key, an admin token); false opens them to anyone who reaches the API.
    operational_endpoints_auth: bool = True
    # The wrap-up dispositions an agent may pick (comma-separated; empty: the desk offers none). The
    # pick lands in the task's attributes as conversations.outcome, where Flex Insights reads it.
    wrapup_dispositions: str = "Resolved,Follow-up needed,Not resolved,Wrong department"
    # The agent desk's dev sign-in (a token for any worker name, no password): `switchboard dev` only.
    desk_dev_sign_in: bool = False
    # An agent whose last desk (agent socket) has been gone this long moves to this activity and
    # its pending offers go on to others. 30 s outlasts a page reload and the desk's reconnect
    # backoff (at most 10 s between attempts) through a brief network drop, and is a quarter of
    # the default 120 s reservation timeout a closed desk would otherwise hold every chat for.
    desk_disconnect_grace_seconds: float = Field(30.0, gt=0, le=3600)
    desk_disconnect_activity: str = Field("Offline", min_length=1)
    # The time zone (IANA name) TaskRouter expressions read ``taskrouter.currentTime``,
    # ``currentHour``, ``currentMin`` and ``dayOfWeek`` in, for filters that name no ``time_zone``:
    # UTC, as at TaskRouter.
    taskrouter_time_zone: str = "UTC"
    # An open desk renews its lease every third of this; a desk whose API replica died without
    # closing it counts as gone once its lease runs out.
    desk_presence_lease_seconds: float = Field(60.0, ge=1, le=3600)

    # Logs on stderr: text or one JSON object per line (with channel_sid and task_sid); the level
    # defaults to INFO (WARNING under `switchboard dev`).
    log_format: Literal["text", "json"] = "text"
    log_level: str = ""
    # A worker started on its own serves its Prometheus metrics here (0: not served; the API
    # serves its own at /metrics). The Temporal SDK's metrics go to their own address, if set.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(0, ge=0, le=65535)
    temporal_metrics_address: str = ""

    # Retention: services without their own RetentionDays keep messages this many days (0: forever);
    # a Temporal schedule sweeps every retention_interval_minutes.
    retention_days: int = Field(0, ge=0)
    retention_interval_minutes: int = Field(60, ge=1)

    channel_inactivity_seconds: float = Field(1800.0, gt=0)
    # Messages a channel workflow run stores before it continues as new, bounding its history.
    channel_run_message_budget: int = Field(1000, gt=0)

    # The business number of the default "Flex Messaging Channel" Flex Flow (SMS), used when the
    # Flex defaults are first created; change it later through the FlexFlows API.
    flex_sms_number: str = Field("+15005550006", min_length=1)
    # Studio run-function widgets exported from Twilio name their function by SID: a JSON object
    # from Function SIDs (ZH...) to their URLs and Service SIDs (ZS...) to the base URL their
    # functions now live under (the widget's url path kept), e.g.
    # {"ZH...": "https://functions.example.com/lookup", "ZS...": "https://functions.example.com"}.
    studio_function_urls: str = ""

    @field_validator("jwt_secret")
    @classmethod
    def _jwt_secret_is_long_enough(cls, value: str) -> str:
        # RFC 7518 3.2: an HS256 key is at least as long as the hash (256 bits).
        if value and len(value.encode()) < 32:
            raise ValueError("must be at least 32 characters, e.g. secrets.token_urlsafe(32)")
        return value

    @field_validator("webchat_session_rate", "token_rate")
    @classmethod
    def _rate_parses(cls, value: str) -> str:
        if value.strip():
            limits.parse_many(value)  # ValueError names what it could not read
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        for entry in split_list(value):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
        return value

    @field_validator("outbound_allowed_networks")
    @classmethod
    def _allowed_networks_parse(cls, value: str) -> str:
        OutboundPolicy.parse(value)  # ValueError names the entry it could not read
        return value

    @field_validator("taskrouter_time_zone")
    @classmethod
    def _time_zone_exists(cls, value: str) -> str:
        time_zone(value)  # ValueError names the zone it does not know
        return value

    @field_validator("studio_function_urls")
    @classmethod
    def _function_urls_parse(cls, value: str) -> str:
        parse_function_urls(value)  # ValueError names what is wrong
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("tls_cert_file and tls_key_file go together: set both or neither")
        return self

    @property
    def function_urls(self) -> dict[str, str]:
        return parse_function_urls(self.studio_function_urls)

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert_file)

    @model_validator(mode="after")
    def _sso_names_issuer_and_audience(self) -> Settings:
        # Without both, any token the identity provider signs for any application would pass.
        if self.jwt_jwks_url and not (self.jwt_sso_issuer and self.jwt_sso_audience):
            raise ValueError("jwt_jwks_url needs jwt_sso_issuer and jwt_sso_audience")
        # Keys fetched in the clear could be swapped on the way: HTTPS, but on this machine.
        url = urlparse(self.jwt_jwks_url)
        if self.jwt_jwks_url and not (
            url.scheme == "https" or (url.scheme == "http" and url.hostname in ("127.0.0.1", "::1", "localhost"))
        ):
            raise ValueError("jwt_jwks_url must be an https:// URL (http:// only on loopback)")
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        url = self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'switchboard.db'}"
        # Accept plain driver-less URLs as operators usually write them.
        for plain, driver in (
            ("postgresql://", "postgresql+psycopg://"),
            ("postgres://", "postgresql+psycopg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return driver + url[len(plain) :]
        return url

    @property
    def base_url(self) -> str:
        """Where providers reach this deployment (status callbacks)."""
        scheme = "https" if self.tls else "http"
        return (self.public_url or f"{scheme}://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def webchat_origins(self) -> list[str]:
        return [origin.strip().rstrip("/") for origin in self.webchat_allowed_origins.split(",") if origin.strip()]

    @property
    def wrapup_disposition_list(self) -> list[str]:
        return split_list(self.wrapup_dispositions)

    @property
    def trusted_proxy_list(self) -> list[str]:
        """The trusted proxies as uvicorn reads them (a network with host bits, 10.1.2.3/8, as
        10.0.0.0/8: uvicorn would take it for a name and trust nobody)."""
        return [str(ipaddress.ip_network(p, strict=False)) if "/" in p else p for p in split_list(self.trusted_proxies)]

    @property
    def temporal_ui_origins(self) -> list[str]:
        return [origin.strip().rstrip("/") for origin in self.temporal_ui_origin.split(",") if origin.strip()]

    def as_environment(self) -> dict[str, str]:
        """These settings as the environment variables that reproduce them in another process."""
        values = self.model_dump(mode="json")
        return {f"SWITCHBOARD_{name.upper()}": str(value) for name, value in values.items() if value not in ("", None)}

    def with_file_secrets(self) -> Settings:
        """Fill secrets the environment left empty from the data directory's secrets file."""
        path = self.data_dir / SECRETS_FILE
        if not path.exists():
            return self
        stored = json.loads(path.read_text())
        missing = {k: stored[k] for k in SECRET_FIELDS if not getattr(self, k) and stored.get(k)}
        for ring, current in CURRENT_KEY_FIELDS.items():
            if ring in missing and not getattr(self, current) and stored.get(current):
                missing[current] = stored[current]
        return self.model_copy(update=missing) if missing else self

    def require_secrets(self) -> Settings:
        empty = [f"SWITCHBOARD_{k.upper()}" for k in SECRET_FIELDS if not getattr(self, k)]
        if empty:
            raise SystemExit(
                f"missing settings: {', '.join(empty)} (set them, or run `switchboard dev` once "
                f"to generate {self.data_dir / SECRETS_FILE})"
            )
        return self


def load_settings() -> Settings:
    return Settings().with_file_secrets()


def _new_secrets() -> dict[str, str]:
    return {
        "account_sid": "AC" + secrets.token_hex(16),
        "auth_token": secrets.token_hex(16),
        "encryption_keys": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "hash_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "twilio_auth_token": secrets.token_hex(16),
        "jwt_secret": secrets.token_urlsafe(32),
        "codec_keys": "c1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def _write_private(path: Path, values: dict[str, str], *, exclusive: bool) -> None:
    """Write ``values`` as JSON readable by the owner only. ``exclusive``: fail if ``path`` exists;
    otherwise replace it atomically (a reader sees the old file or the new one, never half)."""
    target = path if exclusive else path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(values, f, indent=2)
        if not exclusive:
            os.replace(target, path)
    except BaseException:
        if not exclusive:
            target.unlink(missing_ok=True)
        raise


def generate_dev_secrets(data_dir: Path) -> tuple[Path, bool]:
    """Create the dev secrets file unless it exists. Returns its path and whether it was created.

    A file written by an older version lacks the secrets added since (``jwt_secret``,
    ``codec_keys``): those are generated and added to it, leaving the existing ones untouched.
    (Only ``switchboard dev`` does this, once, before it starts anything: processes started
    separately only read the file, so two of them never write different values.)"""
    path = data_dir / SECRETS_FILE
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        missing = {k: v for k, v in _new_secrets().items() if k not in stored}
        if missing:
            _write_private(path, {**stored, **missing}, exclusive=False)
        return path, False
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the owner's alone, as what it holds
    _write_private(path, _new_secrets(), exclusive=True)
    return path, True


def update_dev_secrets(data_dir: Path, values: dict[str, str]) -> Path:
    """Replace some values of the dev secrets file (``switchboard keys`` after adding a key)."""
    path = data_dir / SECRETS_FILE
    stored: dict[str, str] = json.loads(path.read_text())
    _write_private(path, {**stored, **values}, exclusive=False)
    return path


def parse_function_urls(text: str) -> dict[str, str]:
    """SWITCHBOARD_STUDIO_FUNCTION_URLS: a JSON object of Function or Service SIDs to URLs."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"must be a JSON object of SIDs to URLs ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object of SIDs to URLs")
    for sid, url in value.items():
        if not sid.startswith(("ZH", "ZS")) or not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"{sid!r}: keys are Function (ZH) or Service (ZS) SIDs, values http(s) URLs")
    return dict(value)
