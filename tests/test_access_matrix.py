"""Who may use which surface, as one table (``api.access``): every kind of caller (nobody, the
tokens of each role, the account's credentials, an API key and a revoked one (and an admin token
minted with it), a single sign-on token from an identity provider whose JWKS a loopback server
publishes) against REST, the agent socket (reading, acting, posting and starting conversations
through it), the customer socket, the codec endpoint and media, over real HTTP and WebSockets on
one shared stack."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioException
from twilio.rest import Client as TwilioClient
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.tokens import EXPIRED, INVALID_ISSUER, INVALID_SIGNATURE
from switchboard.store.crypto import Cipher
from switchboard.store.db import Database
from switchboard.store.defaults import plan_flex_defaults
from switchboard.store.models import ApiKey, ChannelAgent, Reservation, Task
from tests.helpers.jwks import SSO_AUDIENCE, SSO_ISSUER, JwksServer, rsa_key
from tests.helpers.stack import Stack, StackFactory, new_phone
from workflows import sids

AGENT_PROTOCOL = "switchboard.agent.v1"
CUSTOMER_PROTOCOL = "switchboard.customer.v1"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")

ALLOW = "allow"


@pytest.fixture(scope="module")
def stack(make_stack: StackFactory, jwks: JwksServer) -> Stack:
    return make_stack(
        desk_dev_sign_in=True,
        channel_inactivity_seconds=300.0,
        jwt_jwks_url=jwks.url,
        jwt_sso_issuer=SSO_ISSUER,
        jwt_sso_audience=SSO_AUDIENCE,
    )


@dataclass
class Caller:
    """How one kind of caller presents itself: a Bearer token or HTTP Basic credentials."""

    token: str | None = None
    basic: tuple[str, str] | None = None

    def headers(self) -> dict[str, str]:
        if self.token is not None:
            return {"Authorization": f"Bearer {self.token}"}
        if self.basic is not None:
            return {"Authorization": "Basic " + base64.b64encode(":".join(self.basic).encode()).decode()}
        return {}


@dataclass
class World:
    channel_a: str  # the customer's; the agent holds its task
    channel_b: str  # another customer's; nobody joined it
    channel_c: str  # a third customer's; the agent completed its task
    sms_customer: str  # an SMS customer whose conversation the agent holds
    media_a: str  # uploaded to channel A
    callers: dict[str, Caller]


def open_session(stack: Stack, name: str) -> dict[str, Any]:
    web_flow = plan_flex_defaults(stack.settings).defaults.web_flex_flow_sid
    response = httpx.post(
        f"{stack.url}/v1/Webchat/Sessions", json={"flex_flow_sid": web_flow, "friendly_name": name}, timeout=30
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def dev_worker(stack: Stack, identity: str) -> dict[str, Any]:
    response = httpx.post(f"{stack.url}/v1/Desk/DevSignIn", json={"identity": identity}, timeout=30)
    assert response.status_code == 201, response.text
    return dict(response.json())


def join(stack: Stack, channel_sid: str, worker_sid: str, *, holding: bool) -> None:
    """The worker accepted a task of the channel, as routing would record it: it still holds the
    task (``holding``) or completed it. The task belongs to no live workspace, so no router sees it."""
    cipher = Cipher.from_setting(stack.settings.encryption_keys, stack.settings.encryption_key_id)
    workspace_sid = "WS" + "0" * 32
    task = Task(
        sid=sids.new_sid(sids.TASK),
        workspace_sid=workspace_sid,
        workflow_sid="WW" + "0" * 32,
        task_channel_unique_name="chat",
        attributes_enc=cipher.encrypt(json.dumps({"channelSid": channel_sid}), "task.attributes"),
        assignment_status="assigned" if holding else "completed",
        channel_sid=channel_sid,
    )
    reservation = Reservation(
        sid=sids.new_sid(sids.RESERVATION),
        workspace_sid=workspace_sid,
        task_sid=task.sid,
        worker_sid=worker_sid,
        reservation_status="accepted" if holding else "completed",
    )

    async def insert(_client: Any) -> None:
        db = Database(stack.settings.resolved_database_url)
        try:
            async with db.write_session() as session:
                session.add_all([task, reservation, ChannelAgent(channel_sid=channel_sid, worker_sid=worker_sid)])
                await session.commit()
        finally:
            await db.dispose()

    stack.call(insert)


def sms_channel(stack: Stack, customer: str) -> str:
    """The SMS customer's channel on the default SMS Flex Flow, opened over Flex v1 REST."""
    defaults = plan_flex_defaults(stack.settings).defaults
    with stack.http() as http:
        response = http.post(
            "/v1/Channels",
            data={
                "FlexFlowSid": defaults.sms_flex_flow_sid,
                "Identity": customer,
                "Target": customer,
                "ChatUserFriendlyName": "Sue",
                "ChatFriendlyName": "sms",
            },
        )
    assert response.status_code == 201, response.text
    return str(response.json()["sid"])


def minted(http: httpx.Client, role: str, worker: dict[str, Any], service_sid: str) -> str:
    response = http.post(
        "/v1/Tokens",
        data={
            "Identity": f"{role}-{uuid.uuid4().hex[:6]}",
            "Role": role,
            "ChatServiceSid": service_sid,
            "WorkspaceSid": worker["workspace_sid"],
            "WorkerSid": worker["worker_sid"],
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def new_key(stack: Stack, http: httpx.Client) -> tuple[str, str]:
    response = http.post(f"/2010-04-01/Accounts/{stack.settings.account_sid}/Keys.json", data={"FriendlyName": "ci"})
    assert response.status_code == 201, response.text
    return str(response.json()["sid"]), str(response.json()["secret"])


@pytest.fixture(scope="module")
def world(stack: Stack, jwks: JwksServer) -> World:
    defaults = plan_flex_defaults(stack.settings).defaults
    a, b, c = open_session(stack, "Ada"), open_session(stack, "Bo"), open_session(stack, "Cy")
    agent, supervisor, admin = (dev_worker(stack, f"{r}-{uuid.uuid4().hex[:6]}") for r in ("ag", "sup", "adm"))
    join(stack, a["channel_sid"], agent["worker_sid"], holding=True)
    join(stack, c["channel_sid"], agent["worker_sid"], holding=False)
    sms_customer = new_phone()
    join(stack, sms_channel(stack, sms_customer), agent["worker_sid"], holding=True)
    with stack.http() as http:
        upload = http.post(
            "/v1/Media",
            headers={"Authorization": f"Bearer {a['token']}"},
            data={"channel_sid": a["channel_sid"]},
            files={"file": ("a.png", PNG, "image/png")},
        )
        assert upload.status_code == 201, upload.text
        key, revoked = new_key(stack, http), new_key(stack, http)
        # An admin token minted with the key that is revoked next: it dies with its key.
        with httpx.Client(base_url=stack.url, auth=revoked, timeout=30) as with_key:
            revoked_keys_token = minted(with_key, "admin", admin, defaults.chat_service_sid)
        assert (
            http.delete(f"/2010-04-01/Accounts/{stack.settings.account_sid}/Keys/{revoked[0]}.json").status_code == 204
        )
        service = defaults.chat_service_sid
        callers = {
            "nobody": Caller(),
            "customer": Caller(token=a["token"]),
            "other customer": Caller(token=b["token"]),
            "agent": Caller(token=agent["token"]),
            "supervisor": Caller(token=minted(http, "supervisor", supervisor, service)),
            "admin token": Caller(token=minted(http, "admin", admin, service)),
            "account": Caller(basic=(stack.settings.account_sid, stack.settings.auth_token)),
            "API key": Caller(basic=key),
            "revoked API key": Caller(basic=revoked),
            "revoked key JWT": Caller(token=revoked_keys_token),
            "SSO supervisor": Caller(
                token=jwks.sign(
                    {
                        "sub": "sam@example.com",
                        "switchboard": {
                            "role": "supervisor",
                            "chat": {"service_sid": service},
                            "task_router": {
                                "workspace_sid": supervisor["workspace_sid"],
                                "worker_sid": supervisor["worker_sid"],
                            },
                        },
                    }
                )
            ),
        }
    return World(a["channel_sid"], b["channel_sid"], c["channel_sid"], sms_customer, str(upload.json()["sid"]), callers)


# --- the probes: each answers "allow" or how it was refused (HTTP status or close/error code) ----


def rest_read(stack: Stack, world: World, caller: Caller) -> str | int:
    """TaskRouter's routing state."""
    response = httpx.get(f"{stack.url}/v1/Workspaces", headers=caller.headers(), timeout=30)
    return ALLOW if response.status_code == 200 else response.status_code


def rest_write(stack: Stack, world: World, caller: Caller) -> str | int:
    response = httpx.post(f"{stack.url}/v1/Tokens", data={"Identity": "probe"}, headers=caller.headers(), timeout=30)
    return ALLOW if response.status_code == 201 else response.status_code


def codec(stack: Stack, world: World, caller: Caller) -> str | int:
    response = httpx.post(f"{stack.url}/codec/encode", json={"payloads": []}, headers=caller.headers(), timeout=30)
    return ALLOW if response.status_code == 200 else response.status_code


def media_read(stack: Stack, world: World, caller: Caller) -> str | int:
    response = httpx.get(f"{stack.url}/v1/Media/{world.media_a}/Content", headers=caller.headers(), timeout=30)
    if response.status_code == 200:
        assert response.content == PNG
        return ALLOW
    return response.status_code


def media_upload(stack: Stack, world: World, caller: Caller) -> str | int:
    response = httpx.post(
        f"{stack.url}/v1/Media",
        headers=caller.headers(),
        data={"channel_sid": world.channel_a},
        files={"file": ("b.png", PNG, "image/png")},
        timeout=30,
    )
    return ALLOW if response.status_code == 201 else response.status_code


async def socket_answer(
    stack: Stack, path: str, protocol: str, caller: Caller, command: dict[str, Any] | None = None
) -> str | int:
    """Connect (the token as a subprotocol; Basic credentials as a header and no token), then run
    ``command``: "allow" for a ready socket (and a command's result), else the close or error code."""
    url = stack.url.replace("http://", "ws://") + path
    protocols = [protocol] + ([f"access_token.{caller.token}"] if caller.token else [])
    async with connect(url, subprotocols=protocols, additional_headers=caller.headers()) as ws:  # type: ignore[arg-type]
        try:
            if caller.token is None:
                await ws.send(json.dumps({"type": "authenticate", "token": caller.basic[1] if caller.basic else ""}))
            async with asyncio.timeout(30):
                ready = json.loads(await ws.recv())
                assert ready["type"] == "ready", ready
                if command is None:
                    return ALLOW
                await ws.send(json.dumps({"type": "command", "id": "probe", **command}))
                while True:
                    answer = json.loads(await ws.recv())
                    if answer.get("id") == "probe":
                        return ALLOW if answer["type"] == "result" else int(answer["code"])
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code


def agent_socket(stack: Stack, world: World, caller: Caller) -> str | int:
    return asyncio.run(socket_answer(stack, "/v1/agent/ws", AGENT_PROTOCOL, caller))


def on_channel(command: str, channel: str, **fields: str) -> Callable[[Stack, World, Caller], str | int]:
    """A probe running an agent-socket ``command`` (history reads, typing acts) on one of the
    world's channels: "a", "b" or "c"."""

    def probe(stack: Stack, world: World, caller: Caller) -> str | int:
        frame = {"command": command, "channel_sid": getattr(world, f"channel_{channel}"), **fields}
        return asyncio.run(socket_answer(stack, "/v1/agent/ws", AGENT_PROTOCOL, caller, frame))

    return probe


def start_with_held_customer(stack: Stack, world: World, caller: Caller) -> str | int:
    """An agent-socket ``start_conversation`` with the SMS customer whose conversation the agent
    holds: only the agent holding it may (anyone else, an admin too, needs a transfer first)."""
    flow = plan_flex_defaults(stack.settings).defaults.sms_flex_flow_sid
    frame = {"command": "start_conversation", "flex_flow_sid": flow, "to": world.sms_customer}
    return asyncio.run(socket_answer(stack, "/v1/agent/ws", AGENT_PROTOCOL, caller, frame))


def conversations(stack: Stack, world: World, caller: Caller) -> str | int:
    """Conversations v1, REST like Chat v2: the customer's channel as a conversation."""
    response = httpx.get(f"{stack.url}/v1/Conversations/{world.channel_a}", headers=caller.headers(), timeout=30)
    return ALLOW if response.status_code == 200 else response.status_code


def customer_socket(stack: Stack, world: World, caller: Caller) -> str | int:
    return asyncio.run(socket_answer(stack, "/v1/customer/ws", CUSTOMER_PROTOCOL, caller))


PROBES = {
    "REST read": rest_read,
    "REST write": rest_write,
    "agent socket": agent_socket,
    "joined channel": on_channel("history", "a"),
    "read other channel": on_channel("history", "b"),
    "act on other channel": on_channel("typing", "b"),
    "read finished channel": on_channel("history", "c"),
    "act on finished channel": on_channel("typing", "c"),
    "post in joined channel": on_channel("send_message", "a", body="probe"),
    "start with held customer": start_with_held_customer,
    "customer socket": customer_socket,
    "codec": codec,
    "media read": media_read,
    "media upload": media_upload,
    "conversations": conversations,
}
A = ALLOW
NA = None  # channel commands, for callers the agent socket does not let in (see "agent socket")
# Columns in PROBES' order; "joined channel" is channel A (the customer's, the agent holds its
# task), "other channel" channel B (another customer's, nobody joined it), "finished channel"
# channel C (the agent completed its task: it reads it, but no longer acts there). Posting in
# channel A is the agent's (and an admin's); starting a conversation with the SMS customer whose
# conversation the agent holds is the agent's alone (409 for everyone else). HTTP refusals are
# 401/403, socket ones close with 4401/4403, command ones answer an error with code 403 or 409.
# "conversations" fetches channel A through Conversations v1: REST, like Chat v2.
# fmt: off
MATRIX: dict[str, tuple[str | int | None, ...]] = {
    #                   REST  REST   agent  joined  read   act    read      act       post    start  customer  codec  media  media   conver-
    #                   read  write  socket channel other  other  finished  finished  joined  held   socket           read   upload  sations
    "nobody":          (401,  401,   4401,  NA,     NA,    NA,    NA,       NA,       NA,     NA,    4401,     401,   401,   401,    401),
    "customer":        (403,  403,   4403,  NA,     NA,    NA,    NA,       NA,       NA,     NA,    A,        403,   A,     A,      403),
    "other customer":  (403,  403,   4403,  NA,     NA,    NA,    NA,       NA,       NA,     NA,    A,        403,   403,   403,    403),
    "agent":           (403,  403,   A,     A,      403,   403,   A,        403,      A,      A,     4403,     403,   A,     A,      403),
    "supervisor":      (A,    403,   A,     A,      A,     403,   A,        403,      403,    409,   4403,     403,   A,     403,    403),
    "admin token":     (A,    A,     A,     A,      A,     A,     A,        A,        A,      409,   4403,     A,     A,     A,      A),
    "account":         (A,    A,     4401,  NA,     NA,    NA,    NA,       NA,       NA,     NA,    4401,     A,     A,     A,      A),
    "API key":         (A,    A,     4401,  NA,     NA,    NA,    NA,       NA,       NA,     NA,    4401,     A,     A,     A,      A),
    "revoked API key": (401,  401,   4401,  NA,     NA,    NA,    NA,       NA,       NA,     NA,    4401,     401,   401,   401,    401),
    "revoked key JWT": (401,  401,   4401,  NA,     NA,    NA,    NA,       NA,       NA,     NA,    4401,     401,   401,   401,    401),
    "SSO supervisor":  (A,    403,   A,     A,      A,     403,   A,        403,      403,    409,   4403,     403,   A,     403,    403),
}
# fmt: on
CELLS = [
    (caller, surface, expected)
    for caller, row in MATRIX.items()
    for surface, expected in zip(PROBES, row, strict=True)
    if expected is not NA
]


def test_every_caller_that_opens_an_agent_socket_is_tried_on_channels() -> None:
    for caller, row in MATRIX.items():
        opens = row[list(PROBES).index("agent socket")] == ALLOW
        assert all((cell is not NA) == opens for cell in row[3:10]), caller


@pytest.mark.parametrize(("caller", "surface", "expected"), CELLS, ids=[f"{c}|{s}" for c, s, _ in CELLS])
def test_access(stack: Stack, world: World, caller: str, surface: str, expected: str | int) -> None:
    assert PROBES[surface](stack, world, world.callers[caller]) == expected


def test_a_refusal_is_twilio_shaped(stack: Stack, world: World) -> None:
    forbidden = httpx.get(f"{stack.url}/v1/Workspaces", headers=world.callers["agent"].headers(), timeout=30)
    assert forbidden.status_code == 403 and forbidden.json()["code"] == 20403
    assert "agent" in forbidden.json()["message"]
    revoked = httpx.get(f"{stack.url}/v1/Workspaces", headers=world.callers["revoked API key"].headers(), timeout=30)
    assert revoked.status_code == 401 and revoked.json()["code"] == 20003


def test_a_revoked_key_stops_working_at_once(stack: Stack) -> None:
    with stack.http() as http:
        sid, secret = new_key(stack, http)
        with httpx.Client(base_url=stack.url, auth=(sid, secret), timeout=30) as keyed:
            assert keyed.get("/v1/Workspaces").status_code == 200
            assert http.delete(f"/2010-04-01/Accounts/{stack.settings.account_sid}/Keys/{sid}.json").status_code == 204
            # The very next request: nothing cached to expire.
            assert keyed.get("/v1/Workspaces").status_code == 401


# --- API keys in Twilio's shape ---------------------------------------------------------------


def keys_path(stack: Stack, sid: str | None = None) -> str:
    base = f"/2010-04-01/Accounts/{stack.settings.account_sid}/Keys"
    return f"{base}/{sid}.json" if sid else f"{base}.json"


def test_keys_are_made_listed_fetched_renamed_and_revoked_in_twilios_shape(stack: Stack) -> None:
    with stack.http() as http:
        made = http.post(keys_path(stack), data={"FriendlyName": "reporting"})
        assert made.status_code == 201, made.text
        key = made.json()
        assert set(key) == {"sid", "friendly_name", "date_created", "date_updated", "secret"}
        assert re.fullmatch(r"SK[0-9a-f]{32}", key["sid"]) and key["friendly_name"] == "reporting"
        assert parsedate_to_datetime(key["date_created"]).utcoffset() == timedelta(0)
        assert key["date_created"].endswith("+0000") and len(key["secret"]) >= 32

        fetched = http.get(keys_path(stack, key["sid"])).json()
        assert fetched == {k: v for k, v in key.items() if k != "secret"}  # the secret is shown once
        first = http.get(keys_path(stack), params={"PageSize": 1}).json()
        assert first["page"] == 0 and first["page_size"] == 1 and first["start"] == 0 and len(first["keys"]) == 1
        assert first["next_page_uri"] == f"{keys_path(stack)}?PageSize=1&Page=1" and first["previous_page_uri"] is None
        everything = http.get(keys_path(stack), params={"PageSize": 1000}).json()["keys"]
        assert fetched in everything and all("secret" not in k for k in everything)

        renamed = http.post(keys_path(stack, key["sid"]), data={"FriendlyName": "billing"}).json()
        assert renamed["friendly_name"] == "billing" and renamed["sid"] == key["sid"]
        assert http.delete(keys_path(stack, key["sid"])).status_code == 204
        gone = http.get(keys_path(stack, key["sid"]))
        assert gone.status_code == 404 and gone.json()["code"] == 20404
        assert http.delete(keys_path(stack, key["sid"])).status_code == 404
        other = http.get(f"/2010-04-01/Accounts/AC{'0' * 32}/Keys.json")
        assert other.status_code == 404


def test_only_a_hash_of_the_secret_is_stored(stack: Stack) -> None:
    with stack.http() as http:
        sid, secret = new_key(stack, http)

    async def stored(_client: Any) -> ApiKey | None:
        db = Database(stack.settings.resolved_database_url)
        try:
            async with db.session() as session:
                return await session.get(ApiKey, sid)
        finally:
            await db.dispose()

    row = stack.call(stored)
    assert row is not None and len(row.secret_hash) == 64 and secret not in row.secret_hash
    # The secret of one key does not open another.
    with stack.http() as http:
        other, _ = new_key(stack, http)
    assert httpx.get(f"{stack.url}/v1/Workspaces", auth=(other, secret), timeout=30).status_code == 401


def test_keys_are_managed_with_the_auth_token_only(stack: Stack, world: World) -> None:
    for caller in ("API key", "admin token"):
        headers = world.callers[caller].headers()
        assert httpx.get(f"{stack.url}{keys_path(stack)}", headers=headers, timeout=30).status_code == 401
        made = httpx.post(f"{stack.url}{keys_path(stack)}", headers=headers, timeout=30)
        assert made.status_code == 401


def test_the_twilio_sdk_authenticates_with_an_api_key(stack: Stack) -> None:
    account = stack.twilio()
    account.api.base_url = stack.url
    key = account.api.v2010.account.new_keys.create(friendly_name="sdk")
    assert key.sid.startswith("SK") and key.secret
    keyed = TwilioClient(key.sid, key.secret, stack.settings.account_sid)
    keyed.taskrouter.base_url = stack.url
    workspace_sid = plan_flex_defaults(stack.settings).defaults.workspace_sid
    assert workspace_sid in [w.sid for w in keyed.taskrouter.v1.workspaces.list()]
    account.api.v2010.account.keys(key.sid).delete()
    with pytest.raises(TwilioException, match="HTTP 401"):  # the SDK's list pages raise the base class
        keyed.taskrouter.v1.workspaces.list()


# --- single sign-on tokens refused over HTTP and on the sockets ---------------------------------


@pytest.mark.parametrize(
    ("case", "code"),
    [("another key", INVALID_SIGNATURE), ("expired", EXPIRED), ("another issuer", INVALID_ISSUER)],
)
def test_bad_sso_tokens_are_refused_on_rest_and_sockets(
    stack: Stack, world: World, jwks: JwksServer, case: str, code: int
) -> None:
    grants = {"sub": "sam@example.com", "switchboard": {"role": "admin"}}
    token = {
        "another key": lambda: jwks.sign(grants, key=rsa_key()),
        "expired": lambda: jwks.sign(grants, ttl=-120),
        "another issuer": lambda: jwks.sign(grants, issuer="https://elsewhere.example.test"),
    }[case]()
    answer = httpx.get(f"{stack.url}/v1/Workspaces", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 401 and answer.json()["code"] == code, answer.text

    async def close_reason() -> tuple[int, str]:
        url = stack.url.replace("http://", "ws://") + "/v1/agent/ws"
        async with connect(url, subprotocols=[AGENT_PROTOCOL, f"access_token.{token}"]) as ws:  # type: ignore[list-item]
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, closed.value.rcvd.reason

    socket_code, reason = asyncio.run(close_reason())
    assert socket_code == 4401 and reason.startswith(f"{code}:")
