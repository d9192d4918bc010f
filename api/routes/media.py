"""Images and files sent in chats: ``POST /v1/Media`` uploads one to a channel (a customer token
for its own channel, an agent's for one it works on), ``GET /v1/Media/{sid}/Content`` serves it
to whoever may reach that channel, and to a provider holding a signed link (``store.media_links``).
Stored encrypted, like message bodies."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile

from api.access import may_reach_channel
from api.deps import ClaimsDep, ContextDep, SessionDep, claims_from_bearer
from api.sockets.session import media_view
from api.twilio_shape import TwilioError, invalid, not_found
from store.media_links import valid_media_signature
from store.models import Channel, MediaObject
from workflows import sids

router = APIRouter(prefix="/v1/Media", tags=["media"])

ALLOWED_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"})
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
CONTENT = "media.content"


async def reachable_channel(session: SessionDep, claims: ClaimsDep, channel_sid: str) -> Channel:
    channel = await session.get(Channel, channel_sid)
    if channel is None or not await may_reach_channel(session, claims.grants, channel_sid):
        # The same answer for a channel that does not exist and one that is not yours.
        raise TwilioError(403, f"channel {channel_sid} is not reachable with this token")
    return channel


@router.post("", status_code=201)
async def upload_media(
    context: ContextDep,
    session: SessionDep,
    claims: ClaimsDep,
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
    expires: Annotated[int | None, Query(alias="Expires")] = None,
    signature: Annotated[str | None, Query(alias="Signature")] = None,
) -> Response:
    """With a bearer token that reaches the media's channel, or a signed link (providers)."""
    if expires is not None and signature is not None:
        if not valid_media_signature(context.settings.jwt_secret, sid, expires, signature):
            raise TwilioError(403, "the media link is not valid or has expired")
        media = await session.get(MediaObject, sid)
        if media is None:
            raise not_found("Media", sid)
    else:
        claims = claims_from_bearer(context, request)
        media = await session.get(MediaObject, sid)
        if media is None:
            raise not_found("Media", sid)
        await reachable_channel(session, claims, media.channel_sid)
    content = base64.b64decode(context.cipher.decrypt(media.content_enc, CONTENT))
    filename = context.cipher.decrypt(media.filename_enc, "media.filename")
    disposition = "inline" if media.content_type in INLINE_TYPES else "attachment"
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'")
    return Response(
        content,
        media_type=media.content_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{ascii_name}"',
            # Served bytes never run as a page of this origin, whatever they contain.
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
        },
    )
