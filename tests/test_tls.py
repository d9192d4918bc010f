"""HTTPS and secure WebSockets: the API started with a self-signed certificate made here answers
REST over https (resource URLs in https, HSTS pinned), a customer's wss socket, and in a real
browser the desk and the widget connect over wss because their pages came over https."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playwright.sync_api import Browser, BrowserContext, Page, expect
from websockets.asyncio.client import connect

from tests.helpers.browser import SEEN, desk_sign_in, said, widget_start
from tests.helpers.flows import web_flow
from tests.helpers.sockets import CUSTOMER_PROTOCOL, command, frame
from tests.helpers.stack import Stack, StackFactory


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid for a day, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "switchboard test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def secure_stack(make_stack: StackFactory, certificate: tuple[Path, Path]) -> Stack:
    cert_file, key_file = certificate
    return make_stack(
        tls_cert_file=str(cert_file),
        tls_key_file=str(key_file),
        desk_dev_sign_in=True,
        channel_inactivity_seconds=600.0,
    )


@pytest.fixture(scope="module")
def secure(make_stack: StackFactory, certificate: tuple[Path, Path]) -> Stack:
    return secure_stack(make_stack, certificate)


@pytest.fixture(scope="module")
def secure_web(make_stack: StackFactory, certificate: tuple[Path, Path]) -> Stack:
    """Its own stack, so that no other test's customer waits for the agent first."""
    return secure_stack(make_stack, certificate)


def trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def test_rest_and_a_socket_over_tls(secure: Stack, certificate: tuple[Path, Path]) -> None:
    context = trusting(certificate)
    assert secure.url.startswith("https://") and secure.settings.base_url.startswith("https://")
    with httpx.Client(base_url=secure.url, verify=context, timeout=60) as http:
        session = http.post("/v1/Webchat/Sessions", json={"flex_flow_sid": web_flow(secure)})
        assert session.status_code == 201, session.text
        assert session.headers["Strict-Transport-Security"].startswith("max-age=")
        channel = http.post(
            "/v1/WebChannels",
            auth=(secure.settings.account_sid, secure.settings.auth_token),
            data={
                "FlexFlowSid": web_flow(secure),
                "Identity": "tls-1",
                "CustomerFriendlyName": "T",
                "ChatFriendlyName": "T",
            },
        )
        assert channel.status_code == 201 and channel.json()["url"].startswith(f"{secure.url}/v1/WebChannels/CH")
    # Nothing is served in the clear on the same port.
    with pytest.raises(httpx.HTTPError), httpx.Client(base_url=secure.url.replace("https:", "http:")) as plain:
        plain.get("/healthz")
    token = session.json()["token"]

    async def scenario() -> None:
        url = secure.url.replace("https://", "wss://") + "/v1/customer/ws"
        subprotocols = [CUSTOMER_PROTOCOL, f"access_token.{token}"]
        async with connect(url, ssl=context, subprotocols=subprotocols) as ws:  # type: ignore[arg-type]
            ready = await frame(ws, lambda f: f["type"] == "ready")
            assert ready["channel"]["sid"] == session.json()["channel_sid"]
            sent = await command(ws, "c1", "send_message", body="sent over wss")
            assert sent["index"] >= 0
            echoed = await frame(ws, lambda f: f.get("event") == "message" and f["data"]["sid"] == sent["sid"])
            assert json.dumps(echoed["data"]["body"]) == '"sent over wss"'

    asyncio.run(scenario())


def secure_page(browser: Browser) -> tuple[BrowserContext, Page]:
    # The test's certificate is not in Chromium's store: its errors are ignored, TLS still used.
    context = browser.new_context(viewport={"width": 1200, "height": 800}, ignore_https_errors=True)
    return context, context.new_page()


def test_the_desk_and_the_widget_use_wss_on_https_pages(secure_web: Stack, browser: Browser) -> None:
    secure = secure_web
    desk_context, desk = secure_page(browser)
    chat_context, chat = secure_page(browser)
    sockets: list[str] = []
    for page in (desk, chat):
        page.on("websocket", lambda ws: sockets.append(ws.url))
    try:
        desk_sign_in(desk, secure, "tess")
        widget_start(chat, secure, "Uma", "Is this line encrypted?")
        expect(said(chat, "webchat").first).to_have_text("Is this line encrypted?", timeout=SEEN)
        offer = desk.get_by_test_id("desk-reservation")
        expect(offer).to_have_count(1, timeout=SEEN)
        offer.get_by_test_id("reservation-accept").click()
        desk.get_by_test_id("desk-input").fill("It is.")
        desk.get_by_test_id("desk-send").click()
        expect(said(chat, "webchat").last).to_have_text("It is.", timeout=SEEN)
        host = secure.url.removeprefix("https://")
        assert f"wss://{host}/v1/agent/ws" in [u.split("?")[0] for u in sockets]
        assert f"wss://{host}/v1/customer/ws" in [u.split("?")[0] for u in sockets]
        assert all(u.startswith("wss://") for u in sockets), sockets
    finally:
        desk_context.close()
        chat_context.close()
