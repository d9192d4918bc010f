"""Fake messaging providers for tests and demos: real HTTP servers on loopback that speak enough of
Twilio's Messages API (``FakeTwilio``) and Meta's Graph API (``FakeMeta``) to stand in for them.
Both record every request and answer scripted errors, or answer late, when told to. ``FakeTwilio`` takes each
message once per ``I-Twilio-Idempotency-Token`` (as Twilio does) and reports its progress to its
``StatusCallback`` signed with ``X-Twilio-Signature``; ``FakeMeta`` answers message ids, and
``meta_webhook`` builds signed webhook posts as Meta sends them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlparse

import httpx
from twilio.request_validator import RequestValidator


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())

    def field(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ScriptedError:
    status: int
    code: int
    message: str


class FakeProvider(ABC):
    """The server, the record of requests, scripted errors and slow answers every fake shares."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.errors: list[ScriptedError] = []
        self.delays: list[float] = []
        self.lock = threading.Lock()
        # Media a customer sent, as the provider keeps it: path -> (content type, bytes).
        self.files: dict[str, tuple[str, bytes]] = {}

    @abstractmethod
    def handle(self, received: Received) -> tuple[int, dict[str, Any]]: ...

    @abstractmethod
    def authorised(self, received: Received) -> bool: ...

    def keep_media(self, path: str, content_type: str, content: bytes) -> str:
        """Hold media at ``path`` (served to authorised GETs); answers its URL."""
        with self.lock:
            self.files[path] = (content_type, content)
        return self.url + path

    def fetch(self, received: Received) -> tuple[int, str, bytes]:
        if not self.authorised(received):
            return 401, "application/json", b'{"message": "Authenticate"}'
        with self.lock:
            found = self.files.get(received.path)
        if found is None:
            return 404, "application/json", b'{"message": "not found"}'
        return 200, found[0], found[1]

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received = Received("POST", urlparse(self.path).path, dict(self.headers), self.rfile.read(length))
                with fake.lock:
                    fake.requests.append(received)
                status, answer = fake.handle(received)
                # A slow provider: it has done the work, only its answer comes late.
                time.sleep(fake.next_delay())
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                received = Received("GET", urlparse(self.path).path, dict(self.headers), b"")
                with fake.lock:
                    fake.requests.append(received)
                status, content_type, data = fake.fetch(received)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name=type(self).__name__, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, *errors: ScriptedError) -> None:
        """Answer the next requests with these errors, in order, before taking messages again."""
        with self.lock:
            self.errors.extend(errors)

    def answer_late(self, *seconds: float) -> None:
        """Answer the next POSTs only after these delays, in order (the work itself is done at once)."""
        with self.lock:
            self.delays.extend(seconds)

    def next_delay(self) -> float:
        with self.lock:
            return self.delays.pop(0) if self.delays else 0.0

    def scripted_error(self) -> ScriptedError | None:
        with self.lock:
            return self.errors.pop(0) if self.errors else None


class FakeTwilio(FakeProvider):
    """``FakeTwilio(account_sid, auth_token).start()``; point ``SWITCHBOARD_TWILIO_API_URL`` at
    ``.url``. ``statuses`` are reported to each accepted message's callback, in order."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        statuses: Sequence[str] = ("sent", "delivered"),
        callback_delay: float = 0.05,
    ) -> None:
        super().__init__()
        self.account_sid, self.auth_token = account_sid, auth_token
        self.statuses, self.callback_delay = statuses, callback_delay
        # Accepted messages by idempotency token (or provider SID when none was given).
        self.accepted: dict[str, dict[str, Any]] = {}
        self.callbacks: list[tuple[str, dict[str, str], int]] = []
        # For demos: ``POST /customer/sms`` (From, Body) plays a customer texting the business's
        # number, delivered to this messaging webhook as Twilio would, signed.
        self.messaging_webhook: str | None = None
        self.business_number = ""

    def messages_sent(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.accepted.values())

    def message_requests(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith("/Messages.json")]

    def authorised(self, received: Received) -> bool:
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return received.headers.get("Authorization") == f"Basic {credentials}"

    def customer_texts(self, received: Received) -> tuple[int, dict[str, Any]]:
        sender, body = received.field("From"), received.field("Body")
        if not self.messaging_webhook or not sender or not body:
            return 400, {"message": "POST From and Body (and have a messaging webhook configured)"}
        params = {
            "MessageSid": "SM" + secrets.token_hex(16),
            "AccountSid": self.account_sid,
            "From": sender,
            "To": received.field("To") or self.business_number,
            "Body": body,
            "NumMedia": "0",
        }
        signature = RequestValidator(self.auth_token).compute_signature(self.messaging_webhook, params)
        answer = httpx.post(self.messaging_webhook, data=params, headers={"X-Twilio-Signature": signature}, timeout=30)
        return answer.status_code, {"message_sid": params["MessageSid"], "switchboard_status": answer.status_code}

    def handle(self, received: Received) -> tuple[int, dict[str, Any]]:
        if received.path == "/customer/sms":
            return self.customer_texts(received)
        expected = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if received.path != expected:
            return 404, {
                "code": 20404,
                "message": f"The requested resource {received.path} was not found",
                "status": 404,
            }
        if not self.authorised(received):
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        error = self.scripted_error()
        if error is not None:
            return error.status, {"code": error.code, "message": error.message, "status": error.status}
        with self.lock:
            token = received.headers.get("I-Twilio-Idempotency-Token")
            if token and token in self.accepted:
                return 201, self.accepted[token]
            for required in ("To", "From"):
                if not received.field(required):
                    return 400, {"code": 21604, "message": f"A '{required}' phone number is required.", "status": 400}
            if not received.field("Body") and not received.field("MediaUrl") and not received.field("ContentSid"):
                return 400, {"code": 21602, "message": "Message body is required.", "status": 400}
            sid = "SM" + secrets.token_hex(16)
            message: dict[str, Any] = {
                "sid": sid,
                "account_sid": self.account_sid,
                "from": received.field("From"),
                "to": received.field("To"),
                "body": received.field("Body"),
                "status": "queued",
                "num_media": str(len(received.form.get("MediaUrl", []))),
                "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            }
            self.accepted[token or sid] = message
        callback = received.field("StatusCallback")
        if callback:
            threading.Thread(target=self._report, args=(callback, message), daemon=True).start()
        return 201, message

    def _report(self, callback: str, message: dict[str, Any]) -> None:
        validator = RequestValidator(self.auth_token)
        for status in self.statuses:
            time.sleep(self.callback_delay)
            params = {
                "MessageSid": message["sid"],
                "SmsSid": message["sid"],
                "MessageStatus": status,
                "AccountSid": self.account_sid,
                "From": message["from"],
                "To": message["to"],
            }
            signature = validator.compute_signature(callback, params)
            try:
                answer = httpx.post(callback, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
                code = answer.status_code
            except httpx.HTTPError:
                code = 0
            with self.lock:
                self.callbacks.append((status, params, code))


class FakeMeta(FakeProvider):
    """Meta's Graph API ``POST /{phone number id or page id}/messages`` with a bearer token."""

    def __init__(self, access_token: str) -> None:
        super().__init__()
        self.access_token = access_token
        self.sent: list[dict[str, Any]] = []

    def authorised(self, received: Received) -> bool:
        return received.headers.get("Authorization") == f"Bearer {self.access_token}"

    def keep_meta_media(self, media_id: str, content_type: str, content: bytes) -> None:
        """A customer's media under its Meta id: ``GET /{id}`` describes it, the URL serves it."""
        url = self.keep_media(f"/download/{media_id}", content_type, content)
        description = json.dumps({"url": url, "mime_type": content_type, "id": media_id}).encode()
        with self.lock:
            self.files[f"/{media_id}"] = ("application/json", description)

    def handle(self, received: Received) -> tuple[int, dict[str, Any]]:
        if not self.authorised(received):
            return 401, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}}
        error = self.scripted_error()
        if error is not None:
            return error.status, {"error": {"message": error.message, "type": "OAuthException", "code": error.code}}
        payload = received.json()
        sender = received.path.strip("/").split("/")[-2]
        whatsapp = payload.get("messaging_product") == "whatsapp"
        message_id = ("wamid." if whatsapp else "m_") + secrets.token_hex(12)
        with self.lock:
            self.sent.append({"id": message_id, "from": sender, **payload})
        if whatsapp:
            contacts = [{"input": payload["to"], "wa_id": payload["to"]}]
            return 200, {"messaging_product": "whatsapp", "contacts": contacts, "messages": [{"id": message_id}]}
        return 200, {"recipient_id": payload["recipient"]["id"], "message_id": message_id}

    def sent_messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.sent)


def meta_webhook(app_secret: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A webhook body as Meta posts it, with its ``X-Hub-Signature-256``."""
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
