"""A fake messaging provider for tests and demos: a real HTTP server on loopback that speaks enough
of Twilio's Messages API to stand in for it. It records every request, takes each message once per
``I-Twilio-Idempotency-Token`` (as Twilio does), answers scripted errors when told to, and reports
each message's progress to its ``StatusCallback`` signed with ``X-Twilio-Signature``, as Twilio
reports to Switchboard's status webhook."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from twilio.request_validator import RequestValidator


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]

    def field(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class ScriptedError:
    status: int
    code: int
    message: str


@dataclass
class FakeTwilio:
    """``FakeTwilio(account_sid, auth_token).start()``; point ``SWITCHBOARD_TWILIO_API_URL`` at
    ``.url``. ``statuses`` are reported to each accepted message's callback, in order."""

    account_sid: str
    auth_token: str
    statuses: Sequence[str] = ("sent", "delivered")
    callback_delay: float = 0.05
    requests: list[Received] = field(default_factory=list)
    # Accepted messages by idempotency token (or provider SID when none was given).
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[ScriptedError] = field(default_factory=list)
    callbacks: list[tuple[str, dict[str, str], int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received = Received(
                    "POST", urlparse(self.path).path, dict(self.headers), parse_qs(self.rfile.read(length).decode())
                )
                status, answer = fake.handle(received)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="fake-twilio", daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, *errors: ScriptedError) -> None:
        """Answer the next requests with these errors, in order, before taking messages again."""
        with self.lock:
            self.errors.extend(errors)

    def messages_sent(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.accepted.values())

    def message_requests(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith("/Messages.json")]

    # --- the API -------------------------------------------------------------------------------

    def handle(self, received: Received) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append(received)
        expected = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if received.path != expected:
            return 404, {
                "code": 20404,
                "message": f"The requested resource {received.path} was not found",
                "status": 404,
            }
        if (
            received.headers.get("Authorization")
            != "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        ):
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        with self.lock:
            if self.errors:
                error = self.errors.pop(0)
                return error.status, {"code": error.code, "message": error.message, "status": error.status}
            token = received.headers.get("I-Twilio-Idempotency-Token")
            if token and token in self.accepted:
                return 201, self.accepted[token]
            for required in ("To", "From"):
                if not received.field(required):
                    return 400, {"code": 21604, "message": f"A '{required}' phone number is required.", "status": 400}
            if not received.field("Body") and not received.field("MediaUrl"):
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
