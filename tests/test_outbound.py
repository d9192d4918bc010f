"""The outbound policy: requests to URLs that users, flow authors and providers' messages choose
never reach loopback, private, link-local, CGNAT, multicast, reserved or metadata addresses (after
DNS, at every redirect) unless the operator allows them, bodies are capped, and every path that
makes such requests (provider media, Studio's HTTP widgets, external integrations, TaskRouter event
callbacks) shows a refusal where its user looks, with nothing sent."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from ipaddress import ip_address
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from temporalio.client import Client

from api.routes.media import fetch_provider_media
from api.twilio_shape import TwilioError
from switchboard.fake_provider import FakeMeta, FakeTwilio
from switchboard.outbound_http import OutboundClient, OutboundPolicy, OutboundRefused, ResponseTooLarge
from switchboard.settings import Settings
from tests.helpers.flows import create_flow, ended, sms_flex_flow
from tests.helpers.messages import messages_of, only_channel, text
from tests.helpers.recording import RecordingServer, Reply
from tests.helpers.routing import new_space
from tests.helpers.stack import LOOPBACK_NETWORKS, Stack, StackFactory, eventually, new_phone
from workflows.routing.messages import router_id

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "100.100.100.200",  # Alibaba Cloud's metadata, inside CGNAT
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack metadata
    "169.254.1.1",
    "168.63.129.16",  # Azure's wire server: a public address, but the platform's
    "224.0.0.1",
    "239.255.255.250",
    "0.0.0.0",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.2.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "ff02::1",
    "ff0e::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2001:db8::1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_the_default_policy_refuses_inner_addresses(address: str) -> None:
    reason = OutboundPolicy().refusal(ip_address(address))
    assert reason is not None and "address" in reason


@pytest.mark.parametrize("address", PUBLIC)
def test_the_default_policy_takes_public_addresses(address: str) -> None:
    assert OutboundPolicy().refusal(ip_address(address)) is None


def test_allowed_networks_and_hosts() -> None:
    policy = OutboundPolicy.parse(" 127.0.0.0/8, ::1/128 , 10.20.0.5,Hooks.Internal. ,")
    for address in ("127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "10.20.0.5"):
        assert policy.refusal(ip_address(address)) is None, address
    for address in ("10.20.0.6", "169.254.169.254", "192.168.0.1", "fe80::1"):
        assert policy.refusal(ip_address(address)) is not None, address
    assert policy.allows_host("hooks.internal") and policy.allows_host("HOOKS.internal.")
    assert not policy.allows_host("other.internal") and not policy.allows_host("internal")
    assert OutboundPolicy.parse("") == OutboundPolicy()


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "not a host", "http://example.com", "300.1.1.1/8", "a_b.example"])
def test_an_unreadable_allowed_network_is_a_settings_error(entry: str) -> None:
    with pytest.raises(ValueError, match="outbound_allowed_networks"):
        OutboundPolicy.parse(entry)
    with pytest.raises(ValidationError, match="outbound_allowed_networks"):
        Settings(outbound_allowed_networks=entry)


@pytest.fixture
async def guarded() -> AsyncIterator[OutboundClient]:
    """The default policy: nothing on this machine is reachable."""
    async with OutboundClient(OutboundPolicy()) as client:
        yield client


@pytest.fixture
async def loopback() -> AsyncIterator[OutboundClient]:
    async with OutboundClient(OutboundPolicy.parse(LOOPBACK_NETWORKS)) as client:
        yield client


@pytest.fixture
def listener() -> Iterator[RecordingServer]:
    server = RecordingServer()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1:{port}/_x", "ftp://127.0.0.1:{port}/", "dict://127.0.0.1:{port}/"]
)
async def test_only_http_and_https_are_requested(loopback: OutboundClient, listener: RecordingServer, url: str) -> None:
    port = listener.url.rsplit(":", 1)[1]
    with pytest.raises(OutboundRefused, match="scheme"):
        await loopback.request("GET", url.format(port=port), max_bytes=1000)
    assert listener.requests == []


async def test_loopback_is_refused_by_address_and_by_name(guarded: OutboundClient, listener: RecordingServer) -> None:
    port = listener.url.rsplit(":", 1)[1]
    for url in (f"{listener.url}/a", f"http://localhost:{port}/a", f"http://[::ffff:127.0.0.1]:{port}/a"):
        with pytest.raises(OutboundRefused, match="loopback") as refused:
            await guarded.request("POST", url, data={"x": "1"})
        assert "SWITCHBOARD_OUTBOUND_ALLOWED_NETWORKS" in str(refused.value)
    # Caught by the callers' handlers of any HTTP failure, too.
    assert issubclass(OutboundRefused, httpx.HTTPError)
    assert listener.requests == []


async def test_allowed_networks_reach_the_listener(loopback: OutboundClient, listener: RecordingServer) -> None:
    listener.script("/hello", Reply(200, {"hello": "world"}))
    response = await loopback.request("GET", f"{listener.url}/hello", params={"q": "1"}, max_bytes=1000)
    assert response.status_code == 200 and response.json() == {"hello": "world"} and response.is_success
    assert response.headers["content-type"] == "application/json"
    [request] = listener.received("/hello")
    assert request.query == {"q": ["1"]} and request.headers["User-Agent"] == "Switchboard"


async def test_an_allowed_host_name_skips_the_check_for_that_host_only(listener: RecordingServer) -> None:
    port = listener.url.rsplit(":", 1)[1]
    async with OutboundClient(OutboundPolicy.parse("localhost")) as client:
        assert (await client.request("GET", f"http://localhost:{port}/named")).status_code == 200
        with pytest.raises(OutboundRefused, match="loopback"):
            await client.request("GET", f"{listener.url}/numbered")
    assert [r.path for r in listener.requests] == ["/named"]


async def test_a_redirect_to_a_refused_address_is_refused(listener: RecordingServer) -> None:
    port = listener.url.rsplit(":", 1)[1]
    listener.script("/hop", Reply(302, "", {"Location": f"http://127.0.0.1:{port}/secret"}))
    listener.script("/to-file", Reply(301, "", {"Location": "file:///etc/passwd"}))
    async with OutboundClient(OutboundPolicy.parse("localhost")) as client:
        with pytest.raises(OutboundRefused, match="loopback"):
            await client.request("GET", f"http://localhost:{port}/hop")
        with pytest.raises(OutboundRefused, match="scheme"):
            await client.request("GET", f"http://localhost:{port}/to-file")
    assert [r.path for r in listener.requests] == ["/hop", "/to-file"]


async def test_redirects_are_followed_a_few_times_without_credentials_across_origins(
    loopback: OutboundClient, listener: RecordingServer
) -> None:
    port = listener.url.rsplit(":", 1)[1]
    async with OutboundClient(OutboundPolicy.parse(f"{LOOPBACK_NETWORKS},localhost")) as client:
        listener.script("/same", Reply(307, "", {"Location": "/same-landing"}))
        listener.script("/cross", Reply(302, "", {"Location": f"http://localhost:{port}/cross-landing"}))
        listener.script("/see-other", Reply(303, "", {"Location": "/seen"}))
        assert (await client.request("GET", f"{listener.url}/same", auth=("user", "secret"))).status_code == 200
        assert (await client.request("GET", f"{listener.url}/cross", auth=("user", "secret"))).status_code == 200
        await client.request("POST", f"{listener.url}/see-other", data={"a": "b"})
    assert listener.received("/same")[0].headers["Authorization"].startswith("Basic ")
    assert listener.received("/same-landing")[0].headers["Authorization"].startswith("Basic ")
    assert "Authorization" in listener.received("/cross")[0].headers
    [landing] = listener.received("/cross-landing")
    assert "Authorization" not in landing.headers and landing.headers["Host"] == f"localhost:{port}"
    [seen] = listener.received("/seen")
    assert seen.method == "GET" and seen.body == b""
    listener.script("/loop", Reply(302, "", {"Location": "/loop"}))
    with pytest.raises(httpx.TooManyRedirects):
        await loopback.request("GET", f"{listener.url}/loop")
    assert len(listener.received("/loop")) == 6  # the request and five redirects


async def test_bodies_are_capped_while_streaming(loopback: OutboundClient, listener: RecordingServer) -> None:
    listener.script("/big", Reply(200, "x" * 5000))
    with pytest.raises(ResponseTooLarge, match="1000 bytes"):
        await loopback.request("GET", f"{listener.url}/big", max_bytes=1000)
    assert (await loopback.request("GET", f"{listener.url}/big", max_bytes=5000)).content == b"x" * 5000
    # A body without a length that never ends: read up to the cap, never whole.
    sent = 0

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
        try:
            while True:
                writer.write(b"y" * 65536)
                sent += 65536
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(endless, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ResponseTooLarge, match="100000 bytes"):
            await loopback.request("GET", f"http://127.0.0.1:{port}/", max_bytes=100_000)
    finally:
        server.close()
        await server.wait_closed()
    assert sent > 0
    # Without a limit the body is not read at all (webhooks and callbacks look at the status).
    answered = await loopback.request("POST", f"{listener.url}/big")
    assert answered.status_code == 200 and answered.content == b""


async def test_a_silent_server_times_out(loopback: OutboundClient) -> None:
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(httpx.TimeoutException):
            await loopback.request("GET", f"http://127.0.0.1:{port}/", timeout_seconds=0.5)
    finally:
        release.set()
        server.close()


# --- every path, in a stack ------------------------------------------------------------------


@pytest.fixture(scope="module")
def refusing(make_stack: StackFactory) -> Stack:
    """A stack with the default outbound policy: ``outside`` (on loopback) is out of reach."""
    return make_stack(outbound_allowed_networks="")


def customer_media_message(stack: Stack, media_url: str) -> str:
    """The SID of an SMS customer's message carrying ``media_url`` (as Twilio reports it)."""
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service)
        params = stack.sms_params(flow["contact_identity"], new_phone(), "")
        params.update(NumMedia="1", MediaUrl0=media_url, MediaContentType0="image/jpeg")
        assert stack.post_webhook(http, params).status_code == 200
        return str(messages_of(http, service, only_channel(http, service)["sid"])[0]["sid"])


def test_provider_media_on_a_refused_address_is_a_403(refusing: Stack, stack: Stack, outside: RecordingServer) -> None:
    path = f"/media/{uuid.uuid4().hex}.jpg"
    outside.script(path, Reply(200, "a photo"))
    message_sid = customer_media_message(refusing, outside.url + path)
    with refusing.http() as http:
        response = http.get(f"/v1/Messages/{message_sid}/Media/0")
    assert response.status_code == 403, response.text
    assert "loopback" in response.json()["message"] and "SWITCHBOARD_OUTBOUND_ALLOWED_NETWORKS" in response.text
    assert outside.received(path) == []
    # Once the operator allows loopback, the same media is fetched.
    message_sid = customer_media_message(stack, outside.url + path)
    with stack.http() as http:
        fetched = http.get(f"/v1/Messages/{message_sid}/Media/0")
    assert fetched.status_code == 200 and fetched.content == b"a photo"
    assert len(outside.received(path)) == 1


def http_widgets_flow(base_url: str) -> dict[str, Any]:
    return {
        "initial_state": "Trigger",
        "states": [
            {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingRequest", "next": "req"}]},
            {
                "name": "req",
                "type": "make-http-request",
                "transitions": [{"event": "success", "next": "fn"}, {"event": "failed", "next": "fn"}],
                "properties": {"method": "GET", "url": f"{base_url}/studio-request"},
            },
            {
                "name": "fn",
                "type": "run-function",
                "transitions": [{"event": "success"}, {"event": "fail"}],
                "properties": {"url": f"{base_url}/studio-function"},
            },
        ],
    }


def run_http_widgets(stack: Stack, base_url: str) -> Any:
    flow_sid = create_flow(stack, http_widgets_flow(base_url))
    with stack.http() as http:
        _service, number = sms_flex_flow(stack, http, flow_sid)
    executions = stack.twilio().studio.v2.flows(flow_sid).executions
    execution = executions.create(to=new_phone(), from_=number)
    return eventually(lambda: ended(stack, flow_sid, execution.sid))


def test_studio_http_widgets_on_a_refused_address_fail_with_the_reason(
    refusing: Stack, stack: Stack, outside: RecordingServer
) -> None:
    base = f"{outside.url}/{uuid.uuid4().hex}"
    execution = run_http_widgets(refusing, base)
    steps = [(s.transitioned_from, s.name, s.transitioned_to) for s in execution.steps.list()]
    assert steps == [("Trigger", "incomingRequest", "req"), ("req", "failed", "fn"), ("fn", "fail", "Ended")]
    widgets = execution.execution_context().fetch().context["widgets"]
    for name in ("req", "fn"):
        assert "OutboundRefused" in widgets[name]["error"] and "loopback" in widgets[name]["error"], widgets
    assert [r for r in outside.requests if r.path.startswith(base.removeprefix(outside.url))] == []
    # Allowed: both widgets reach the listener and succeed.
    base = f"{outside.url}/{uuid.uuid4().hex}"
    execution = run_http_widgets(stack, base)
    steps = [(s.transitioned_from, s.name, s.transitioned_to) for s in execution.steps.list()]
    assert steps == [("Trigger", "incomingRequest", "req"), ("req", "success", "fn"), ("fn", "success", "Ended")]
    assert len(outside.received(base.removeprefix(outside.url) + "/studio-request")) == 1
    assert len(outside.received(base.removeprefix(outside.url) + "/studio-function")) == 1


def integration_failures(stack: Stack, flow_sid: str) -> list[dict[str, Any]]:
    with stack.http() as http:
        items: list[dict[str, Any]] = http.get(f"/v1/FlexFlows/{flow_sid}/IntegrationFailures").json()[
            "integration_failures"
        ]
    return items


def external_flow(stack: Stack, url: str) -> tuple[str, str]:
    """(Flex Flow SID, its address) of an ``external`` integration posting to ``url``, once a
    customer has written to it."""
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(
            http, service, IntegrationType="external", **{"Integration.Url": url, "Integration.RetryCount": "0"}
        )
        text(stack, http, flow["contact_identity"], new_phone(), "hello?")
    return str(flow["sid"]), str(flow["contact_identity"])


def test_an_integration_url_on_a_refused_address_is_a_recorded_failure(
    refusing: Stack, stack: Stack, outside: RecordingServer
) -> None:
    path = f"/integration/{uuid.uuid4().hex}"
    flow_sid, _ = external_flow(refusing, outside.url + path)

    def recorded() -> dict[str, Any]:
        [failure] = integration_failures(refusing, flow_sid)
        return failure

    failure = eventually(recorded)
    assert failure["url"] == outside.url + path and failure["attempts"] == 1
    assert "loopback" in failure["error"] and "SWITCHBOARD_OUTBOUND_ALLOWED_NETWORKS" in failure["error"]
    assert outside.received(path) == []
    # Allowed: the message is posted, nothing is recorded.
    flow_sid, _ = external_flow(stack, outside.url + path)

    def posted() -> Any:
        [request] = outside.received(path)
        return request

    assert eventually(posted).form["Body"] == "hello?"
    assert integration_failures(stack, flow_sid) == []


def router_activity_failures(stack: Stack, workspace_sid: str) -> list[str]:
    """The messages of the workspace router's failed activities, decoded as the Temporal UI shows them."""

    async def fetch(client: Client) -> list[str]:
        messages = []
        async for event in client.get_workflow_handle(router_id(workspace_sid)).fetch_history_events():
            if event.HasField("activity_task_failed_event_attributes"):
                failure = event.activity_task_failed_event_attributes.failure
                messages.append(str(await client.data_converter.decode_failure(failure)))
        return messages

    return stack.call(fetch)


def test_an_event_callback_on_a_refused_address_fails_without_a_request(
    refusing: Stack, stack: Stack, outside: RecordingServer
) -> None:
    path = f"/routing-events/{uuid.uuid4().hex}"
    space = new_space(refusing, event_callback_url=outside.url + path)
    space.add_worker("amy")
    space.create_task()

    def refused() -> list[str]:
        messages = router_activity_failures(refusing, space.sid)
        assert any("loopback" in m and "SWITCHBOARD_OUTBOUND_ALLOWED_NETWORKS" in m for m in messages), messages
        return messages

    eventually(refused)
    assert outside.received(path) == []
    # Routing itself goes on.
    assert space.workspace.tasks.list()[0].assignment_status in ("pending", "reserved")
    # Allowed: the events arrive.
    space = new_space(stack, event_callback_url=outside.url + path)
    space.create_task()

    def delivered() -> None:
        assert "task.created" in [r.form["EventType"] for r in outside.received(path)]

    eventually(delivered)


# --- provider credentials go to the provider's own media only ----------------------------------


def provider_settings(twilio: FakeTwilio, meta: FakeMeta) -> Settings:
    return Settings(
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_api_url=twilio.url,
        meta_access_token=meta.access_token,
        meta_graph_url=meta.url,
        outbound_allowed_networks="127.0.0.0/8",
    )


def test_the_twilio_credentials_go_only_to_twilio_media_paths() -> None:
    """A media URL a sender chose on the Twilio API's host (a custom channel passes URLs on as
    they come) is fetched without the account's credentials unless it is a media path of this
    account: the API's other resources are never read on a customer's behalf."""
    twilio = FakeTwilio("AC" + secrets.token_hex(16), secrets.token_hex(16)).start()
    meta = FakeMeta(secrets.token_hex(16)).start()
    try:
        settings = provider_settings(twilio, meta)
        account = f"/2010-04-01/Accounts/{twilio.account_sid}"
        photo = twilio.keep_media(
            f"{account}/Messages/MM{secrets.token_hex(16)}/Media/ME{secrets.token_hex(16)}", "image/png", b"p"
        )
        assert asyncio.run(fetch_provider_media(settings, photo)) == (b"p", "image/png")
        for path in (
            f"{account}/Messages.json",
            f"{account}/Keys.json",
            "/2010-04-01/Accounts/AC" + "0" * 32 + "/Media/ME1",
        ):
            twilio.files[path] = ("application/json", b'{"secret": "of the account"}')
            with pytest.raises(TwilioError, match="did not serve"):
                asyncio.run(fetch_provider_media(settings, twilio.url + path))
            [asked] = [r for r in twilio.requests if r.path == path]
            assert "Authorization" not in asked.headers
    finally:
        twilio.stop()
        meta.stop()


def test_the_meta_token_goes_only_to_meta() -> None:
    """A Meta media id is a number: anything else is not looked up. The bearer token goes to the
    Graph API and to the media URL Meta describes only when that URL is Meta's own."""
    twilio = FakeTwilio("AC" + secrets.token_hex(16), secrets.token_hex(16)).start()
    meta = FakeMeta(secrets.token_hex(16)).start()
    elsewhere = FakeTwilio("AC" + secrets.token_hex(16), secrets.token_hex(16)).start()
    try:
        settings = provider_settings(twilio, meta)
        meta.keep_meta_media("42", "image/png", b"png")
        assert asyncio.run(fetch_provider_media(settings, "meta-media:42")) == (b"png", "image/png")
        for crafted in ("meta-media:me", "meta-media:42/../me", "meta-media:42?fields=access_token", "meta-media:"):
            before = len(meta.requests)
            with pytest.raises(TwilioError) as refused:
                asyncio.run(fetch_provider_media(settings, crafted))
            assert refused.value.status == 404 and len(meta.requests) == before
        # Meta describes a media URL on another host: fetched without the token.
        foreign = elsewhere.url + "/download/7"
        meta.files["/7"] = ("application/json", json.dumps({"url": foreign, "mime_type": "image/png"}).encode())
        with pytest.raises(TwilioError):
            asyncio.run(fetch_provider_media(settings, "meta-media:7"))
        [asked] = [r for r in elsewhere.requests if r.path == "/download/7"]
        assert "Authorization" not in asked.headers
    finally:
        twilio.stop()
        meta.stop()
        elsewhere.stop()
