"""Images and files sent in chats: ``POST /v1/Media`` uploads one to a channel (a customer token
for its own channel, an agent's for one it works on), ``GET /v1/Media/{sid}/Content`` serves it
to whoever may reach that channel, and to a provider holding a signed link (``store.media_links``).
``GET /v1/Messages/{IM}/Media/{n}`` fetches a customer's media from its provider for the same
viewers. Who may reach which channel is ``api.access``'s call (the account's credentials and API
keys count as an admin).
Stored encrypted, like message bodies."""

from __future__ import annotations

import base64
import json
import re
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import RedirectResponse

from api.access import may_reach_channel
from api.conversations import media_view
from api.deps import BasicDep, CallerDep, ContextDep, SessionDep, caller_claims, rate_limited_claims
from api.schemas.chat import UploadedMedia
from api.schemas.resources import error_responses
from api.tokens import TokenClaims
from api.twilio_shape import TwilioError, invalid, not_found
from switchboard.outbound_http import OutboundClient, OutboundRefused, ResponseTooLarge
from switchboard.settings import Settings
from switchboard.store.media_links import valid_media_signature
from switchboard.store.models import Channel, MediaObject, Message
from workflows import sids

router = APIRouter(prefix="/v1/Media", tags=["media"])
provider_router = APIRouter(prefix="/v1/Messages", tags=["media"])
# What a provider's media may weigh when fetched through Switchboard.
PROVIDER_MEDIA_LIMIT = 20 * 1024 * 1024

ALLOWED_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"})
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
CONTENT = "media.content"
# Meta's media ids are numbers; anything else would address another Graph API resource.
META_MEDIA_ID = re.compile(r"[0-9]{1,32}")
# Hosts Meta serves media from (besides the Graph API's own): its bearer token goes nowhere else.
META_MEDIA_HOSTS = ("fbsbx.com", "facebook.com", "fbcdn.net", "whatsapp.net")
# A media path of Twilio's Messages API, under the account's own SID: its credentials go nowhere else.
TWILIO_MEDIA_PATH = (
    r"/2010-04-01/Accounts/{account}/(?:Messages/[A-Z]{{2}}[0-9a-fA-F]{{32}}/)?Media/[A-Za-z0-9]{{1,34}}"
)


async def reachable_channel(
    session: SessionDep, claims: TokenClaims, channel_sid: str, *, watch: bool = False
) -> Channel:
    """The channel, when ``claims`` may act on it (``watch``: see it); 403 otherwise."""
    channel = await session.get(Channel, channel_sid)
    if channel is None or not await may_reach_channel(session, claims.grants, channel_sid, watch=watch):
        # The same answer for a channel that does not exist and one that is not yours.
        raise TwilioError(403, f"channel {channel_sid} is not reachable with this token")
    return channel


@router.post(
    "",
    status_code=201,
    response_model=UploadedMedia,
    responses=error_responses(400, 401, 403, 404, 413, 415, 429),
)
async def upload_media(
    context: ContextDep,
    session: SessionDep,
    claims: CallerDep,
    file: Annotated[UploadFile, File()],
    channel_sid: Annotated[str, Form(max_length=34)],
) -> dict[str, Any]:
    await reachable_channel(session, claims, channel_sid)
    content_type = (file.content_type or "").split(";")[0].strip().lower()
    if content_type not in ALLOWED_TYPES:
        raise TwilioError(
            415,
            f"Invalid parameter file: type {content_type or 'unknown'!r} is not one of {', '.join(sorted(ALLOWED_TYPES))}",
        )
    limit = context.settings.media_max_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise TwilioError(413, f"Invalid parameter file: larger than {limit} bytes")
    if not content:
        raise invalid("file", "is empty")
    filename = (file.filename or "attachment").replace("/", "_").replace("\\", "_")[:200]
    cipher = context.cipher
    media = MediaObject(
        sid=sids.new_sid(sids.MEDIA),
        channel_sid=channel_sid,
        uploaded_by_enc=cipher.encrypt(claims.grants.worker_sid or claims.identity, "media.uploaded_by"),
        content_type=content_type,
        filename_enc=cipher.encrypt(filename, "media.filename"),
        size=len(content),
        content_enc=cipher.encrypt(base64.b64encode(content).decode(), CONTENT),
    )
    session.add(media)
    await session.commit()
    view = media_view(media, context)
    return {
        "sid": view.sid,
        "channel_sid": channel_sid,
        "content_type": view.content_type,
        "filename": view.filename,
        "size": view.size,
        "url": view.url,
    }


@router.get("/{sid}/Content")
async def media_content(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    sid: str,
    credentials: BasicDep,
    expires: Annotated[int | None, Query(alias="Expires")] = None,
    signature: Annotated[str | None, Query(alias="Signature")] = None,
) -> Response:
    """With a bearer token that may see the media's channel (or the account's credentials), or a
    signed link (providers)."""
    if expires is not None and signature is not None:
        if not valid_media_signature(context.settings.jwt_secret, sid, expires, signature):
            raise TwilioError(403, "the media link is not valid or has expired")
        media = await session.get(MediaObject, sid)
        if media is None:
            raise not_found("Media", sid)
    else:
        claims = await rate_limited_claims(context, await caller_claims(request, context, session, credentials))
        media = await session.get(MediaObject, sid)
        if media is None:
            raise not_found("Media", sid)
        await reachable_channel(session, claims, media.channel_sid, watch=True)
    content = base64.b64decode(context.cipher.decrypt(media.content_enc, CONTENT))
    return served(content, media.content_type, context.cipher.decrypt(media.filename_enc, "media.filename"))


def served(content: bytes, content_type: str, filename: str) -> Response:
    disposition = "inline" if content_type in INLINE_TYPES else "attachment"
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'")
    return Response(
        content,
        media_type=content_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{ascii_name}"',
            # Served bytes never run as a page of this origin, whatever they contain.
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
        },
    )


@provider_router.get("/{message_sid}/Media/{n}")
async def provider_media(
    context: ContextDep, session: SessionDep, claims: CallerDep, message_sid: str, n: int
) -> Response:
    """A customer's media as the provider keeps it (a Twilio media URL, a Meta media id),
    fetched with the deployment's provider credentials for a viewer who may see the channel."""
    message = await session.get(Message, message_sid)
    if message is None:
        raise not_found("Message", message_sid)
    await reachable_channel(session, claims, message.channel_sid, watch=True)
    stored = context.cipher.decrypt_optional(message.media_enc, "message.media")
    records: list[dict[str, Any]] = json.loads(stored) if stored else []
    if not 0 <= n < len(records):
        raise not_found("Media", f"{message_sid}/{n}")
    record = records[n]
    if record.get("sid"):
        return RedirectResponse(f"/v1/Media/{record['sid']}/Content", status_code=307)
    content, content_type = await fetch_provider_media(context.settings, str(record.get("url", "")))
    return served(content, content_type or str(record.get("content_type", "")), f"media-{n}")


async def fetch_provider_media(settings: Settings, url: str) -> tuple[bytes, str]:
    """Bytes and content type of a provider's media: Meta's by id (Graph API, bearer token),
    Twilio's with the account's credentials, other public URLs (Messenger's CDN) as they are.
    The URLs come with customers' messages: fetched under the outbound policy (a refused address
    is a 403 naming why)."""
    limit = PROVIDER_MEDIA_LIMIT
    async with OutboundClient.from_setting(settings.outbound_allowed_networks) as client:
        try:
            if url.startswith("meta-media:"):
                media_id = url.split(":", 1)[1]
                if not META_MEDIA_ID.fullmatch(media_id):
                    raise not_found("Media", url[:60])
                bearer = {"Authorization": f"Bearer {settings.meta_access_token}"}
                info_url = f"{settings.meta_graph_url.rstrip('/')}/{media_id}"
                info = await client.request("GET", info_url, headers=bearer, timeout_seconds=20, max_bytes=64 * 1024)
                described = info.json() if info.is_success else None
                link = described.get("url") if isinstance(described, dict) else None
                if not isinstance(link, str):
                    raise TwilioError(502, f"Meta did not describe the media ({info.status_code})")
                headers = bearer if is_meta_media_url(settings, link) else None
                response = await client.request("GET", link, headers=headers, timeout_seconds=20, max_bytes=limit)
            elif url.startswith(("https://", "http://")):
                auth = None
                if is_twilio_media_url(settings, url):
                    auth = (settings.twilio_account_sid, settings.twilio_auth_token)
                response = await client.request("GET", url, auth=auth, timeout_seconds=20, max_bytes=limit)
            else:
                raise not_found("Media", url[:60])
        except OutboundRefused as exc:
            raise TwilioError(403, f"the media is not fetched: {exc}") from exc
        except ResponseTooLarge as exc:
            raise TwilioError(502, f"the provider's media is larger than {limit} bytes") from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise TwilioError(502, f"the provider did not serve the media: {exc.__class__.__name__}") from exc
    if not response.is_success:
        raise TwilioError(502, f"the provider did not serve the media ({response.status_code})")
    return response.content, response.headers.get("content-type", "").split(";")[0].strip()


def is_twilio_media_url(settings: Settings, url: str) -> bool:
    """Whether ``url`` is a media file of this account on the Twilio API: only there do the
    account's credentials go (a sender's URL elsewhere on the API would read the account)."""
    if not settings.twilio_account_sid:
        return False
    api = urlsplit(settings.twilio_api_url)
    target = urlsplit(url)
    if (target.scheme, target.netloc) != (api.scheme, api.netloc) or target.query or target.fragment:
        return False
    prefix = api.path.rstrip("/")
    pattern = re.escape(prefix) + TWILIO_MEDIA_PATH.format(account=re.escape(settings.twilio_account_sid))
    return re.fullmatch(pattern, target.path) is not None


def is_meta_media_url(settings: Settings, url: str) -> bool:
    """Whether Meta's own description points at Meta: the Graph API's origin or a host Meta
    serves media from over https."""
    graph = urlsplit(settings.meta_graph_url)
    target = urlsplit(url)
    if (target.scheme, target.netloc) == (graph.scheme, graph.netloc):
        return True
    host = (target.hostname or "").lower()
    return target.scheme == "https" and any(host == h or host.endswith("." + h) for h in META_MEDIA_HOSTS)
