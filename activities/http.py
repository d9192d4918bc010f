"""HTTP activities: Studio's make-http-request and run-function calls, and the external
integration's webhook posts (signed like Twilio's, retried by the workflow's retry policy). Their
URLs are flow authors' and REST callers' choice: they go out under the outbound policy
(``outbound_http``), and a refusal is a failed step or a recorded integration failure naming why."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError
from twilio.request_validator import RequestValidator

from activities.store import finish_even_if_cancelled
from outbound_http import OutboundClient
from store.db import Database
from store.models import IntegrationFailure
from workflows.messages import ChatWebhook, WebhookFailure
from workflows.studio.messages import HttpCall, HttpResult

# What a flow keeps of a response body (characters), and the largest body it reads to keep it.
MAX_BODY = 64 * 1024
MAX_RESPONSE_BYTES = 1024 * 1024


@dataclass
class HttpActivities:
    db: Database
    # Signs integration webhooks (X-Twilio-Signature), as Twilio signs with the auth token.
    auth_token: str
    outbound: OutboundClient

    @activity.defn(name="http_call")
    async def http_call(self, call: HttpCall) -> HttpResult:
        """Never raises for an HTTP or network failure: the flow takes its failure transition."""
        kwargs: dict[str, Any] = {}
        if call.method == "GET":
            kwargs["params"] = call.form
        elif call.body is not None:
            kwargs["content"] = call.body.encode()
            kwargs["headers"] = {"Content-Type": call.content_type}
        else:
            kwargs["data"] = call.form
        try:
            response = await self.outbound.request(
                call.method, call.url, timeout_seconds=call.timeout_seconds, max_bytes=MAX_RESPONSE_BYTES, **kwargs
            )
        except httpx.HTTPError as exc:
            return HttpResult(0, "", "", error=f"{exc.__class__.__name__}: {exc}")
        body = response.text[:MAX_BODY]
        content_type = response.headers.get("content-type", "")
        parsed: Any = None
        if "json" in content_type:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        return HttpResult(response.status_code, content_type, body, parsed)

    @activity.defn(name="post_chat_webhook")
    async def post_chat_webhook(self, webhook: ChatWebhook) -> None:
        """Raises for a refused URL too: retried as any failure (the retries are few), so the
        recorded failure counts its attempts."""
        form = {**webhook.form, "RetryCount": str(activity.info().attempt - 1)}
        signature = RequestValidator(self.auth_token).compute_signature(webhook.url, form)
        try:
            response = await self.outbound.request(
                "POST", webhook.url, data=form, headers={"X-Twilio-Signature": signature}, timeout_seconds=10
            )
        except httpx.HTTPError as exc:
            raise ApplicationError(f"{webhook.url}: {exc.__class__.__name__}: {exc}") from exc
        if not response.is_success:
            raise ApplicationError(f"{webhook.url} answered HTTP {response.status_code}")

    @activity.defn(name="record_webhook_failure")
    @finish_even_if_cancelled
    async def record_webhook_failure(self, failure: WebhookFailure) -> None:
        webhook = failure.webhook
        async with self.db.write_session() as session:
            session.add(
                IntegrationFailure(
                    flex_flow_sid=webhook.flex_flow_sid,
                    channel_sid=webhook.channel_sid,
                    message_sid=webhook.message_sid,
                    url=webhook.url,
                    attempts=failure.attempts,
                    error=failure.error[:1000],
                )
            )
            await session.commit()

    def all(self) -> list[Callable[..., Any]]:
        return [self.http_call, self.post_chat_webhook, self.record_webhook_failure]
