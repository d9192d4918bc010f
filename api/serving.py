"""How uvicorn serves the API (``switchboard api`` and the dev stack alike): HTTPS and secure
WebSockets when a certificate and key are given, and the WebSocket frame limit."""

from __future__ import annotations

from typing import Any

from settings import Settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "host": settings.api_host,
        "port": settings.api_port,
        # A bigger message closes the socket (1009) before it is buffered.
        "ws_max_size": settings.websocket_max_bytes,
    }
    if settings.tls:
        options |= {"ssl_certfile": settings.tls_cert_file, "ssl_keyfile": settings.tls_key_file}
    return options
