"""Custom channels' inbound webhook: ``POST /webhooks/custom/{FlexFlowSid}`` with a JSON message,
signed by the sender. A business bridges any messaging system it has (an in-app chat, a kiosk) to
a ``custom`` Flex Flow with it.

Signature: ``X-Switchboard-Timestamp`` (Unix seconds) and ``X-Switchboard-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" under SWITCHBOARD_CUSTOM_WEBHOOK_SECRET>``; a
timestamp more than five minutes away is refused, so a captured request cannot be replayed later.

Body: ``{"id": "the sender's message id", "from": "the customer's address", "body": "text",
"attributes": {...}, "media": [{"url": "...", "content_type": "..."}]}``; ``id`` makes a retry
harmless."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, ValidationError

from api.channels import flow_by_sid
from api.conversations import receive_customer_message
from api.deps import ContextDep, SessionDep
from api.twilio_shape import TwilioError, check_message_body, invalid
from switchboard.observability import WEBHOOK_REJECTED
from workflows.messages import InboundMessage, MediaRef

router = APIRouter(prefix="/webhooks/custom", tags=["webhooks"])

REPLAY_WINDOW_SECONDS = 300
MAX_MEDIA = 10


class CustomMedia(BaseModel):
    # A web address (a provider's own media references, such as Meta's ids, are not the
    # sender's to give: they are fetched with the deployment's provider credentials).
    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://")
    content_type: str = Field("application/octet-stream", max_length=128)


class CustomMessage(BaseModel):
    id: str = Field(min_length=1, max_length=128)
    from_: str = Field(alias="from", min_length=1, max_length=256)
    body: str | None = Field(None, max_length=32768)
    attributes: dict[str, Any] = Field(default_factory=dict)
    media: list[CustomMedia] = Field(default_factory=list, max_length=MAX_MEDIA)


def signature_for(secret: str, timestamp: str, raw: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@router.post("/{flex_flow_sid}")
async def custom_message(flex_flow_sid: str, request: Request, context: ContextDep, session: SessionDep) -> Response:
    raw = await request.body()
    secret = context.settings.custom_webhook_secret
    timestamp = request.headers.get("X-Switchboard-Timestamp", "")
    fresh = timestamp.isascii() and timestamp.isdigit() and abs(time.time() - int(timestamp)) <= REPLAY_WINDOW_SECONDS
    signature = request.headers.get("X-Switchboard-Signature", "")
    if (
        not secret
        or not fresh
        or not hmac.compare_digest(signature.encode(), signature_for(secret, timestamp, raw).encode())
    ):
        WEBHOOK_REJECTED.labels("custom", "signature").inc()
        raise TwilioError(
            403, "X-Switchboard-Signature does not match, or X-Switchboard-Timestamp is not within 5 minutes", 20403
        )
    try:
        message = CustomMessage.model_validate(json.loads(raw))
    except ValidationError as exc:
        WEBHOOK_REJECTED.labels("custom", "malformed").inc()
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise invalid("body", problems) from exc
    except ValueError as exc:
        WEBHOOK_REJECTED.labels("custom", "malformed").inc()
        raise invalid("body", f"is not JSON ({exc})") from exc
    if not message.body and not message.media:
        raise invalid("body", "is empty and the message carries no media")
    check_message_body(message.body, "body")
    flow = await flow_by_sid(context, session, flex_flow_sid)
    if flow is None or flow.channel_type != "custom" or not flow.enabled:
        WEBHOOK_REJECTED.labels("custom", "unmatched").inc()
        raise TwilioError(404, f"no enabled custom Flex Flow {flex_flow_sid}")
    inbound = InboundMessage(
        key=f"custom:{flow.sid}:{message.id}",
        author=message.from_,
        body=message.body or None,
        attributes=json.dumps(message.attributes),
        media=[MediaRef(m.content_type, m.url) for m in message.media],
    )
    await receive_customer_message(context, session, flow, message.from_, inbound)
    return Response(status_code=204)
