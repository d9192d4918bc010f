"""Nothing readable at rest: a marker written as message bodies, attributes, task attributes,
pre-engagement fields, names and customer addresses through every channel type (SMS and WhatsApp
through Twilio's webhook, WhatsApp Cloud and Messenger through Meta's, a custom channel's webhook,
a web chat session and its socket, the REST API) is found, in no encoding, in the raw bytes of the
store's database, the Temporal server's database, or the logs. Workflow ids, search attributes and
memos carry none of it either."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import secrets
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from api.webhooks.custom import signature_for
from switchboard.devstack import DevServer, start_dev_server, wait_until_ready
from switchboard.fake_provider import FakeMeta, meta_webhook
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.sockets import as_customer, command, event, frame, open_session
from tests.helpers.stack import Stack, eventually, free_port, new_phone, test_settings

APP_SECRET = secrets.token_hex(16)
CUSTOM_SECRET = secrets.token_hex(16)
PHONE_NUMBER_ID = "1065403522" + str(secrets.randbelow(10**5)).zfill(5)
# Loggers of this test's own clients (they log what they send, tokens included), not Switchboard's.
TEST_CLIENTS = ("twilio.http_client", "websockets.client", "urllib3")
PAGE_ID = "5550" + str(secrets.randbelow(10**8)).zfill(8)


def encodings(needle: str) -> Iterator[bytes]:
    """``needle`` as stored plainly, in hex, and in base64 at each of the three alignments it can
    have inside a longer encoded value (the characters its neighbours affect left out)."""
    raw = needle.encode()
    yield raw
    yield raw.hex().encode()
    yield raw.hex().upper().encode()
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * shift + raw)
            # Skip what the padding bytes influence at the start and the partial group at the end.
            start = (shift * 4 + 2) // 3
            end = len(encoded) - 4
            yield encoded[start:end]


@pytest.fixture(scope="module")
def temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevServer, Path]]:
    """A Temporal dev server of this module's own, so its database file holds this test's data."""
    data = tmp_path_factory.mktemp("sealed-temporal")
    server = start_dev_server(data / "temporal.db", port=free_port(), ui_port=None, log_file=data / "temporal.log")
    try:
        asyncio.run(wait_until_ready(server))
        yield server, data
    finally:
        server.stop()


def meta_post(stack: Stack, payload: dict[str, Any]) -> None:
    body, headers = meta_webhook(APP_SECRET, payload)
    assert httpx.post(f"{stack.url}/webhooks/meta", content=body, headers=headers).status_code == 200


def custom_post(stack: Stack, flow_sid: str, message: dict[str, Any]) -> None:
    raw = json.dumps(message).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Switchboard-Timestamp": timestamp,
        "X-Switchboard-Signature": signature_for(CUSTOM_SECRET, timestamp, raw),
    }
    assert httpx.post(f"{stack.url}/webhooks/custom/{flow_sid}", content=raw, headers=headers).status_code == 204


def write_everywhere(stack: Stack, marker: str) -> list[str]:
    """The marker through every channel type; answers the customer addresses used."""
    defaults = plan_flex_defaults(stack.settings).defaults
    service = defaults.chat_service_sid
    sms_customer, whatsapp_customer, cloud_customer = new_phone(), new_phone(), new_phone().lstrip("+")
    messenger_customer = "2400" + str(secrets.randbelow(10**8)).zfill(8)
    custom_customer = f"visitor-{marker}"
    studio = {"IntegrationType": "studio", "Integration.FlowSid": defaults.studio_flow_sid}
    taskrouter = stack.twilio().taskrouter.v1.workspaces(defaults.workspace_sid)
    # An agent on duty: offers carry task attributes (names, addresses) into the agent's feed.
    agent = taskrouter.workers.create(
        friendly_name=f"agent-{uuid.uuid4().hex[:6]}", attributes=json.dumps({"contact_uri": "client:grace"})
    )
    taskrouter.workers(agent.sid).update(activity_sid=defaults.available_activity_sid)
    with stack.http() as http:
        sms = stack.create_flex_flow(http, service, **studio)
        whatsapp_number = new_phone()
        stack.create_flex_flow(
            http, service, ChannelType="whatsapp", ContactIdentity=f"whatsapp:{whatsapp_number}", **studio
        )
        stack.create_flex_flow(
            http, service, ChannelType="whatsapp", ContactIdentity=f"whatsapp:{PHONE_NUMBER_ID}", **studio
        )
        stack.create_flex_flow(http, service, ChannelType="facebook", ContactIdentity=f"messenger:{PAGE_ID}", **studio)
        custom = stack.create_flex_flow(
            http, service, ChannelType="custom", ContactIdentity=f"kiosk-{uuid.uuid4().hex[:6]}"
        )

        # SMS and WhatsApp through Twilio's webhook.
        params = stack.sms_params(sms["contact_identity"], sms_customer, f"sms {marker}")
        assert stack.post_webhook(http, params).status_code == 200
        params = stack.sms_params(f"whatsapp:{whatsapp_number}", f"whatsapp:{whatsapp_customer}", f"wa {marker}")
        params["ProfileName"] = f"name {marker}"
        assert stack.post_webhook(http, params).status_code == 200

        # WhatsApp Cloud and Messenger through Meta's webhook.
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": f"cloud {marker}"}, "wa_id": cloud_customer}],
            "messages": [
                {
                    "from": cloud_customer,
                    "id": "wamid." + secrets.token_hex(8),
                    "timestamp": "1764000000",
                    "type": "text",
                    "text": {"body": f"cloud {marker}"},
                }
            ],
        }
        meta_post(
            stack,
            {
                "object": "whatsapp_business_account",
                "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
            },
        )
        messaging = {
            "sender": {"id": messenger_customer},
            "recipient": {"id": PAGE_ID},
            "timestamp": 1764000000000,
            "message": {"mid": "m_" + secrets.token_hex(8), "text": f"messenger {marker}"},
        }
        meta_post(
            stack, {"object": "page", "entry": [{"id": PAGE_ID, "time": 1764000000000, "messaging": [messaging]}]}
        )

        # A custom channel's webhook.
        custom_post(
            stack,
            custom["sid"],
            {"id": "c-1", "from": custom_customer, "body": f"custom {marker}", "attributes": {"note": marker}},
        )

        # The REST API: a channel with attributes, a member, a message with attributes.
        rest_service = stack.create_service(http)
        rest = http.post(
            f"/v2/Services/{rest_service}/Channels",
            data={"FriendlyName": f"name {marker}", "Attributes": json.dumps({"note": marker})},
        ).json()["sid"]
        url = f"/v2/Services/{rest_service}/Channels/{rest}/Messages"
        posted = http.post(url, data={"Body": f"rest {marker}", "Attributes": json.dumps({"x": marker})})
        assert posted.status_code == 201, posted.text
        member = http.post(f"/v2/Services/{rest_service}/Channels/{rest}/Members", data={"Identity": sms_customer})
        assert member.status_code == 201

        # A task with the marker in its attributes, through TaskRouter's API.
        task = taskrouter.tasks.create(
            workflow_sid=defaults.workflow_sid, attributes=json.dumps({"note": marker, "from": sms_customer})
        )
        assert task.sid

    # A web chat: pre-engagement fields and a name, then a message over the customer's socket.
    session = open_session(stack, f"web {marker}", email=f"{marker}@example.com", question=f"question {marker}")

    async def chat() -> None:
        async with as_customer(stack, session["token"]) as ws:
            await frame(ws, lambda f: f["type"] == "ready")
            sent = await command(ws, "c1", "send_message", body=f"web {marker}", key="k-1")
            await frame(ws, event("message", sid=sent["sid"]))

    asyncio.run(chat())

    with stack.http() as http:

        def everything_stored() -> None:
            texts = []
            for sid in (service, rest_service):
                for channel in http.get(f"/v2/Services/{sid}/Channels", params={"PageSize": 1000}).json()["channels"]:
                    page = http.get(f"/v2/Services/{sid}/Channels/{channel['sid']}/Messages").json()
                    texts += [m["body"] for m in page["messages"]]
            for what in ("sms", "wa", "cloud", "messenger", "custom", "rest", "web"):
                assert f"{what} {marker}" in texts, (what, texts)

        eventually(everything_stored, timeout=60)
        tasks = [json.loads(t.attributes) for t in taskrouter.tasks.list()]
        # ...readable through the API: the marker really went in.
        assert any(t.get("note") == marker for t in tasks)
        assert any(marker in json.dumps(t) for t in tasks if t.get("channelType") == "web"), tasks

        def offered() -> None:
            assert taskrouter.workers(agent.sid).reservations.list()

        eventually(offered)
    return [sms_customer, whatsapp_customer, cloud_customer, messenger_customer, custom_customer, session["identity"]]


def temporal_metadata(stack: Stack) -> str:
    """Workflow ids, search attributes, memos and summaries of every workflow, as text."""

    async def collect(client: Client) -> str:
        seen = []
        async for execution in client.list_workflows():
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            described = await handle.describe()
            seen.append(
                repr(
                    (
                        execution.id,
                        execution.typed_search_attributes,
                        await execution.memo(),
                        await described.static_summary(),
                        await described.static_details(),
                    )
                )
            )
        return "\n".join(seen)

    return stack.call(collect)


def test_a_marker_written_everywhere_is_found_nowhere(
    temporal: tuple[DevServer, Path],
    fake_meta: FakeMeta,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    server, temporal_dir = temporal
    caplog.set_level(logging.INFO)  # what the deployed processes log at
    marker = f"mk{uuid.uuid4().hex}"
    stack = Stack(
        test_settings(
            tmp_path,
            temporal_address=server.address,
            custom_webhook_secret=CUSTOM_SECRET,
            meta_access_token=fake_meta.access_token,
            meta_app_secret=APP_SECRET,
            meta_verify_token=secrets.token_hex(8),
            meta_graph_url=fake_meta.url,
        )
    ).start()
    try:
        addresses = write_everywhere(stack, marker)
        metadata = temporal_metadata(stack)
    finally:
        stack.stop()
    server.stop()  # everything it holds is on disk

    assert "ChannelType" in metadata  # the listing is real
    for needle in (marker, *addresses):
        assert needle not in metadata, needle

    # Contacts are found by a keyed hash of their address; the address itself is sealed.
    with sqlite3.connect(tmp_path / "switchboard.db") as db:
        contacts = db.execute("SELECT address_hash, address_enc FROM contact").fetchall()
        members = db.execute("SELECT identity_hash, identity_enc FROM member").fetchall()
    assert len(contacts) >= 6, contacts  # SMS, WhatsApp twice, Messenger, custom, web
    for digest, sealed in [*contacts, *members]:
        assert re.fullmatch(r"[0-9a-f]{64}", digest) and sealed.startswith("k1$"), (digest, sealed)

    store_files = sorted(tmp_path.glob("switchboard.db*"))
    temporal_files = sorted(temporal_dir.glob("temporal.db*"))
    assert store_files and temporal_files, "the database files are where the settings say"
    logs = "\n".join(
        f"{record.name} {record.getMessage()}" for record in caplog.records if not record.name.startswith(TEST_CLIENTS)
    )
    captured = capfd.readouterr()
    places = {
        **{path.name: path.read_bytes() for path in (*store_files, *temporal_files)},
        "temporal.log": (temporal_dir / "temporal.log").read_bytes(),
        "application logs": logs.encode(),
        "stdout and stderr": (captured.out + captured.err).encode(),
    }
    assert caplog.records, "logs were captured"
    # Bare phone numbers too (addresses are stored as "+1555...": a scan for the digits is stricter).
    needles = [marker, *addresses, *(a.lstrip("+") for a in addresses if a.startswith("+"))]
    for place, content in places.items():
        for needle in needles:
            for form in encodings(needle):
                assert form not in content, f"{needle!r} found in {place} as {form!r}"
