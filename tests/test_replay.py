"""Replay of recorded channel histories with the current workflow code: a change that would break
running channels (non-determinism) fails here.

``tests/histories/*.json`` were recorded from real runs and are committed; new ones are recorded in
every run too. Histories of earlier workflow versions (``v1-*``) stay: channels started then may
still be running. Set ``SWITCHBOARD_RECORD_HISTORIES=1`` to (re)write the current version's set
(``RECORDING_PREFIX``); after a deliberate, versioned change, bump the prefix first."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from switchboard.store.payload_codec import EncryptionCodec, data_converter
from tests.helpers.flows import QUIZ, create_flow, task_flex_flow
from tests.helpers.messages import conversation, text
from tests.helpers.recording import RecordingServer, Reply
from tests.helpers.routing import Routing, add_worker, pending_reservation
from tests.helpers.stack import Stack, StackFactory, eventually, new_phone, test_settings
from workflows.channel import ChannelWorkflow
from workflows.routing.messages import router_id
from workflows.routing.router import WorkspaceRouter

ENCRYPTED_ENCODING = base64.b64encode(b"binary/encrypted").decode()
HISTORIES = Path(__file__).parent / "histories"
# Histories recorded by earlier versions of the workflow stay and must keep replaying; a new
# recording only replaces the files of the current prefix.
RECORDING_PREFIX = "v3-channel"


def run_studio_scenarios(stack: Stack) -> list[str]:
    """A flow that waits across a continue-as-new (run budget 3), and a REST-triggered execution
    ended through the API while it waits."""
    flow_sid = create_flow(stack, QUIZ)
    customer, other = new_phone(), new_phone()
    with stack.http() as http:
        service = stack.create_service(http)
        flex = stack.create_flex_flow(http, service, IntegrationType="studio", **{"Integration.FlowSid": flow_sid})
        number = flex["contact_identity"]
        text(stack, http, number, customer, "hi")
        conversation(http, service, 2)
        text(stack, http, number, customer, "what?")
        conversation(http, service, 4)
        text(stack, http, number, customer, "1")
        # The wait survived the continuation: one question per answer, no repeat.
        assert [body for _, body in conversation(http, service, 6)] == [
            "hi",
            "Reply 1 to go on",
            "what?",
            "Reply 1 to go on",
            "1",
            "Thanks, you said 1",
        ]
        [quiz_channel] = [c["sid"] for c in http.get(f"/v2/Services/{service}/Channels").json()["channels"]]

        def crossed() -> None:  # visibility lags behind a continue-as-new under load
            runs = stack.call(lambda c: _count(c, f'WorkflowId="{quiz_channel}"'))
            assert runs >= 2, "the waiting flow was expected to cross a continue-as-new"

        eventually(crossed)
        executions = stack.twilio().studio.v2.flows(flow_sid).executions
        started = executions.create(to=other, from_=number)
        assert started.status == "active"

        def asked_both() -> list[str]:
            channels = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
            assert len(channels) == 2 and all(c["messages_count"] >= 1 for c in channels), channels
            return [c["sid"] for c in channels]

        channels = eventually(asked_both)
        assert executions(started.sid).update(status="ended").status == "ended"
        assert executions(started.sid).fetch().status == "ended"
    return channels


def run_conversation_lifecycle(stack: Stack) -> str:
    """Conversations' state and timers: made inactive by REST, reactivated by a message, given
    timers, closed for good (the run ends), and a post refused after the close."""
    with stack.http() as http:
        sid = http.post("/v1/Conversations", data={"FriendlyName": "lifecycle", "Timers.Closed": "PT1H"}).json()["sid"]
        url = f"/v1/Conversations/{sid}"
        assert http.post(f"{url}/Messages", data={"Author": "ann", "Body": "one"}).status_code == 201
        assert http.post(url, data={"State": "inactive"}).json()["state"] == "inactive"
        assert http.post(f"{url}/Messages", data={"Author": "ann", "Body": "two"}).status_code == 201
        assert http.post(url, data={"Timers.Inactive": "PT5M"}).status_code == 200
        assert http.post(url, data={"State": "closed"}).json()["state"] == "closed"
        refused = http.post(f"{url}/Messages", data={"Author": "ann", "Body": "three"})
        assert refused.status_code == 400 and refused.json()["code"] == 50377, refused.text
    return str(sid)


def run_external_scenario(stack: Stack) -> str:
    """An external integration's posts (run budget 3): one taken on its retry, one that fails and
    is recorded, the rest taken, the channel continuing as new with posts queued; then a trigger
    webhook's post."""
    server = RecordingServer()
    try:
        server.script("/hook", Reply(500), Reply(200), Reply(503), Reply(503), Reply(200))
        with stack.http() as http:
            service = stack.create_service(http)
            flow = stack.create_flex_flow(
                http,
                service,
                IntegrationType="external",
                **{"Integration.Url": f"{server.url}/hook", "Integration.RetryCount": "1"},
            )
            customer = new_phone()
            bodies = ["one", "two", "three", "four", "five"]
            for body in bodies:
                text(stack, http, flow["contact_identity"], customer, body)

            def posted() -> None:
                taken = [r.form["Body"] for r in server.received("/hook")][-3:]
                assert taken == bodies[2:], taken

            eventually(posted)
            [channel] = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
            # A trigger webhook added through the channel's workflow gets the message naming its
            # keyword (by GET), after the integration.
            webhooks = stack.twilio().chat.v2.services(service).channels(channel["sid"]).webhooks
            webhooks.create(
                type="trigger",
                configuration_url=f"{server.url}/keyword",
                configuration_method="GET",
                configuration_triggers=["agent"],
            )
            text(stack, http, flow["contact_identity"], customer, "an agent, please")

            def triggered() -> None:
                assert [r.query["Body"] for r in server.received("/keyword")] == [["an agent, please"]]

            eventually(triggered)
    finally:
        server.close()
    return str(channel["sid"])


def replay(histories: list[WorkflowHistory], converter: DataConverter) -> None:
    async def run() -> None:
        replayer = Replayer(workflows=[ChannelWorkflow, WorkspaceRouter], data_converter=converter)
        for history in histories:
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            assert result.replay_failure is None, (history.workflow_id, result.replay_failure)

    asyncio.run(run())


def run_scenarios(stack: Stack) -> list[str]:
    """Drive every path of the channel workflow; answers the workflow ids involved."""
    with stack.http() as http:
        service = stack.create_service(http)
        short = stack.create_flex_flow(http, service)
        long = stack.create_flex_flow(http, service, LongLived="true")
        customer = new_phone()
        for flow in (short, long):
            for body in ("one", "two"):
                params = stack.sms_params(flow["contact_identity"], customer, body)
                assert stack.post_webhook(http, params).status_code == 200

        def closed() -> None:
            channels = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
            assert len(channels) == 2 and all('"INACTIVE"' in c["attributes"] for c in channels)

        eventually(closed)
        for flow in (short, long):  # after the close: a successor, and a reopened channel
            assert (
                stack.post_webhook(http, stack.sms_params(flow["contact_identity"], customer, "again")).status_code
                == 200
            )
        rest = http.post(f"/v2/Services/{service}/Channels", data={"FriendlyName": "rest"}).json()["sid"]
        assert (
            http.post(f"/v2/Services/{service}/Channels/{rest}/Members", data={"Identity": "alice"}).status_code == 201
        )
        for i in range(4):  # crosses the run budget: continue-as-new
            url = f"/v2/Services/{service}/Channels/{rest}/Messages"
            assert http.post(url, data={"Body": f"rest {i}"}).status_code == 201

        def settled() -> list[str]:
            channels = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
            assert len(channels) == 4 and sum(c["messages_count"] for c in channels) == 10
            return [c["sid"] for c in channels]

        sids = eventually(settled)

        def all_closed() -> None:  # every run ended, so each history is complete
            query = " OR ".join(f'WorkflowId="{sid}"' for sid in sids)
            running = stack.call(lambda c: _count(c, f"ExecutionStatus='Running' AND ({query})"))
            assert running == 0

        sids.append(run_conversation_lifecycle(stack))
        sids += run_studio_scenarios(stack)
        sids.append(run_external_scenario(stack))
        routed_channel, router = run_routing_scenario(stack)
        sids.append(routed_channel)
        eventually(all_closed)
        # The router runs as long as its workspace: its history so far replays too.
        return [*sids, router]


def run_routing_scenario(stack: Stack) -> tuple[str, str]:
    """A task offered, rejected, offered again, accepted, wrapped up and completed; answers the
    conversation's channel and the workspace's router."""
    routing = Routing(stack)
    first = add_worker(routing, "first", {})
    second = add_worker(routing, "second", {})
    with stack.http() as http:
        service, number = task_flex_flow(stack, http, routing)
        text(stack, http, number, new_phone(), "help")
        workers = [first, second]

        def some_offer() -> tuple[Any, Any]:
            for worker in workers:
                try:
                    return worker, pending_reservation(routing, worker.sid)
                except ValueError:
                    continue
            raise AssertionError("no offer yet")

        declined_by, offer = eventually(some_offer)
        offer.update(reservation_status="rejected")
        other = second if declined_by.sid == first.sid else first
        offer = eventually(lambda: pending_reservation(routing, other.sid))
        accepted = offer.update(reservation_status="accepted")
        accepted.update(reservation_status="wrapping")
        accepted.update(reservation_status="completed")
        [channel] = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
    return channel["sid"], router_id(routing.workspace.sid)


async def _count(client: Client, query: str) -> int:
    return len([w async for w in client.list_workflows(query)])


def fetch_histories(stack: Stack, workflow_ids: list[str]) -> list[WorkflowHistory]:
    async def fetch(client: Client) -> list[WorkflowHistory]:
        histories = []
        for workflow_id in workflow_ids:
            async for execution in client.list_workflows(f'WorkflowId="{workflow_id}"'):
                handle = client.get_workflow_handle(workflow_id, run_id=execution.run_id)
                histories.append(await handle.fetch_history())
        return histories

    return stack.call(fetch)


@dataclass
class Recorded:
    histories: list[WorkflowHistory]
    # The stack's data converter: its histories' payloads are encrypted under its codec key.
    converter: DataConverter
    codec: EncryptionCodec


@pytest.fixture(scope="module")
def recorded(make_stack: StackFactory) -> Recorded:
    stack = make_stack(channel_inactivity_seconds=1.0, channel_run_message_budget=3)
    return Recorded(
        fetch_histories(stack, run_scenarios(stack)),
        data_converter(stack.settings),
        EncryptionCodec.from_settings(stack.settings),
    )


def decrypted(history: WorkflowHistory, codec: EncryptionCodec) -> dict[str, Any]:
    """The history's JSON with every encrypted payload decoded: committed histories must stay
    readable without the (random) key of the run that recorded them."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("metadata", {}).get("encoding") == ENCRYPTED_ENCODING:
                return json_format.MessageToDict(codec.decode_one(json_format.ParseDict(node, Payload())))
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    result: dict[str, Any] = walk(json.loads(history.to_json()))
    return result


def test_fresh_histories_replay(recorded: Recorded) -> None:
    # Several runs per channel: first runs, successors, reopenings and continuations.
    assert len(recorded.histories) >= 6
    replay(recorded.histories, recorded.converter)
    plain = [decrypted(history, recorded.codec) for history in recorded.histories]
    # The payloads were encrypted in Temporal, and come out readable.
    assert ENCRYPTED_ENCODING in json.dumps([json.loads(h.to_json()) for h in recorded.histories])
    assert ENCRYPTED_ENCODING not in json.dumps(plain)
    if os.environ.get("SWITCHBOARD_RECORD_HISTORIES") == "1":
        HISTORIES.mkdir(exist_ok=True)
        for old in HISTORIES.glob(f"{RECORDING_PREFIX}-*.json"):
            old.unlink()
        for n, history in enumerate(plain):
            (HISTORIES / f"{RECORDING_PREFIX}-{n:02d}.json").write_text(json.dumps(history, indent=2))


def test_committed_histories_replay(tmp_path: Path) -> None:
    """Plain histories (recorded decrypted, or written before payloads were encrypted) replay
    with the encrypting converter: its codec passes unencrypted payloads through."""
    files = sorted(HISTORIES.glob("*.json"))
    assert len(files) >= 6, "recorded histories are missing from tests/histories"
    histories = [WorkflowHistory.from_json(f.stem, json.loads(f.read_text())) for f in files]
    replay(histories, data_converter(test_settings(tmp_path)))


def test_replay_detects_a_breaking_change(recorded: Recorded, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is real: storing messages through a differently named activity no longer
    matches recorded histories."""
    from temporalio import workflow

    original = workflow.execute_local_activity_method

    def renamed(activity: Any, *args: object, **kwargs: object) -> object:
        if activity.__name__ == "append_messages":
            return workflow.execute_local_activity("append_messages_v2", *args, **kwargs)  # type: ignore[call-overload]
        return original(activity, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(workflow, "execute_local_activity_method", renamed)
    with pytest.raises(AssertionError):
        replay(recorded.histories, recorded.converter)
