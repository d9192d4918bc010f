"""Chat v2 through the official ``twilio`` client with only its base URL changed, and Twilio's
error and paging conventions over plain HTTP."""

from __future__ import annotations

import json

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.helpers.stack import Stack

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends


def test_twilio_client_round_trip(stack: Stack) -> None:
    client = stack.twilio()
    service = client.chat.v2.services.create(friendly_name="support")
    assert service.sid.startswith("IS") and service.friendly_name == "support"
    assert client.chat.v2.services(service.sid).fetch().friendly_name == "support"
    assert service.sid in [s.sid for s in client.chat.v2.services.list()]

    channels = client.chat.v2.services(service.sid).channels
    channel = channels.create(friendly_name="Order 1234", unique_name="order-1234", attributes=json.dumps({"a": 1}))
    assert channel.sid.startswith("CH")
    assert channel.type == "private"  # private unless asked otherwise
    assert json.loads(channel.attributes) == {"a": 1}
    assert channels("order-1234").fetch().sid == channel.sid  # unique name addresses it too

    member = channels(channel.sid).members.create(identity="agent.alice")
    assert member.identity == "agent.alice" and member.sid.startswith("MB")
    assert [m.identity for m in channels(channel.sid).members.list()] == ["agent.alice"]
    assert channels(channel.sid).members.list(identity=["agent.alice"])[0].sid == member.sid

    messages = channels(channel.sid).messages
    sent = [messages.create(body=f"hello {i}", from_="agent.alice") for i in range(7)]
    assert [m.index for m in sent] == list(range(7))
    assert sent[3].body == "hello 3" and sent[3]._from == "agent.alice"
    assert messages(sent[2].sid).fetch().body == "hello 2"

    # Paging: the client follows next_page_url across pages of 3.
    assert [m.index for m in messages.list(page_size=3)] == list(range(7))
    assert [m.index for m in messages.list(order="desc", page_size=3)] == list(range(6, -1, -1))
    newest = messages.page(order="desc", page_size=2)
    assert [m.body for m in newest] == ["hello 6", "hello 5"]

    fetched = channels(channel.sid).fetch()
    assert fetched.messages_count == 7 and fetched.members_count == 1


def test_errors_are_twilio_shaped(stack: Stack) -> None:
    client = stack.twilio()
    with pytest.raises(TwilioRestException) as missing:
        client.chat.v2.services("IS" + "0" * 32).fetch()
    assert missing.value.status == 404 and missing.value.code == 20404

    service = client.chat.v2.services.create(friendly_name="errors")
    with pytest.raises(TwilioRestException) as bad_json:
        client.chat.v2.services(service.sid).channels.create(attributes="{not json")
    assert bad_json.value.status == 400 and "Attributes" in bad_json.value.msg

    channel = client.chat.v2.services(service.sid).channels.create(unique_name="dup")
    with pytest.raises(TwilioRestException) as taken:
        client.chat.v2.services(service.sid).channels.create(unique_name="dup")
    assert taken.value.status == 409

    members = client.chat.v2.services(service.sid).channels(channel.sid).members
    members.create(identity="bob")
    with pytest.raises(TwilioRestException) as twice:
        members.create(identity="bob")
    assert twice.value.status == 409 and "already exists" in twice.value.msg

    with stack.http() as http:
        body = http.get(f"/v2/Services/{service.sid}/Channels/{channel.sid}/Messages", params={"Order": "sideways"})
        assert body.status_code == 400
        assert "Order" in body.json()["message"] and body.json()["code"] == 20001
        no_body = http.post(f"/v2/Services/{service.sid}/Channels/{channel.sid}/Messages", data={"From": "x"})
        assert no_body.status_code == 400 and "Body" in no_body.json()["message"]
        page = http.get("/v2/Services", params={"PageSize": "0"})
        assert page.status_code == 400 and "PageSize" in page.json()["message"]


def test_rest_requires_account_credentials(stack: Stack) -> None:
    import httpx

    anonymous = httpx.get(f"{stack.url}/v2/Services")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == 20003
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    wrong = httpx.get(f"{stack.url}/v2/Services", auth=(stack.settings.account_sid, "wrong"))
    assert wrong.status_code == 401


def test_idempotency_token_stores_a_retried_post_once(stack: Stack) -> None:
    with stack.http() as http:
        service = stack.create_service(http)
        channel = http.post(f"/v2/Services/{service}/Channels", data={"FriendlyName": "retry"}).json()["sid"]
        url = f"/v2/Services/{service}/Channels/{channel}/Messages"
        headers = {"I-Twilio-Idempotency-Token": "tok-1"}
        first = http.post(url, data={"Body": "once", "From": "agent"}, headers=headers)
        second = http.post(url, data={"Body": "once", "From": "agent"}, headers=headers)
        assert first.status_code == second.status_code == 201
        assert first.json()["sid"] == second.json()["sid"]
        listed = http.get(url).json()["messages"]
        assert [m["body"] for m in listed] == ["once"]
