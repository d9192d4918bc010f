"""The one HTTP client for requests whose URL someone other than the operator chooses: a Studio
flow's ``make-http-request`` and ``run-function`` widgets, an ``external`` integration's URL, a
TaskRouter workspace's event callback, a provider's media link.

Such a URL could point Switchboard at what only it can reach (the cloud's metadata service, the
database, Temporal, an admin page on the private network). So, unless the operator allows them in
``SWITCHBOARD_OUTBOUND_ALLOWED_NETWORKS`` (CIDRs or exact host names), requests never go to
loopback, private, link-local, carrier-grade NAT, multicast, unspecified, reserved or metadata
addresses, nor to IPv6 addresses that embed one (IPv4-mapped, NAT64, 6to4); and only http and
https are spoken.

The check runs where the connection is made: the client's network backend resolves the host,
checks every address it resolves to and connects to a checked one, so a name that resolves to a
public address when asked and a private one a moment later (DNS rebinding) gains nothing. Redirects
are followed here, a few at most, each hop checked the same way (and credentials kept to their
origin). Bodies are read as they stream, up to a cap, within an overall deadline."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import re
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from types import TracebackType
from typing import Any, Self

import httpcore
import httpx

SETTING = "SWITCHBOARD_OUTBOUND_ALLOWED_NETWORKS"
SCHEMES = frozenset({"http", "https"})
MAX_REDIRECTS = 5
USER_AGENT = "Switchboard"
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
# Instance metadata and platform services that answer on addresses the classification below may
# let through (Azure's wire server is a public address); the link-local ones are refused anyway.
METADATA_ADDRESSES = frozenset(
    ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "168.63.129.16", "100.100.100.200", "fd00:ec2::254")
)
CARRIER_GRADE_NAT = ip_network("100.64.0.0/10")
NAT64 = ip_network("64:ff9b::/96")
HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


class OutboundError(httpx.TransportError):
    """A request this client would not make or finish (an ``httpx.HTTPError``, so callers that
    handle any HTTP failure handle these too)."""


class OutboundRefused(OutboundError):
    """The URL's scheme or address is not one Switchboard sends requests to."""


class ResponseTooLarge(OutboundError):
    """The answer's body is larger than the caller keeps."""


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 one carries to (IPv4-mapped, NAT64, 6to4), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def address_refusal(address: Address) -> str | None:
    """Why the default policy does not reach ``address`` ("a loopback address"), or None."""
    if isinstance(address, IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            reason = address_refusal(inner)
            # A mapped or NAT64 address is its IPv4 address (the ranges themselves count as reserved).
            if reason is not None or address.ipv4_mapped is not None or address in NAT64:
                return reason
    for refused, reason in (
        (address in METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_unspecified, "an unspecified address"),
        (isinstance(address, IPv4Address) and address in CARRIER_GRADE_NAT, "a carrier-grade NAT address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    ):
        if refused:
            return reason
    return None


@dataclass(frozen=True)
class OutboundPolicy:
    """What outbound requests may reach beyond public addresses: the operator's allowed networks
    and host names (an allowed name skips the address check for that name only)."""

    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, setting: str) -> OutboundPolicy:
        """``127.0.0.0/8, ::1/128, hooks.internal``: CIDRs (a bare address is one host) and host
        names, comma-separated. ValueError names an entry that is neither."""
        networks: list[Network] = []
        hosts: set[str] = set()
        for entry in (e.strip() for e in setting.split(",")):
            if not entry:
                continue
            try:
                networks.append(ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            name = normal_host(entry)
            if "/" in entry or not HOST_NAME.match(name) or name.replace(".", "").isdigit():
                raise ValueError(f"outbound_allowed_networks: {entry!r} is neither a CIDR nor a host name")
            hosts.add(name)
        return cls(tuple(networks), frozenset(hosts))

    def allows_host(self, host: str) -> bool:
        return normal_host(host) in self.hosts

    def refusal(self, address: Address) -> str | None:
        """Why requests may not go to ``address``, or None when they may."""
        candidates: list[Address] = [address]
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        if any(a.version == n.version and a in n for a in candidates for n in self.networks):
            return None
        return address_refusal(address)

    async def addresses(self, host: str, port: int) -> list[str]:
        """Where to connect for ``host``: every address it resolves to, each allowed (one that is
        not refuses the host, so a resolver cannot slip a private address in among public ones)."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if self.allows_host(host):
            return addresses
        for resolved in addresses:
            address = ip_address(resolved.split("%", 1)[0])  # without an IPv6 zone
            reason = self.refusal(address)
            if reason is not None:
                named = f"{host} resolves to {address}, which is" if ip_or_none(host) is None else f"{host} is"
                raise OutboundRefused(
                    f"{named} {reason}: Switchboard does not send requests there"
                    f" (operators allow networks with {SETTING})"
                )
        return addresses


def ip_or_none(host: str) -> Address | None:
    try:
        return ip_address(host)
    except ValueError:
        return None


def normal_host(host: str) -> str:
    return host.strip().lower().rstrip(".")


def checked_url(url: str | httpx.URL, base: httpx.URL | None = None) -> httpx.URL:
    """``url`` (relative to ``base``, a redirect's), when it is an absolute http(s) URL."""
    try:
        parsed = base.join(url) if base is not None else httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise OutboundRefused(f"{str(url)[:200]!r} is not a valid URL: {exc}") from exc
    if parsed.scheme not in SCHEMES:
        shown = f"the {parsed.scheme}: scheme" if parsed.scheme else f"{str(url)[:200]!r} (no scheme)"
        raise OutboundRefused(f"{shown} is refused: only http and https URLs are requested")
    if not parsed.host:
        raise OutboundRefused(f"{str(url)[:200]!r} names no host")
    return parsed


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens connections only to addresses the policy allows: the check and the connection use
    the same resolution."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in await self.policy.addresses(host, port):
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # getaddrinfo answers at least one address or raises
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("Unix sockets are refused")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """One for every client (loading the CA bundle takes a while). The environment may name CA
    certificates (SSL_CERT_FILE); proxies it names are not used (``OutboundClient``)."""
    return httpx.create_ssl_context()


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a connection pool that connects through ``GuardedBackend``."""

    def __init__(self, policy: OutboundPolicy) -> None:
        ssl_context = default_ssl_context()
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx builds its pool without a way to pass a network backend: the pool is replaced by
        # one with the same settings and ours (the replaced one never opened a connection).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(policy),
        )


@dataclass
class OutboundResponse:
    """An answer, its body read (up to the caller's limit)."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    encoding: str
    url: str

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding, errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class OutboundClient:
    """Sends requests under an ``OutboundPolicy``; ``async with`` or ``aclose`` closes it."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(policy),
            # No proxy or .netrc from the environment: a proxy would make the connection (and the
            # address check) its own.
            trust_env=False,
            follow_redirects=False,
            # A compressed body could grow far beyond the cap in one chunk.
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        )

    @classmethod
    def from_setting(cls, allowed_networks: str) -> OutboundClient:
        return cls(OutboundPolicy.parse(allowed_networks))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout_seconds: float = 10.0,
        max_bytes: int = 0,
        follow_redirects: bool = True,
    ) -> OutboundResponse:
        """The answer to ``method url``, after at most ``MAX_REDIRECTS`` redirects, within
        ``timeout_seconds`` in all. ``max_bytes``: the largest body kept (``ResponseTooLarge``
        beyond); 0 reads no body (the status is the answer). ``auth``: HTTP Basic credentials,
        sent to the URL's origin only."""
        target = checked_url(url)
        request_headers = httpx.Headers(headers)
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request_headers["Authorization"] = f"Basic {token}"
        request = self._client.build_request(
            method, target, params=params, data=data, content=content, headers=request_headers, timeout=timeout_seconds
        )
        try:
            async with asyncio.timeout(timeout_seconds):
                return await self._exchange(request, max_bytes, follow_redirects)
        except TimeoutError as exc:
            raise httpx.TimeoutException(
                f"{target} gave no complete answer within {timeout_seconds:g} seconds"
            ) from exc

    async def _exchange(self, request: httpx.Request, max_bytes: int, follow_redirects: bool) -> OutboundResponse:
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._client.send(request, stream=True)
            try:
                location = response.headers.get("Location", "")
                if not (follow_redirects and response.status_code in REDIRECT_CODES and location):
                    return await read_capped(response, max_bytes)
            finally:
                await response.aclose()
            request = redirected(request, response.status_code, location)
        raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects", request=request)


def redirected(request: httpx.Request, status_code: int, location: str) -> httpx.Request:
    """The next hop, as browsers make it: 303 (and 301/302 after a POST) turns into a body-less
    GET; credentials stay with their origin."""
    url = checked_url(location, base=request.url)
    method = request.method
    if (status_code == 303 and method != "HEAD") or (status_code in (301, 302) and method == "POST"):
        method = "GET"
    headers = httpx.Headers(request.headers)
    headers.pop("Host", None)  # the new URL's
    if method != request.method:
        for name in ("Content-Type", "Content-Length", "Transfer-Encoding"):
            headers.pop(name, None)
    if (url.scheme, url.host, url.port) != (request.url.scheme, request.url.host, request.url.port):
        headers.pop("Authorization", None)
        headers.pop("Cookie", None)
    body = request.content if method == request.method else b""
    return httpx.Request(method, url, headers=headers, content=body, extensions=request.extensions)


async def read_capped(response: httpx.Response, max_bytes: int) -> OutboundResponse:
    """The response with at most ``max_bytes`` of body, read as it arrives."""
    chunks: list[bytes] = []
    if max_bytes:
        too_large = ResponseTooLarge(f"{response.request.url} answered more than {max_bytes} bytes")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise too_large
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise too_large
            chunks.append(chunk)
    return OutboundResponse(
        response.status_code, response.headers, b"".join(chunks), response.encoding or "utf-8", str(response.url)
    )
