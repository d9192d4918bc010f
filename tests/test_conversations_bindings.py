"""SMS and WhatsApp participants of Conversations v1 (``MessagingBinding.Address`` and
``ProxyAddress``), through the official ``twilio`` client and the fake provider (a real loopback
HTTP server standing in for Twilio's Messages API): a message posted to the conversation reaches
the provider from the proxy number to the participant's address, once; its ``delivery`` summary and
``Receipts`` follow the provider's status callbacks; the customer's reply through the signed
messaging webhook lands in that conversation (not in a Flex Flow channel) with the participant as
its author, on Chat v2 too, once however often the provider retries it; Twilio's 409 for an
address and proxy pair already in use; refusals naming the parameter; a removed participant is
neither written to nor routed to."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy import text as sql
from sqlmodel import select
from twilio.base.exceptions import TwilioRestException

from api.schemas.conversation_receipts import DeliveryReceipt, DeliveryReceiptPage
from switchboard.fake_provider import FakeTwilio, ScriptedError
from switchboard.store.bindings import BindingTaken, bind, binding_of, live_binding
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.db import Database
from switchboard.store.defaults import plan_flex_defaults
from switchboard.store.migrate import migrate
from switchboard.store.models import Channel, ConversationBinding, Service
from tests.helpers.flows import whatsapp_flow
from tests.helpers.stack import Stack, eventually, new_phone
from workflows import sids
from workflows.messages import ChannelStatus, MessagingBinding

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends


def refusal(call: object) -> TwilioRestException:
    assert callable(call)
    with pytest.raises(TwilioRestException) as raised:
        call()
    return raised.value


def until(condition: Callable[[], object]) -> None:
    """Poll until ``condition`` holds."""

    def check() -> None:
        assert condition()

    eventually(check)


def sent_to(fake: FakeTwilio, address: str) -> list[dict[str, str | None]]:
    return [
        {"From": r.field("From"), "To": r.field("To"), "Body": r.field("Body")}
        for r in fake.message_requests()
        if r.field("To") == address
    ]


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_a_messaging_participants_round_trip(sending: Stack, fake_twilio: FakeTwilio, channel: str) -> None:
    client = sending.twilio()
    proxy = sending.settings.flex_sms_number if channel == "sms" else whatsapp_flow(sending)
    customer = new_phone() if channel == "sms" else "whatsapp:" + new_phone()
    conversation = client.conversations.v1.conversations.create(friendly_name=f"Order ({channel})")
    participants = client.conversations.v1.conversations(conversation.sid).participants
    customer_p = participants.create(
        messaging_binding_address=customer, messaging_binding_proxy_address=proxy, attributes='{"vip": true}'
    )
    assert customer_p.sid.startswith("MB") and customer_p.identity is None
    assert customer_p.messaging_binding == {"type": channel, "address": customer, "proxy_address": proxy}
    agent = participants.create(identity="ann")
    # The address is stored as contacts' are: encrypted, with its keyed hash; never in plaintext.
    engine = create_engine(sending.settings.resolved_database_url.replace("+aiosqlite", ""))
    try:
        with engine.connect() as conn:
            query = "SELECT * FROM conversation_binding WHERE participant_sid = :sid"
            [row] = conn.execute(sql(query), {"sid": customer_p.sid}).mappings().all()
    finally:
        engine.dispose()
    assert row["proxy_address"] == proxy and row["address_enc"].startswith("k1$")
    assert customer.removeprefix("whatsapp:").removeprefix("+") not in " ".join(str(v) for v in row.values())
    fetched = participants(customer_p.sid).fetch()
    assert fetched.messaging_binding == customer_p.messaging_binding and fetched.identity is None
    assert [p.messaging_binding for p in participants.list()] == [customer_p.messaging_binding, None]

    # Out: from the proxy number to the address, once, with a receipt following the callbacks.
    messages = client.conversations.v1.conversations(conversation.sid).messages
    posted = messages.create(author="ann", body=f"Your order shipped ({channel})")
    assert posted.participant_sid == agent.sid
    until(lambda: sent_to(fake_twilio, customer) == [{"From": proxy, "To": customer, "Body": posted.body}])
    [request] = [r for r in fake_twilio.message_requests() if r.field("To") == customer]
    token = request.headers["I-Twilio-Idempotency-Token"]
    assert token.startswith("DY")
    assert request.field("StatusCallback") == f"{sending.url}/webhooks/twilio/status/{token}"

    def delivered() -> None:
        delivery = messages(posted.sid).fetch().delivery
        assert delivery == {
            "total": 1,
            "sent": "all",
            "delivered": "all",
            "read": "none",
            "failed": "none",
            "undelivered": "none",
        }

    eventually(delivered)
    [receipt] = messages(posted.sid).delivery_receipts.list()
    [sent] = [m for m in fake_twilio.messages_sent() if m["to"] == customer]
    assert receipt.sid == token and receipt.status == "delivered" and receipt.error_code == 0
    assert receipt.participant_sid == customer_p.sid and receipt.message_sid == posted.sid
    assert receipt.channel_message_sid == sent["sid"] and receipt.conversation_sid == conversation.sid
    assert messages(posted.sid).delivery_receipts(receipt.sid).fetch().status == "delivered"
    assert messages.list()[0].delivery["total"] == 1  # the list shows the summary too
    with sending.http() as http:
        base = f"/v1/Conversations/{conversation.sid}/Messages/{posted.sid}/Receipts"
        page = http.get(base).json()
        assert set(page) == set(DeliveryReceiptPage.model_fields) and page["meta"]["key"] == "delivery_receipts"
        assert set(page["delivery_receipts"][0]) == set(DeliveryReceipt.model_fields)
        assert set(http.get(f"{base}/{receipt.sid}").json()) == set(DeliveryReceipt.model_fields)
        assert http.get(f"{base}/DY{'0' * 32}").status_code == 404

    # Chat v2's messages (as the agents' sockets post them) go out the same way.
    service = conversation.chat_service_sid
    chat_channel = client.chat.v2.services(service).channels(conversation.sid)
    chat_channel.messages.create(from_="ann", body=f"Through Chat v2 ({channel})")
    until(lambda: [s["Body"] for s in sent_to(fake_twilio, customer)] == [posted.body, f"Through Chat v2 ({channel})"])

    # In: the customer's reply lands in this conversation, by its participant, once.
    reply = sending.sms_params(to=proxy, from_=customer, body=f"Thanks! ({channel})")
    with httpx.Client(timeout=30) as http:
        assert sending.post_webhook(http, reply).status_code == 200
        assert sending.post_webhook(http, reply).status_code == 200  # the provider retries

    def replied() -> None:
        assert [(m.author, m.body) for m in messages.list()][-1] == (customer, reply["Body"])

    eventually(replied)
    listed = messages.list()
    assert [m.body for m in listed].count(reply["Body"]) == 1
    assert listed[-1].participant_sid == customer_p.sid and listed[-1].delivery is None
    chat = chat_channel.messages.list()
    assert (chat[-1]._from, chat[-1].body) == (customer, reply["Body"])
    # Not echoed back to its author, and no Flex Flow channel opened for the customer.
    assert len(sent_to(fake_twilio, customer)) == 2
    assert [c.sid for c in client.conversations.v1.conversations.list() if c.friendly_name == customer] == []


def test_a_refused_send_shows_failed_in_the_receipt(sending: Stack, fake_twilio: FakeTwilio) -> None:
    client = sending.twilio()
    customer = new_phone()
    conversation = client.conversations.v1.conversations.create()
    conversation_api = client.conversations.v1.conversations(conversation.sid)
    conversation_api.participants.create(
        messaging_binding_address=customer, messaging_binding_proxy_address=sending.settings.flex_sms_number
    )
    fake_twilio.fail_next(ScriptedError(400, 21610, "Attempt to send to unsubscribed recipient"))
    posted = conversation_api.messages.create(body="Hello?")

    def failed() -> None:
        [receipt] = conversation_api.messages(posted.sid).delivery_receipts.list()
        assert (receipt.status, receipt.error_code, receipt.channel_message_sid) == ("failed", 21610, None)

    eventually(failed)
    assert conversation_api.messages(posted.sid).fetch().delivery["failed"] == "all"
    assert [m for m in fake_twilio.messages_sent() if m["to"] == customer] == []  # refused, not taken


def test_status_callbacks_of_a_receipt_are_signed_and_never_move_it_back(
    sending: Stack, fake_twilio: FakeTwilio
) -> None:
    client = sending.twilio()
    customer = new_phone()
    conversation_api = client.conversations.v1.conversations(client.conversations.v1.conversations.create().sid)
    conversation_api.participants.create(
        messaging_binding_address=customer, messaging_binding_proxy_address=sending.settings.flex_sms_number
    )
    posted = conversation_api.messages.create(author="ann", body="Read me")
    receipts = conversation_api.messages(posted.sid).delivery_receipts

    def delivered() -> str:
        [receipt] = receipts.list()
        assert receipt.status == "delivered"
        return str(receipt.sid)

    sid = eventually(delivered)
    [sent] = [m for m in fake_twilio.messages_sent() if m["to"] == customer]
    url = f"{sending.url}/webhooks/twilio/status/{sid}"
    with httpx.Client(timeout=30) as http:

        def post(status: str, signature: str | None = None) -> int:
            params = {"MessageSid": sent["sid"], "MessageStatus": status}
            signed = signature or sending.sign(url, params)
            return http.post(url, data=params, headers={"X-Twilio-Signature": signed}).status_code

        assert post("read", "forged") == 403
        assert post("sent") == 204  # late: moves nothing back
        assert receipts(sid).fetch().status == "delivered"
        assert post("read") == 204 and post("read") == 204  # retried: the same
        assert receipts(sid).fetch().status == "read"
    assert conversation_api.messages(posted.sid).fetch().delivery["read"] == "all"


def test_throttled_sends_are_retried_and_sent_once(sending: Stack, fake_twilio: FakeTwilio) -> None:
    client = sending.twilio()
    customer = new_phone()
    conversation_api = client.conversations.v1.conversations(client.conversations.v1.conversations.create().sid)
    conversation_api.participants.create(
        messaging_binding_address=customer, messaging_binding_proxy_address=sending.settings.flex_sms_number
    )
    fake_twilio.fail_next(ScriptedError(429, 20429, "Too Many Requests"), ScriptedError(500, 20500, "Oops"))
    posted = conversation_api.messages.create(author="ann", body="Once only")

    def delivered() -> None:
        [receipt] = conversation_api.messages(posted.sid).delivery_receipts.list()
        assert receipt.status == "delivered"

    eventually(delivered)
    attempts = [r for r in fake_twilio.message_requests() if r.field("To") == customer]
    assert len(attempts) == 3 and len({r.headers["I-Twilio-Idempotency-Token"] for r in attempts}) == 1
    assert [m["body"] for m in fake_twilio.messages_sent() if m["to"] == customer] == ["Once only"]


def test_an_address_and_proxy_pair_belongs_to_one_conversation(sending: Stack, fake_twilio: FakeTwilio) -> None:
    client = sending.twilio()
    conversations = client.conversations.v1.conversations
    proxy, customer = sending.settings.flex_sms_number, new_phone()
    first, second = conversations.create(), conversations.create()
    bound = conversations(first.sid).participants.create(
        messaging_binding_address=customer, messaging_binding_proxy_address=proxy
    )
    for target in (first.sid, second.sid):
        taken = refusal(
            lambda target=target: conversations(target).participants.create(
                messaging_binding_address=customer, messaging_binding_proxy_address=proxy
            )
        )
        assert (taken.status, taken.code) == (409, 50416)
        assert first.sid in taken.msg

    # Removed: no longer written to, and its replies no longer routed here.
    conversations(first.sid).participants(bound.sid).delete()
    conversations(first.sid).messages.create(author="ann", body="Anyone there?")
    moved = conversations(second.sid).participants.create(
        messaging_binding_address=customer, messaging_binding_proxy_address=proxy
    )
    conversations(second.sid).messages.create(author="ann", body="Over here")
    until(lambda: [s["Body"] for s in sent_to(fake_twilio, customer)] == ["Over here"])
    with httpx.Client(timeout=30) as http:
        reply = sending.sms_params(to=proxy, from_=customer, body="Got it")
        assert sending.post_webhook(http, reply).status_code == 200
    until(lambda: conversations(second.sid).messages.list()[-1].participant_sid == moved.sid)
    assert "Got it" not in [m.body for m in conversations(first.sid).messages.list()]

    # Without its binding the number's Flex Flow has the customer again: a new contact channel.
    conversations(second.sid).participants(moved.sid).delete()
    with httpx.Client(timeout=30) as http:
        again = sending.sms_params(to=proxy, from_=customer, body="Hello again")
        assert sending.post_webhook(http, again).status_code == 200
    assert "Hello again" not in [m.body for m in conversations(second.sid).messages.list()]
    default_service = plan_flex_defaults(sending.settings).defaults.chat_service_sid
    until(
        lambda: [c.chat_service_sid for c in conversations.list() if c.friendly_name == customer] == [default_service]
    )


def test_a_customer_with_an_open_flex_flow_channel_is_taken(sending: Stack) -> None:
    """The Flex Flow's conversation with the customer holds the pair too (Twilio's 50416)."""
    client = sending.twilio()
    proxy, customer = sending.settings.flex_sms_number, new_phone()
    with httpx.Client(timeout=30) as http:
        assert sending.post_webhook(http, sending.sms_params(to=proxy, from_=customer, body="Hi")).status_code == 200
    conversation = client.conversations.v1.conversations.create()
    taken = refusal(
        lambda: client.conversations.v1.conversations(conversation.sid).participants.create(
            messaging_binding_address=customer, messaging_binding_proxy_address=proxy
        )
    )
    assert (taken.status, taken.code) == (409, 50416)


def test_refusals_name_the_parameter(sending: Stack) -> None:
    client = sending.twilio()
    participants = client.conversations.v1.conversations(
        client.conversations.v1.conversations.create().sid
    ).participants
    proxy, customer = sending.settings.flex_sms_number, new_phone()
    cases = [
        ({"messaging_binding_address": customer}, 50412, "MessagingBinding.ProxyAddress"),
        ({"messaging_binding_address": customer, "messaging_binding_proxy_address": ""}, 50412, "ProxyAddress"),
        ({"messaging_binding_address": "5551234", "messaging_binding_proxy_address": proxy}, 50407, "Address"),
        ({"messaging_binding_address": customer, "messaging_binding_proxy_address": "+1999"}, 50408, "ProxyAddress"),
        # A number no Flex Flow of the deployment has: not Switchboard's to send from.
        ({"messaging_binding_address": customer, "messaging_binding_proxy_address": new_phone()}, 50408, "Proxy"),
        (
            {"messaging_binding_address": "whatsapp:" + customer, "messaging_binding_proxy_address": proxy},
            50414,
            "MessagingBinding.Address",
        ),
        (
            {"messaging_binding_address": "rcs:" + customer, "messaging_binding_proxy_address": "rcs:" + proxy},
            50407,
            "MessagingBinding.Address",
        ),
        ({"identity": "ann", "messaging_binding_projected_address": proxy}, 20001, "ProjectedAddress"),
        ({"identity": "ann", "messaging_binding_address": customer}, 20001, "Identity"),
    ]
    for fields, code, parameter in cases:
        refused = refusal(lambda fields=fields: participants.create(**fields))
        assert (refused.status, refused.code) == (400, code), fields
        assert parameter in refused.msg, (fields, refused.msg)
    assert participants.list() == []


async def test_a_closed_or_deleted_conversation_frees_its_pairs(empty_database_url: str) -> None:
    """The store's rule behind routing and the 409: an active or inactive conversation holds its
    pairs; once it is closed (a short-lived channel that closed) its binding no longer routes the
    customer's messages, and binding the pair again elsewhere releases the stale row."""
    db = Database(empty_database_url)
    try:
        await migrate(db.engine)
        cipher = Cipher.from_setting(f"k1:{base64.b64encode(secrets.token_bytes(32)).decode()}")
        hasher = KeyedHasher.from_setting(base64.b64encode(secrets.token_bytes(32)).decode())
        service_sid = sids.new_sid(sids.SERVICE)
        closing, inactive, later = (sids.new_sid(sids.CHANNEL) for _ in range(3))
        pair = MessagingBinding("sms", "+15551230000", "+15005550006")
        other = MessagingBinding("sms", "+15551230001", "+15005550006")
        async with db.write_session() as session:
            session.add(Service(sid=service_sid, friendly_name="bindings"))
            await session.flush()
            for sid, long_lived in ((closing, False), (inactive, True), (later, True)):
                attributes = cipher.encrypt("{}", "channel.attributes")
                session.add(Channel(sid=sid, service_sid=service_sid, attributes_enc=attributes, long_lived=long_lived))
            await session.flush()
            await bind(session, cipher, hasher, sids.new_sid(sids.MEMBER), closing, pair)
            await bind(session, cipher, hasher, sids.new_sid(sids.MEMBER), inactive, other)
            await session.commit()
        async with db.write_session() as session:
            held = await live_binding(session, hasher, pair.address, pair.proxy_address)
            assert held is not None and held.channel_sid == closing
            with pytest.raises(BindingTaken):
                await bind(session, cipher, hasher, sids.new_sid(sids.MEMBER), later, pair)
            await session.rollback()
            for sid in (closing, inactive):
                channel = await session.get(Channel, sid)
                assert channel is not None
                channel.status = ChannelStatus.INACTIVE
                session.add(channel)
            await session.commit()
        async with db.write_session() as session:
            # Closed: no longer routes, and the pair binds again; inactive: still holds.
            assert await live_binding(session, hasher, pair.address, pair.proxy_address) is None
            assert await live_binding(session, hasher, other.address, other.proxy_address) is not None
            await bind(session, cipher, hasher, sids.new_sid(sids.MEMBER), later, pair)
            await session.commit()
            with pytest.raises(BindingTaken):
                await bind(session, cipher, hasher, sids.new_sid(sids.MEMBER), later, other)
            await session.rollback()
        async with db.session() as session:
            held = await live_binding(session, hasher, pair.address, pair.proxy_address)
            assert held is not None and held.channel_sid == later
            [row] = (
                await session.exec(select(ConversationBinding).where(ConversationBinding.channel_sid == later))
            ).all()
            assert binding_of(cipher, row) == pair
    finally:
        await db.dispose()
