"""Temporal payload encryption: the codec itself, what lands in Temporal (read back with a client
that has no key), and the codec endpoint the Temporal UI calls (who gets plaintext, CORS)."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from api.tokens import Grants, mint_token
from switchboard.store.crypto import Cipher
from switchboard.store.payload_codec import ENCODING, KEY_ID, EncryptionCodec, PayloadDecryptionError, data_converter
from tests.helpers.stack import Stack, StackFactory, eventually, new_phone, test_settings

UI_ORIGIN = "http://127.0.0.1:18233"


def key(key_id: str) -> str:
    return f"{key_id}:" + base64.b64encode(secrets.token_bytes(32)).decode()


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


# --- the codec ----------------------------------------------------------------------------------


async def test_payloads_are_sealed_under_the_current_key_and_every_key_of_the_ring_opens_them() -> None:
    first = key("c1")
    before = EncryptionCodec(Cipher.from_setting(first))
    [sealed] = await before.encode([plain("secret body")])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"c1"
    assert b"secret body" not in sealed.SerializeToString()

    after = EncryptionCodec(Cipher.from_setting(f"{first},{key('c2')}"))
    [newer] = await after.encode([plain("newer")])
    assert newer.metadata[KEY_ID] == b"c2"
    # Rotation leaves what the old key sealed readable (running channels keep their history).
    assert await after.decode([sealed, newer]) == [plain("secret body"), plain("newer")]
    # Payloads written before encryption was on pass through.
    assert await after.decode([plain("old")]) == [plain("old")]
    with pytest.raises(PayloadDecryptionError):
        await before.decode([newer])  # a key it does not have
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(PayloadDecryptionError):
        await before.decode([tampered])


# --- what Temporal holds ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(make_stack: StackFactory) -> Stack:
    return make_stack(temporal_ui_origin=UI_ORIGIN)


def history_json(stack: Stack, workflow_id: str) -> dict[str, Any]:
    """The workflow's history as the Temporal server hands it out, read without any key."""

    async def fetch(_: Client) -> str:
        keyless = await Client.connect(stack.settings.temporal_address)
        history = await keyless.get_workflow_handle(workflow_id).fetch_history()
        return history.to_json()

    result: dict[str, Any] = json.loads(stack.call(fetch))
    return result


def encrypted_payloads(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        metadata = node.get("metadata")
        if isinstance(metadata, dict) and "data" in node and "encoding" in metadata:
            found.append(node)
        for value in node.values():
            found += encrypted_payloads(value)
    elif isinstance(node, list):
        for value in node:
            found += encrypted_payloads(value)
    return found


def post_sms(stack: Stack, http: httpx.Client, body: str) -> str:
    """A customer's SMS; answers the channel's SID (its workflow id)."""
    service = stack.create_service(http)
    flow = stack.create_flex_flow(http, service)
    assert stack.post_webhook(http, stack.sms_params(flow["contact_identity"], new_phone(), body)).status_code == 200

    def channel() -> str:
        [found] = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
        assert found["messages_count"] == 1
        return str(found["sid"])

    return eventually(channel)


def test_temporal_holds_ciphertext_that_the_codec_endpoint_opens_for_operators(stack: Stack) -> None:
    marker = f"codec-{uuid.uuid4().hex}"
    with stack.http() as http:
        channel = post_sms(stack, http, f"hello {marker}")
    history = history_json(stack, channel)
    assert marker not in json.dumps(history)
    payloads = encrypted_payloads(history)
    started = history["events"][0]["workflowExecutionStartedEventAttributes"]
    signaled = next(e for e in history["events"] if "workflowExecutionSignaledEventAttributes" in e)
    for sealed in (
        *started["input"]["payloads"],
        *signaled["workflowExecutionSignaledEventAttributes"]["input"]["payloads"],
    ):
        assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
    # Left plain: search attributes (indexed by Temporal: SIDs and channel types) and the SDK's
    # own local activity markers (sequence numbers and activity names; results are sealed).
    for open_payload in (p for p in payloads if base64.b64decode(p["metadata"]["encoding"]) != ENCODING):
        data = json.loads(base64.b64decode(open_payload["data"]))
        assert "type" in open_payload["metadata"] or set(data) >= {"activity_id", "activity_type"}, open_payload
    # The UI sends them as they come, and an operator gets them back readable.
    with stack.http() as http:
        decoded = http.post("/codec/decode", json={"payloads": payloads}, headers={"X-Namespace": "default"})
    assert decoded.status_code == 200, decoded.text
    texts = [base64.b64decode(p.get("data", "")).decode() for p in decoded.json()["payloads"]]
    assert any(marker in text for text in texts)
    assert all(base64.b64decode(p["metadata"]["encoding"]) != ENCODING for p in decoded.json()["payloads"])


def test_failure_messages_are_encoded(stack: Stack) -> None:
    """A failure's message and stack trace travel as an encoded payload, "Encoded failure" in clear."""

    async def fail(client: Client) -> None:
        from temporalio.api.failure.v1 import Failure

        converter = client.data_converter
        failure = Failure()
        await converter.encode_failure(RuntimeError("secret failure text"), failure)
        assert failure.message == "Encoded failure"
        assert failure.HasField("encoded_attributes")
        assert failure.encoded_attributes.metadata["encoding"] == ENCODING
        assert b"secret failure text" not in failure.SerializeToString()
        decoded = await converter.decode_failure(failure)
        assert "secret failure text" in str(decoded)

    stack.call(fail)


def codec_call(stack: Stack, path: str = "/codec/decode", **kwargs: Any) -> httpx.Response:
    body = {"payloads": [json_format.MessageToDict(plain("x"))]}
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        return http.post(path, json=body, **kwargs)


def test_only_operators_get_plaintext(stack: Stack) -> None:
    settings = stack.settings
    agent, _ = mint_token(settings, "alice", Grants(role="agent"))
    supervisor, _ = mint_token(settings, "sam", Grants(role="supervisor"))
    customer, _ = mint_token(settings, "cust", Grants(role="customer", channel_sid="CH" + "0" * 32))
    admin, _ = mint_token(settings, "ops", Grants(role="admin"))
    assert codec_call(stack).status_code == 401
    assert codec_call(stack, auth=(settings.account_sid, "wrong")).status_code == 401
    assert codec_call(stack, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    for token in (agent, supervisor, customer):
        assert codec_call(stack, headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert codec_call(stack, headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    assert codec_call(stack, auth=(settings.account_sid, settings.auth_token)).status_code == 200
    # The CLI's --codec-endpoint http://.../codec/{namespace} form.
    assert (
        codec_call(stack, "/codec/default/decode", auth=(settings.account_sid, settings.auth_token)).status_code == 200
    )
    # Encoding is for operators too (the UI encodes what an operator signals).
    assert codec_call(stack, "/codec/encode").status_code == 401


def test_a_browser_signs_in_once_and_its_cookie_opens_the_codec(stack: Stack) -> None:
    settings = stack.settings
    with httpx.Client(base_url=stack.url, timeout=30) as browser:
        refused = browser.get("/codec/sign-in")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic")
        signed_in = browser.get("/codec/sign-in", auth=(settings.account_sid, settings.auth_token))
        assert signed_in.status_code == 200
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie and "Path=/codec" in cookie and "SameSite=strict" in cookie
        body = {"payloads": [json_format.MessageToDict(plain("x"))]}
        # The cookie jar now holds it: no Authorization header needed.
        assert browser.post("/codec/decode", json=body).status_code == 200
        # A forged or foreign cookie is refused; an access token is not a codec cookie.
        admin, _ = mint_token(settings, "ops", Grants(role="admin"))
        for value in ("forged", admin):
            browser.cookies.clear()
            browser.cookies.set("switchboard_codec", value)
            assert browser.post("/codec/decode", json=body).status_code == 401


def test_cors_admits_the_temporal_ui_with_credentials_and_no_other_origin(stack: Stack) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace"}
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        allowed = http.options("/codec/decode", headers={"Origin": UI_ORIGIN, **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == UI_ORIGIN
        assert allowed.headers["access-control-allow-credentials"] == "true"
        refused = http.options("/codec/decode", headers={"Origin": "http://evil.example", **preflight})
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        # The actual call from the UI carries the origin's CORS answer too.
        answer = http.post(
            "/codec/decode",
            json={"payloads": []},
            headers={"Origin": UI_ORIGIN},
            auth=(stack.settings.account_sid, stack.settings.auth_token),
        )
        assert answer.status_code == 200 and answer.json() == {"payloads": []}
        assert answer.headers["access-control-allow-origin"] == UI_ORIGIN
        # Bad bodies are the protocol's 400.
        operator = (stack.settings.account_sid, stack.settings.auth_token)
        foreign = Payload(metadata={"encoding": ENCODING, KEY_ID: b"zz"}, data=b"\0" * 40)  # a key we lack
        foreign_body = json.dumps({"payloads": [json_format.MessageToDict(foreign)]}).encode()
        for body in (b"{", b"[]", b"{}", b'{"payloads": [{"data": "not base64!"}]}', foreign_body):
            bad = http.post("/codec/decode", content=body, auth=operator)
            assert bad.status_code == 400, (body, bad.text)


async def test_the_data_converter_of_every_client_encrypts(tmp_path: Path) -> None:
    settings = test_settings(tmp_path)
    converter = data_converter(settings)
    [payload] = await converter.encode(["hello"])
    assert payload.metadata["encoding"] == ENCODING
    assert await converter.decode([payload]) == ["hello"]
