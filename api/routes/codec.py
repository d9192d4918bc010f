"""The codec endpoint of the Temporal UI and CLI (Temporal's remote codec protocol): ``POST
/codec/encode`` and ``POST /codec/decode`` take and answer ``{"payloads": [...]}`` in protobuf JSON
(metadata values and data base64). Also served as ``/codec/{namespace}/...`` for the CLI's
``--codec-endpoint .../{namespace}``.

Only operators get plaintext: the account's credentials or an API key (HTTP Basic, as the REST
API), an admin access token (Bearer), or the cookie ``/codec/sign-in`` sets after asking for the account's
credentials (what a browser running the Temporal UI can send: on the UI's own origin, as
``switchboard dev`` serves it, always; from another origin with the UI's codec option "include
cross-origin credentials"). Anyone else gets 401 (with a challenge a browser does not prompt for)
or 403, so the UI shows ciphertext. Browsers reach these routes cross-origin only from the Temporal
UI's origins (``temporal_ui_origin``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from google.protobuf import json_format
from google.protobuf.message import Error as ProtobufError
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payload

from api.access import may_use_codec
from api.deps import BasicDep, ContextDep, SessionDep, basic_caller
from api.operators import OPERATOR_CREDENTIALS, operator_caller
from api.twilio_shape import TwilioError
from switchboard.settings import Settings
from switchboard.store.payload_codec import CODEC_PATH, EncryptionCodec, PayloadDecryptionError

PREFIX = CODEC_PATH
COOKIE = "switchboard_codec"
# The cookie's token is good for this endpoint only, never as an access token elsewhere.
COOKIE_AUDIENCE = "switchboard-codec"

# The challenge of a refused codec call (RFC 9110 wants one on a 401).
CODEC_CHALLENGE = f'Bearer realm="Switchboard codec", sign_in="{PREFIX}/sign-in"'

router = APIRouter(prefix=PREFIX, tags=["Codec"])


def _session_token(settings: Settings) -> tuple[str, int]:
    ttl = settings.token_ttl_seconds
    now = datetime.now(UTC)
    claims = {
        "iss": settings.jwt_issuer,
        "aud": COOKIE_AUDIENCE,
        "sub": settings.account_sid,
        "iat": now,
        "exp": now + timedelta(seconds=ttl),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256"), ttl


def _session_is_valid(settings: Settings, token: str) -> bool:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=["HS256"],
            audience=COOKIE_AUDIENCE,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
    except jwt.InvalidTokenError:
        return False
    return bool(claims["sub"] == settings.account_sid)


async def require_operator(request: Request, context: ContextDep, session: SessionDep, credentials: BasicDep) -> str:
    """Answers who the operator is (``api.operators``, or this endpoint's cookie); 401 without
    valid credentials, 403 for a token of another role."""
    settings = context.settings
    caller = await operator_caller(request, context, session, credentials, may_use_codec, "decode payloads")
    if caller is not None:
        return caller
    cookie = request.cookies.get(COOKIE)
    if cookie and _session_is_valid(settings, cookie):
        return settings.account_sid
    # Not Basic: a browser would answer a Basic challenge to the UI's same-origin codec call
    # (``switchboard dev``'s) with a sign-in prompt on every page. Signing in is /codec/sign-in.
    raise TwilioError(401, OPERATOR_CREDENTIALS, headers={"WWW-Authenticate": CODEC_CHALLENGE})


OperatorDep = Annotated[str, Depends(require_operator)]


async def _payloads(request: Request) -> list[Payload]:
    try:
        body = await request.json()
        items = body.get("payloads") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise TwilioError(400, "expected a JSON object with a list of payloads")
        return [json_format.ParseDict(item, Payload()) for item in items]
    except (ValueError, json_format.Error, ProtobufError) as exc:
        raise TwilioError(400, f"payloads are not valid protobuf JSON: {exc}") from exc


def _answer(payloads: list[Payload]) -> dict[str, Any]:
    return {"payloads": [json_format.MessageToDict(payload) for payload in payloads]}


@router.post("/encode", summary="Encrypt payloads (Temporal remote codec protocol)")
@router.post("/{namespace}/encode", include_in_schema=False)
async def encode(request: Request, context: ContextDep, _operator: OperatorDep) -> dict[str, Any]:
    codec = EncryptionCodec.from_settings(context.settings)
    return _answer(await codec.encode(await _payloads(request)))


@router.post("/decode", summary="Decrypt payloads (Temporal remote codec protocol)")
@router.post("/{namespace}/decode", include_in_schema=False)
async def decode(request: Request, context: ContextDep, _operator: OperatorDep) -> dict[str, Any]:
    codec = EncryptionCodec.from_settings(context.settings)
    try:
        return _answer(await codec.decode(await _payloads(request)))
    except PayloadDecryptionError as exc:
        raise TwilioError(400, str(exc)) from exc


@router.get("/sign-in", summary="Sign a browser in for the Temporal UI's codec calls")
async def sign_in(request: Request, context: ContextDep, session: SessionDep, credentials: BasicDep) -> Response:
    """Asks for the account's credentials (the browser's sign-in prompt) and answers with an
    HttpOnly cookie for this endpoint, valid ``token_ttl_seconds``."""
    settings = context.settings
    if credentials is None or await basic_caller(context, session, credentials) is None:
        return JSONResponse(
            {"status": 401, "message": "Sign in with the account SID and auth token"},
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="Switchboard codec"'},
        )
    token, ttl = _session_token(settings)
    response = PlainTextResponse(
        "Signed in: the Temporal UI in this browser now shows decrypted payloads (a UI on another "
        "origin than this endpoint needs its codec setting 'include cross-origin credentials').\n"
    )
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE,
        token,
        max_age=ttl,
        path=PREFIX,
        httponly=True,
        secure=secure,
        # Over HTTP the UI must be on the same site (host) as the API; over HTTPS any site.
        samesite="none" if secure else "strict",
    )
    return response


class CodecCors:
    """CORS for the codec routes: the Temporal UI's origins only, with credentials (the cookie)."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(PREFIX + "/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
