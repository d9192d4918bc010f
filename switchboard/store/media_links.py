"""Signed links to uploaded media, for providers that fetch what they deliver (Twilio's
``MediaUrl``): the link names the media, an expiry and an HMAC of both under a deployment key,
so it works without a token and for nothing else."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

# Providers fetch at send time; a day covers their retries.
LINK_TTL_SECONDS = 86400


def _signature(key: str, sid: str, expires: int) -> str:
    return hmac.new(key.encode(), f"media:{sid}:{expires}".encode(), hashlib.sha256).hexdigest()


def signed_media_url(base_url: str, key: str, sid: str, now: float | None = None) -> str:
    expires = int((now or time.time()) + LINK_TTL_SECONDS)
    query = urlencode({"Expires": expires, "Signature": _signature(key, sid, expires)})
    return f"{base_url.rstrip('/')}/v1/Media/{sid}/Content?{query}"


def valid_media_signature(key: str, sid: str, expires: int, signature: str, now: float | None = None) -> bool:
    if expires < (now or time.time()):
        return False
    # As bytes: compare_digest refuses str with non-ASCII characters, which anyone can send.
    return hmac.compare_digest(_signature(key, sid, expires).encode(), signature.encode())


def viewer_media(message_sid: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A message's media as sockets show it: uploaded media at its own URL; a provider's media
    (Twilio URLs, Meta media ids) at ``/v1/Messages/{IM}/Media/{n}``, which fetches it from the
    provider for viewers who may see the channel (``provider_url`` keeps where it lives)."""
    shown = []
    for n, record in enumerate(records):
        if record.get("sid"):
            shown.append(record)
        else:
            shown.append({**record, "url": provider_media_path(message_sid, n), "provider_url": record.get("url")})
    return shown


def provider_media_path(message_sid: str, n: int) -> str:
    return f"/v1/Messages/{message_sid}/Media/{n}"


def conversation_media(message_sid: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A message's media as Conversations v1 shows it (Twilio's ``sid``, ``category``,
    ``content_type``, ``filename``, ``size``), with Switchboard's ``url`` to fetch it: uploaded
    media at ``/v1/Media/{ME}/Content``; a provider's media (no ``sid``) through
    ``/v1/Messages/{IM}/Media/{n}`` (``viewer_media``)."""
    shown = []
    for n, record in enumerate(records):
        shown.append(
            {
                "sid": record.get("sid") or None,
                "category": "media",
                "content_type": record.get("content_type"),
                "filename": record.get("filename") or None,
                "size": record.get("size") or None,
                "url": record.get("url") if record.get("sid") else provider_media_path(message_sid, n),
            }
        )
    return shown
