"""How uvicorn serves the API (``switchboard api`` and the dev stack alike): HTTPS and secure
WebSockets when a certificate and key are given, the WebSocket frame limit, and whose
``X-Forwarded-For`` is believed.

uvicorn rewrites the client address (and scheme) from ``X-Forwarded-For`` (``-Proto``) when the
connection comes from a trusted host, by default any loopback peer: a client on this machine, or a
proxy that passes the header through unchanged, could then pick the address the per-address rate
limits count. Here the trusted hosts are ``trusted_proxies`` and nothing else (none by default),
and uvicorn takes the rightmost address no trusted proxy wrote, so what a client writes on the left
of the header changes nothing. ``api.rate_limits.client_ip`` reads the address it settled on."""

from __future__ import annotations

from typing import Any

from switchboard.settings import Settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "host": settings.api_host,
        "port": settings.api_port,
        # A bigger message closes the socket (1009) before it is buffered.
        "ws_max_size": settings.websocket_max_bytes,
        # Explicit, so that uvicorn's FORWARDED_ALLOW_IPS default (loopback) never applies.
        "proxy_headers": True,
        "forwarded_allow_ips": settings.trusted_proxy_list,
    }
    if settings.tls:
        options |= {"ssl_certfile": settings.tls_cert_file, "ssl_keyfile": settings.tls_key_file}
    return options
