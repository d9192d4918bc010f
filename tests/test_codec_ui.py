"""The Temporal UI as operators use it, in Chromium: ``switchboard dev``'s UI shows a channel's
input and signals decrypted to a browser that signed in at the printed address, with no setting
changed; a UI on an origin of its own (a dev server started with ``--ui-codec-endpoint``) does once
its "include cross-origin credentials" is on. Anyone else sees ciphertext. The Temporal CLI decodes
with the account's credentials."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from switchboard.devstack import DevServer, start_dev_server, temporal_binary, wait_until_ready
from tests.helpers.cli import switchboard_dev
from tests.helpers.stack import ARTIFACTS, Stack, eventually, free_port, new_phone, test_settings

# The UI's own codec settings (its "Codec Server" dialog keeps them in the browser's storage).
OPERATOR_CODEC_SETTINGS = """endpoint => {
    localStorage.setItem('endpoint', JSON.stringify(endpoint));
    localStorage.setItem('includeCredentials', JSON.stringify(true));
    localStorage.setItem('overrideRemoteCodecConfiguration', JSON.stringify(true));
}"""


@pytest.fixture(scope="module")
def ui_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, DevServer]]:
    data = tmp_path_factory.mktemp("codec-ui")
    settings = test_settings(data)
    api_url = f"http://127.0.0.1:{settings.api_port}"
    ui_port = free_port()
    server = start_dev_server(
        data / "temporal.db",
        port=free_port(),
        ui_port=ui_port,
        log_file=data / "temporal.log",
        codec_endpoint=f"{api_url}/codec",
    )
    try:
        asyncio.run(wait_until_ready(server))
        assert server.ui_url is not None
        stack = Stack(
            settings.model_copy(update={"temporal_address": server.address, "temporal_ui_origin": server.ui_url})
        ).start()
        try:
            yield stack, server
        finally:
            stack.stop()
    finally:
        server.stop()


def a_channel(stack: Stack, customer: str) -> str:
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service)
        assert (
            stack.post_webhook(http, stack.sms_params(flow["contact_identity"], customer, "hello")).status_code == 200
        )

        def channel() -> str:
            [found] = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
            assert found["messages_count"] == 1
            return str(found["sid"])

        return eventually(channel)


def open_workflow(page: Page, ui_url: str, workflow_id: str) -> int:
    """Opens the workflow's page; answers the status of the UI's first codec call."""
    with page.expect_response(lambda response: "/codec/decode" in response.url, timeout=30_000) as called:
        page.goto(f"{ui_url}/namespaces/default/workflows/{workflow_id}")
    return called.value.status


def test_operators_see_plaintext_and_everyone_else_ciphertext(
    ui_stack: tuple[Stack, DevServer], browser: Browser
) -> None:
    stack, server = ui_stack
    assert server.ui_url is not None
    customer = new_phone()
    channel = a_channel(stack, customer)
    ARTIFACTS.mkdir(exist_ok=True)

    settings = stack.settings
    operator = browser.new_context(http_credentials={"username": settings.account_sid, "password": settings.auth_token})
    try:
        page = operator.new_page()
        answer = page.goto(f"{stack.url}/codec/sign-in")  # the browser answers the Basic challenge
        assert answer is not None and "Signed in" in answer.text()
        page.goto(server.ui_url)
        page.evaluate(OPERATOR_CODEC_SETTINGS, f"{stack.url}/codec")
        assert open_workflow(page, server.ui_url, channel) == 200
        # The decrypted input names the customer.
        expect(page.locator("body")).to_contain_text(customer, timeout=20_000)
        page.screenshot(path=str(ARTIFACTS / "codec-ui-operator.png"))
    finally:
        operator.close()

    anyone = browser.new_context()
    try:
        page = anyone.new_page()
        assert open_workflow(page, server.ui_url, channel) == 401
        expect(page.locator("body")).to_contain_text("Codec Server could not connect", timeout=20_000)
        page.screenshot(path=str(ARTIFACTS / "codec-ui-anyone.png"))
        assert customer not in page.content()
    finally:
        anyone.close()


def test_the_dev_server_is_told_the_codec_endpoint(ui_stack: tuple[Stack, DevServer]) -> None:
    stack, server = ui_stack
    ui_settings = httpx.get(f"{server.ui_url}/api/v1/settings").json()
    assert ui_settings["Codec"]["Endpoint"] == f"{stack.url}/codec"


def test_the_temporal_cli_decodes_with_the_accounts_credentials(ui_stack: tuple[Stack, DevServer]) -> None:
    stack, server = ui_stack
    customer = new_phone()
    channel = a_channel(stack, customer)
    credentials = base64.b64encode(f"{stack.settings.account_sid}:{stack.settings.auth_token}".encode()).decode()

    def show(*codec: str) -> subprocess.CompletedProcess[str]:
        command = [temporal_binary(), "workflow", "show", "--address", server.address, "--workflow-id", channel]
        return subprocess.run([*command, "--output", "json", *codec], capture_output=True, text=True, timeout=60)

    endpoint = f"{stack.url}/codec"
    decoded = show("--codec-endpoint", endpoint, "--codec-auth", f"Basic {credentials}")
    assert decoded.returncode == 0, decoded.stderr
    [started] = [e for e in json.loads(decoded.stdout)["events"] if "workflowExecutionStartedEventAttributes" in e]
    [payload] = started["workflowExecutionStartedEventAttributes"]["input"]["payloads"]
    assert customer in base64.b64decode(payload["data"]).decode()
    sealed = show()
    encrypted = base64.b64encode(b"binary/encrypted").decode()
    assert encrypted in sealed.stdout and encrypted not in decoded.stdout
    # Without credentials the codec refuses, and nothing comes out decrypted.
    refused = show("--codec-endpoint", endpoint)
    assert refused.returncode != 0 or encrypted in refused.stdout, refused.stdout[:500]


def test_the_dev_commands_ui_decodes_after_the_printed_sign_in_with_no_setting_changed(
    tmp_path: Path, browser: Browser
) -> None:
    """The first way Switchboard is used: ``./scripts/dev``, sign in once where it says, open the
    printed Temporal UI, and read a channel's input and signals."""
    customer = new_phone()
    with switchboard_dev(tmp_path / "data", "--fake-providers") as dev:
        ui_url = dev.url_after("Temporal UI")
        sign_in = re.search(r"(http://\S+/codec/sign-in)", dev.line("Temporal UI"))
        assert sign_in is not None, dev.line("Temporal UI")
        fake_twilio = dev.url_after("Fake Twilio")
        for words in ("first words", "second words"):
            texted = httpx.post(f"{fake_twilio}/customer/sms", data={"From": customer, "Body": words})
            assert texted.status_code == 200, texted.text

        def channel() -> str:
            [service] = dev.get("/v2/Services")["services"]
            [found] = dev.get(f"/v2/Services/{service['sid']}/Channels")["channels"]
            assert found["messages_count"] == 2
            return str(found["sid"])

        channel_sid = eventually(channel)
        ARTIFACTS.mkdir(exist_ok=True)

        account_sid, auth_token = dev.auth
        operator = browser.new_context(http_credentials={"username": account_sid, "password": auth_token})
        try:
            page = operator.new_page()
            answer = page.goto(sign_in.group(1))  # the browser answers the Basic challenge
            assert answer is not None and answer.status == 200, answer and answer.text()
            page.goto(ui_url)
            page.get_by_role("link", name=channel_sid).first.click()
            body = page.locator("body")
            # The input names the customer; the signals carry the customer's words.
            expect(body).to_contain_text(customer, timeout=30_000)
            page.get_by_text("Event History").first.click()
            signals = page.get_by_text("Workflow Execution Signaled")
            expect(signals).to_have_count(2, timeout=30_000)
            for signal in reversed(signals.all()):  # the older one (below) first: nothing above it moves
                signal.click()
            expect(body).to_contain_text("first words", timeout=30_000)
            expect(body).to_contain_text("second words", timeout=30_000)
            expect(body).not_to_contain_text("Codec Server could not connect")
            page.screenshot(path=str(ARTIFACTS / "codec-ui-dev-operator.png"), full_page=True)
        finally:
            operator.close()

        anyone = browser.new_context()
        try:
            page = anyone.new_page()
            assert open_workflow(page, ui_url, channel_sid) == 401
            expect(page.locator("body")).to_contain_text("Codec Server could not connect", timeout=20_000)
            page.screenshot(path=str(ARTIFACTS / "codec-ui-dev-anyone.png"))
            assert customer not in page.content() and "second words" not in page.content()
        finally:
            anyone.close()
