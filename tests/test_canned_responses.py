"""Canned responses (Switchboard's own REST resource under a workspace) and agents' display names:
admins write responses, supervisors read them, agents get theirs over the agent socket (the
workspace's and their queues'), and everyone else is refused; a worker's ``full_name`` and
``image_url`` are checked when saved, and the customer's socket shows the agent by its display
name and picture, never by its identity."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from api.agent_profiles import image_url_problem
from api.canned_responses import checked_body, checked_shortcut
from api.twilio_shape import TwilioError
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.browser import worker_named
from tests.helpers.business_hours import closed_today, set_hours
from tests.helpers.jwks import JwksServer
from tests.helpers.sockets import as_agent, as_customer, command, event, frame, open_session, sign_in
from tests.helpers.stack import Stack, StackFactory

# The store's tests (a shortcut's uniqueness, the new table): each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends


@pytest.fixture(scope="module")
def web(make_stack: StackFactory, jwks: JwksServer) -> Stack:
    return make_stack(desk_dev_sign_in=True, channel_inactivity_seconds=300.0, **jwks.settings())


def workspace_path(stack: Stack) -> str:
    return f"/v1/Workspaces/{plan_flex_defaults(stack.settings).defaults.workspace_sid}"


def token(stack: Stack, role: str, identity: str) -> str:
    """A token of ``role`` for a dev-signed-in worker of the default workspace."""
    worker = sign_in(stack, identity)["grants"]["task_router"]
    form = {
        "Identity": identity,
        "Role": role,
        "WorkspaceSid": worker["workspace_sid"],
        "WorkerSid": worker["worker_sid"],
    }
    with stack.http() as http:
        response = http.post("/v1/Tokens", data=form)
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def bearer(stack: Stack, value: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {value}"} if value else {}
    return httpx.Client(base_url=stack.url, headers=headers, timeout=30)


def set_profile(stack: Stack, identity: str, **profile: Any) -> None:
    worker = worker_named(stack, identity)
    attributes = {**json.loads(worker.attributes), **profile}
    worker.update(attributes=json.dumps(attributes))


@pytest.mark.fast
def test_bodies_shortcuts_and_pictures_are_checked() -> None:
    assert checked_body("Hi {{ customer.first_name }}, {{agent.name}} here.").startswith("Hi")
    for body, problem in (("", "empty"), ("{{ customer.name ", "Liquid"), ("{% if %}", "Liquid"), ("x" * 4001, "4000")):
        with pytest.raises(TwilioError, match=problem) as refused:
            checked_body(body)
        assert "Body" in refused.value.message and refused.value.status == 400
    assert checked_shortcut("/Greet") == "greet"
    for shortcut in ("", "-x", "has space", "a" * 33, "é"):
        with pytest.raises(TwilioError, match="Shortcut"):
            checked_shortcut(shortcut)
    for good in ("https://cdn.example/maya.png", "/static/maya.png"):
        assert image_url_problem(good) is None, good
    for bad in (
        "http://cdn.example/maya.png",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "//evil.example/x.png",
        "https://user:pw@cdn.example/x.png",
        "maya.png",
        "https://cdn.example/a b.png",
        42,
    ):
        assert image_url_problem(bad) is not None, bad


def test_admins_manage_canned_responses_in_twilios_style(web: Stack) -> None:
    base = workspace_path(web) + "/CannedResponses"
    queue = plan_flex_defaults(web.settings).defaults.task_queue_sid
    with web.http() as http:
        created = http.post(
            base, data={"FriendlyName": "Greeting", "Shortcut": "greet", "Body": "Hi {{customer.first_name}}!"}
        )
        assert created.status_code == 201, created.text
        row = created.json()
        assert row["sid"].startswith("CN") and row["shortcut"] == "greet" and row["task_queue_sid"] is None
        assert row["url"].endswith(f"{base}/{row['sid']}") and row["links"]["task_queue"] is None
        # A shortcut is unique in its workspace.
        again = http.post(base, data={"FriendlyName": "Again", "Shortcut": "GREET", "Body": "x"})
        assert again.status_code == 409 and "greet" in again.json()["message"]
        for form, field in (
            ({"FriendlyName": "Bad", "Shortcut": "bad", "Body": "{{ oops"}, "Body"),
            ({"FriendlyName": "Bad", "Shortcut": "no spaces", "Body": "x"}, "Shortcut"),
            ({"FriendlyName": "Bad", "Shortcut": "q", "Body": "x", "TaskQueueSid": "WQ" + "0" * 32}, "TaskQueueSid"),
            ({"Shortcut": "nameless", "Body": "x"}, "FriendlyName"),
        ):
            refused = http.post(base, data=form)
            assert refused.status_code == 400 and field in refused.json()["message"], refused.text
            assert refused.json()["code"] and refused.json()["status"] == 400
        queued = http.post(
            base,
            data={
                "FriendlyName": "Refund",
                "Shortcut": "refund",
                "Body": "Refunds take 3 days.",
                "TaskQueueSid": queue,
            },
        ).json()
        assert queued["task_queue_sid"] == queue and queued["links"]["task_queue"].endswith(queue)

        page = http.get(base, params={"PageSize": 1}).json()
        assert [r["sid"] for r in page["canned_responses"]] == [row["sid"]]
        assert page["meta"]["key"] == "canned_responses" and page["meta"]["next_page_url"]
        assert [r["sid"] for r in http.get(base, params={"TaskQueueSid": queue}).json()["canned_responses"]] == [
            queued["sid"]
        ]
        updated = http.post(f"{base}/{row['sid']}", data={"Body": "Hello {{ customer.first_name }}!"}).json()
        assert updated["body"] == "Hello {{ customer.first_name }}!" and updated["date_updated"] >= row["date_updated"]
        assert http.get(f"{base}/{row['sid']}").json()["body"] == updated["body"]
        assert http.post(f"{base}/{row['sid']}", data={"Body": "{% for %}"}).status_code == 400
        assert http.delete(f"{base}/{queued['sid']}").status_code == 204
        gone = http.get(f"{base}/{queued['sid']}")
        assert gone.status_code == 404 and gone.json()["code"] == 20404


def test_only_admins_write_supervisors_read_and_the_rest_are_refused(web: Stack) -> None:
    base = workspace_path(web) + "/CannedResponses"
    form = {"FriendlyName": "Bye", "Shortcut": "bye", "Body": "Bye {{customer.name}}."}
    admin, supervisor, agent = (token(web, role, f"{role}-cr") for role in ("admin", "supervisor", "agent"))
    customer = open_session(web, "Cal")["token"]
    with bearer(web, admin) as http:
        made = http.post(base, data=form)
        assert made.status_code == 201, made.text
    sid = made.json()["sid"]
    with bearer(web, supervisor) as http:
        assert http.get(base).status_code == 200 and http.get(f"{base}/{sid}").status_code == 200
        assert http.post(base, data={**form, "Shortcut": "sup"}).status_code == 403
        assert http.delete(f"{base}/{sid}").status_code == 403
    for caller, status in ((agent, 403), (customer, 403), (None, 401)):
        with bearer(web, caller) as http:
            assert http.get(base).status_code == status
            assert http.post(base, data={**form, "Shortcut": "nope"}).status_code == status
            assert http.post(f"{base}/{sid}", data={"Body": "changed"}).status_code == status
            assert http.delete(f"{base}/{sid}").status_code == status
    with web.http() as http:
        assert http.get(f"{base}/{sid}").json()["body"] == form["Body"]


def test_agents_get_the_workspaces_responses_and_their_queues(web: Stack) -> None:
    client = web.twilio()
    ws_path = workspace_path(web)
    workspace = client.taskrouter.v1.workspaces(ws_path.rsplit("/", 1)[-1])
    mine = workspace.task_queues.create(friendly_name="cr-vip", target_workers="routing.skills HAS 'vip'")
    theirs = workspace.task_queues.create(friendly_name="cr-billing", target_workers="routing.skills HAS 'billing'")
    agent = sign_in(web, "vip-agent")
    set_profile(web, "vip-agent", routing={"skills": ["support", "vip"]})
    with web.http() as http:
        for shortcut, queue in (("all-hello", ""), ("vip-hello", mine.sid), ("billing-hello", theirs.sid)):
            form = {"FriendlyName": shortcut, "Shortcut": shortcut, "Body": f"{shortcut} {{{{agent.name}}}}"}
            assert http.post(f"{ws_path}/CannedResponses", data={**form, "TaskQueueSid": queue}).status_code == 201

    async def ask() -> list[dict[str, Any]]:
        async with as_agent(web, agent["token"]) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            answer = await command(desk, "c1", "canned_responses")
            return list(answer["canned_responses"])

    got = {r["shortcut"]: r for r in asyncio.run(ask())}
    assert {"all-hello", "vip-hello"} <= set(got) and "billing-hello" not in got
    assert got["vip-hello"]["body"] == "vip-hello {{agent.name}}" and got["vip-hello"]["task_queue_sid"] == mine.sid
    assert set(got["all-hello"]) == {"sid", "friendly_name", "shortcut", "body", "task_queue_sid"}


def test_a_queue_admits_by_business_hours_as_routing_does(web: Stack) -> None:
    """A queue whose TargetWorkers reads ``taskrouter.businessOpen`` gives its responses to the
    agents it admits as the router and the Workers list decide it: by the workspace's hours."""
    client = web.twilio()
    ws_path = workspace_path(web)
    workspace_sid = ws_path.rsplit("/", 1)[-1]
    workspace = client.taskrouter.v1.workspaces(workspace_sid)
    day = workspace.task_queues.create(friendly_name="cr-day", target_workers="taskrouter.businessOpen == true")
    night = workspace.task_queues.create(friendly_name="cr-night", target_workers="taskrouter.businessOpen == false")
    agent = sign_in(web, "night-agent")
    with web.http() as http:
        for shortcut, queue in (("day-hello", day.sid), ("night-hello", night.sid)):
            form = {"FriendlyName": shortcut, "Shortcut": shortcut, "Body": shortcut, "TaskQueueSid": queue}
            assert http.post(f"{ws_path}/CannedResponses", data=form).status_code == 201
        set_hours(http, workspace_sid, closed_today())

    async def ask() -> set[str]:
        async with as_agent(web, agent["token"]) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            answer = await command(desk, "c1", "canned_responses")
            return {r["shortcut"] for r in answer["canned_responses"]}

    try:
        # Closed: the night queue admits the agent, the day queue does not (as its Workers list says).
        got = asyncio.run(ask())
        assert "night-hello" in got and "day-hello" not in got, got
        assert agent["worker_sid"] in [w.sid for w in workspace.workers.list(task_queue_sid=night.sid)]
        assert agent["worker_sid"] not in [w.sid for w in workspace.workers.list(task_queue_sid=day.sid)]
    finally:
        with web.http() as http:
            set_hours(http, workspace_sid, {"Enabled": "false"})
    got = asyncio.run(ask())  # hours off: always open
    assert "day-hello" in got and "night-hello" not in got, got


def test_a_workers_picture_and_name_are_checked_when_saved(web: Stack) -> None:
    sign_in(web, "pic-agent")
    worker = worker_named(web, "pic-agent")
    path = f"{workspace_path(web)}/Workers/{worker.sid}"
    with web.http() as http:
        for attributes, field in (
            ({"image_url": "http://cdn.example/p.png"}, "Attributes.image_url"),
            ({"image_url": "javascript:alert(1)"}, "Attributes.image_url"),
            ({"full_name": ""}, "Attributes.full_name"),
            ({"full_name": "x" * 65}, "Attributes.full_name"),
        ):
            refused = http.post(path, data={"Attributes": json.dumps(attributes)})
            assert refused.status_code == 400 and field in refused.json()["message"], refused.text
        created = http.post(
            f"{workspace_path(web)}/Workers",
            data={"FriendlyName": "pic-2", "Attributes": json.dumps({"image_url": "ftp://x/y.png"})},
        )
        assert created.status_code == 400 and "Attributes.image_url" in created.json()["message"]
        fine = {"full_name": "Pia", "image_url": "https://cdn.example/pia.png"}
        assert http.post(path, data={"Attributes": json.dumps(fine)}).status_code == 200


def test_the_customer_sees_the_agents_display_name_and_picture_never_its_identity(web: Stack) -> None:
    identity = "maya.lopez"
    agent = sign_in(web, identity)
    avatar = "https://cdn.example/maya.png"
    set_profile(web, identity, full_name="Maya", image_url=avatar)
    session = open_session(web, "Ada")
    channel_sid = session["channel_sid"]
    seen: list[dict[str, Any]] = []

    async def converse() -> None:
        async with as_agent(web, agent["token"]) as desk, as_customer(web, session["token"]) as chat:
            seen.append(await frame(chat, lambda f: f["type"] == "ready"))
            ready = await frame(desk, lambda f: f["type"] == "ready")
            assert ready["worker"]["display_name"] == "Maya" and ready["worker"]["avatar_url"] == avatar
            await command(desk, "a1", "set_activity", activity="Available")
            await command(chat, "c1", "send_message", body="Hello?", key="k1")
            offered = await frame(desk, event("reservation.created"))
            await command(desk, "a2", "accept", reservation_sid=offered["data"]["reservation_sid"])
            seen.append(await frame(chat, event("member.joined")))
            await command(desk, "a3", "typing", channel_sid=channel_sid)
            seen.append(await frame(chat, event("typing")))
            sent = await command(desk, "a4", "send_message", channel_sid=channel_sid, body="Hi Ada", key="d1")
            seen.append(await frame(chat, event("message", sid=sent["sid"])))
            await command(desk, "a5", "mark_read", channel_sid=channel_sid, index=0)
            seen.append(await frame(chat, event("read")))
            seen.append(await command(chat, "c2", "history"))
            directory = await command(desk, "a6", "directory")
            me = next(w for w in directory["workers"] if w["identity"] == identity)
            assert me["display_name"] == "Maya" and me["avatar_url"] == avatar
        async with as_customer(web, session["token"]) as chat:
            again = await frame(chat, lambda f: f["type"] == "ready")
            assert again["read"] == {"Maya": 0}
            seen.append(again)

    asyncio.run(converse())
    joined, typing, message, read, history = seen[1:6]
    assert joined["data"]["identity"] == "Maya" and joined["data"]["avatar_url"] == avatar
    assert typing["data"]["identity"] == "Maya"
    assert message["data"]["from"] == "Maya" and message["data"]["avatar_url"] == avatar
    assert read["data"]["identity"] == "Maya"
    assert [m["from"] for m in history["messages"]] == [session["identity"], "Maya"]
    # Nothing the customer received names the agent's identity.
    assert identity not in json.dumps(seen)
    # Chat's REST keeps Twilio's shape: ``from`` is the identity.
    service = plan_flex_defaults(web.settings).defaults.chat_service_sid
    messages = web.twilio().chat.v2.services(service).channels(channel_sid).messages.list()
    assert [m._from for m in messages] == [session["identity"], identity]


def test_a_single_sign_on_name_claim_names_a_worker_without_a_display_name(web: Stack, jwks: JwksServer) -> None:
    grants = {}
    for identity in ("sam@example.com", "kim@example.com"):
        grants[identity] = sign_in(web, identity)["grants"]["task_router"]
    set_profile(web, "kim@example.com", full_name="Kim")  # the admin's choice stays

    async def connect(identity: str, name: str) -> dict[str, Any]:
        claim = {"role": "agent", "task_router": grants[identity]}
        sso = jwks.sign({"sub": identity, "name": name, "switchboard": claim})
        async with as_agent(web, sso) as desk:
            return await frame(desk, lambda f: f["type"] == "ready")

    assert asyncio.run(connect("sam@example.com", "Sam Doe"))["worker"]["display_name"] == "Sam Doe"
    assert json.loads(worker_named(web, "sam@example.com").attributes)["full_name"] == "Sam Doe"
    assert asyncio.run(connect("kim@example.com", "Kimberly"))["worker"]["display_name"] == "Kim"
