"""Flex v1 FlexFlows through the official client, and validation per integration type."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.helpers.stack import Stack, new_phone

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends

FW = "FW" + "a" * 32
WS = "WS" + "b" * 32
WW = "WW" + "c" * 32


def test_every_integration_type_round_trips_through_the_twilio_client(stack: Stack) -> None:
    client = stack.twilio()
    service = client.chat.v2.services.create(friendly_name="flex").sid
    flows = client.flex_api.v1.flex_flow

    studio = flows.create(
        friendly_name="studio sms",
        chat_service_sid=service,
        channel_type="sms",
        contact_identity=new_phone(),
        integration_type="studio",
        integration_flow_sid=FW,
    )
    assert studio.sid.startswith("FO") and studio.enabled is True
    assert studio.integration == {"flow_sid": FW, "retry_count": 3}
    assert studio.long_lived is False and studio.janitor_enabled is False

    external = flows.create(
        friendly_name="external",
        chat_service_sid=service,
        channel_type="web",
        integration_type="external",
        integration_url="https://hooks.example.com/in",
        integration_retry_count=1,
        long_lived=True,
    )
    assert external.integration == {"url": "https://hooks.example.com/in", "retry_count": 1}
    assert external.long_lived is True

    task = flows.create(
        friendly_name="task",
        chat_service_sid=service,
        channel_type="whatsapp",
        contact_identity=f"whatsapp:{new_phone()}",
        integration_type="task",
        integration_workspace_sid=WS,
        integration_workflow_sid=WW,
        integration_channel="chat",
        integration_priority=5,
        integration_creation_on_message=True,
    )
    assert task.integration == {
        "timeout": 86400,
        "priority": 5,
        "workspace_sid": WS,
        "workflow_sid": WW,
        "channel": "chat",
        "creation_on_message": True,
    }

    updated = flows(task.sid).update(integration_timeout=600, enabled=False, friendly_name="task, paused")
    assert updated.integration["timeout"] == 600 and updated.enabled is False
    assert flows(task.sid).fetch().friendly_name == "task, paused"
    assert {studio.sid, external.sid, task.sid} <= {f.sid for f in flows.list()}
    assert [f.sid for f in flows.list(friendly_name="external")] == [external.sid]

    assert flows(external.sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        flows(external.sid).fetch()
    assert gone.value.status == 404


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"ChannelType": "pigeon"}, "ChannelType"),
        ({"IntegrationType": "studio"}, "Integration.FlowSid"),
        ({"IntegrationType": "studio", "Integration.FlowSid": "not-a-sid"}, "Integration.FlowSid"),
        ({"IntegrationType": "external"}, "Integration.Url"),
        ({"IntegrationType": "external", "Integration.Url": "ftp://x"}, "Integration.Url"),
        ({"IntegrationType": "task", "Integration.WorkspaceSid": WS}, "Integration.WorkflowSid"),
        ({"IntegrationType": "studio", "Integration.FlowSid": FW, "Integration.Priority": "3"}, "Integration.Priority"),
        (
            {"IntegrationType": "external", "Integration.Url": "https://x.example", "Integration.RetryCount": "9"},
            "RetryCount",
        ),
        ({"Integration.FlowSid": FW}, "IntegrationType"),
        ({"ContactIdentity": ""}, "ContactIdentity"),
        ({"ChatServiceSid": "IS" + "0" * 32}, "ChatServiceSid"),
        ({"Enabled": "maybe"}, "Enabled"),
    ],
)
def test_invalid_flex_flows_are_refused_naming_the_parameter(
    stack: Stack, fields: dict[str, str], parameter: str
) -> None:
    with stack.http() as http:
        service = stack.create_service(http)
        data = {"FriendlyName": "bad", "ChatServiceSid": service, "ChannelType": "sms", "ContactIdentity": new_phone()}
        response = http.post("/v1/FlexFlows", data={**data, **fields})
        assert response.status_code == 400, response.text
        assert parameter in response.json()["message"], response.text
        assert response.json()["code"] == 20001


def test_required_fields_and_address_conflicts(stack: Stack) -> None:
    with stack.http() as http:
        missing = http.post("/v1/FlexFlows", data={"FriendlyName": "x"})
        assert missing.status_code == 400 and "ChatServiceSid" in missing.json()["message"]
        service = stack.create_service(http)
        number = new_phone()
        stack.create_flex_flow(http, service, ContactIdentity=number)
        clash = http.post(
            "/v1/FlexFlows",
            data={"FriendlyName": "twin", "ChatServiceSid": service, "ChannelType": "sms", "ContactIdentity": number},
        )
        assert clash.status_code == 409 and number in clash.json()["message"]
        # A disabled twin is fine, and WhatsApp on the same number is a different address.
        stack.create_flex_flow(http, service, ContactIdentity=number, Enabled="false")
        stack.create_flex_flow(http, service, ChannelType="whatsapp", ContactIdentity=f"whatsapp:{number}")
        bare = http.post(
            "/v1/FlexFlows",
            data={
                "FriendlyName": "wa",
                "ChatServiceSid": service,
                "ChannelType": "whatsapp",
                "ContactIdentity": number,
            },
        )
        assert bare.status_code == 400 and "whatsapp:" in bare.json()["message"]
