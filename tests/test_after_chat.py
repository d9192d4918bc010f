"""After the chat, over the real sockets and the official client: the agent's wrap-up disposition
(one of the configured list, refused otherwise) lands in the task's attributes as
``conversations.outcome``; the customer rates the ended conversation once (1 to 5, a comment), only
for their own channel; the ratings appear in the cumulative statistics."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.sockets import as_agent, as_customer, command, event, frame, open_session, refused, sign_in
from tests.helpers.stack import Stack, StackFactory

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends


@pytest.fixture(scope="module")
def web(make_stack: StackFactory) -> Stack:
    return make_stack(desk_dev_sign_in=True, wrapup_dispositions="Resolved, Call back")


async def closed_code(connection: Any) -> int:
    async with connection as ws:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def test_a_disposition_at_wrap_up_and_a_rating_after_the_chat(web: Stack) -> None:
    agent = sign_in(web, "rita")
    ada, bea = open_session(web, "Ada"), open_session(web, "Bea")
    channel_sid = ada["channel_sid"]

    async def converse() -> dict[str, Any]:
        async with as_agent(web, agent["token"]) as desk, as_customer(web, ada["token"]) as chat:
            ready = await frame(desk, lambda f: f["type"] == "ready")
            assert ready["dispositions"] == ["Resolved", "Call back"]
            await frame(chat, lambda f: f["type"] == "ready")
            await command(desk, "a1", "set_activity", activity="Available")
            await command(chat, "c1", "send_message", body="My parcel is late", key="k1")
            offered = await frame(desk, event("reservation.created"))
            reservation = offered["data"]["reservation_sid"]
            await command(desk, "a2", "accept", reservation_sid=reservation)

            early = await refused(chat, "c2", "rate_chat", rating=5)
            assert early["code"] == 409 and "not ended" in early["message"]

            wrong = await refused(desk, "a3", "wrapup", reservation_sid=reservation, disposition="Sold a car")
            assert wrong["code"] == 400 and "'disposition'" in wrong["message"] and "Resolved" in wrong["message"]
            wrapped = await command(desk, "a4", "wrapup", reservation_sid=reservation, disposition="Call back")
            await frame(desk, event("task.wrapup", task_sid=wrapped["task_sid"]))
            # Another pick at completion replaces it.
            await command(desk, "a5", "complete", reservation_sid=reservation, disposition="Resolved")
            await frame(desk, event("task.completed"))

            for bad in (0, 6, "5", 4.5, True):
                answer = await refused(chat, f"c3-{bad}", "rate_chat", rating=bad)
                assert answer["code"] == 400 and "'rating'" in answer["message"]
            long = await refused(chat, "c4", "rate_chat", rating=4, comment="x" * 1001)
            assert long["code"] == 400 and "'comment'" in long["message"]
            rated = await command(chat, "c5", "rate_chat", rating=4, comment="Quick and kind")
            assert rated == {
                "channel_sid": channel_sid,
                "task_sid": wrapped["task_sid"],
                "rating": 4,
                "duplicate": False,
            }
            # Sent again (a reconnect, a second tab): the first rating stands.
            again = await command(chat, "c6", "rate_chat", rating=1, task_sid=wrapped["task_sid"])
            assert again == {**rated, "duplicate": True}

        # Another customer cannot rate Ada's conversation, nor one of their own that never was.
        async with as_customer(web, bea["token"]) as other:
            await frame(other, lambda f: f["type"] == "ready")
            theirs = await refused(other, "b1", "rate_chat", rating=1, task_sid=wrapped["task_sid"])
            assert theirs["code"] == 404
            none = await refused(other, "b2", "rate_chat", rating=1)
            assert none["code"] == 404
        # An agent's token is no customer's; no token at all reaches nothing.
        assert await closed_code(as_customer(web, agent["token"])) == 4403
        assert await closed_code(as_customer(web, "not-a-token")) in (4401, 4403)
        return wrapped

    wrapped = asyncio.run(converse())

    defaults = plan_flex_defaults(web.settings).defaults
    workspace = web.twilio().taskrouter.v1.workspaces(defaults.workspace_sid)
    task = workspace.tasks(wrapped["task_sid"]).fetch()
    attributes = json.loads(task.attributes)
    assert attributes["conversations"]["outcome"] == "Resolved"
    assert attributes["name"] == "Ada"  # the other attributes are kept
    assert task.assignment_status == "completed"

    # The official client still reads the statistics; Switchboard's own field carries the ratings.
    stats = workspace.cumulative_statistics().fetch(minutes=60)
    assert stats.tasks_completed >= 1
    with web.http() as http:
        body = http.get(f"/v1/Workspaces/{defaults.workspace_sid}/CumulativeStatistics?Minutes=60").json()
        queue = http.get(
            f"/v1/Workspaces/{defaults.workspace_sid}/TaskQueues/{task.task_queue_sid}/Statistics?Minutes=60"
        ).json()
        before = http.get(
            f"/v1/Workspaces/{defaults.workspace_sid}/CumulativeStatistics?StartDate=2019-12-31T00:00:00Z&EndDate=2020-01-01T00:00:00Z"
        ).json()
    ratings = body["switchboard_post_chat_ratings"]
    assert ratings == {"count": 1, "average": 4.0, "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}}
    assert queue["cumulative"]["switchboard_post_chat_ratings"] == ratings
    assert before["switchboard_post_chat_ratings"] == {
        "count": 0,
        "average": None,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
    }
