"""Studio v2 through the official twilio client: flows, revisions, validation, executions and
their steps, on a real API + worker + Temporal stack."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client as TwilioClient

from api.routes.studio import execution_failure, start_on_contact_channel
from api.twilio_shape import TwilioError
from tests.helpers.flows import NOTIFY_FLOW
from tests.helpers.stack import Stack, eventually, new_phone
from workflows.messages import ChannelConfig
from workflows.studio.messages import ExecutionStarted, StartExecution

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends

# Asks and waits an hour for the answer: an execution that stays active.
WAITING_FLOW: dict[str, Any] = {
    "description": "ask and wait",
    "states": [
        {
            "name": "Trigger",
            "type": "trigger",
            "transitions": [{"next": "ask", "event": "incomingRequest"}],
            "properties": {"offset": {"x": 0, "y": 0}},
        },
        {
            "name": "ask",
            "type": "send-and-wait-for-reply",
            "transitions": [{"event": "incomingMessage"}, {"event": "timeout"}, {"event": "deliveryFailure"}],
            "properties": {"body": "How can we help?", "timeout": "3600", "offset": {"x": 0, "y": 200}},
        },
    ],
    "initial_state": "Trigger",
}


def studio(stack: Stack) -> TwilioClient:
    client = stack.twilio()
    client.studio.base_url = stack.url
    return client


def notify_flow() -> dict[str, Any]:
    return copy.deepcopy(NOTIFY_FLOW)


def message(error: TwilioRestException) -> str:
    """The server's message, without the client's "Unable to create record: " prefix."""
    return re.sub(r"^Unable to \w+ record: ", "", str(error.msg))


def refused(call: Any) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value


# --- flows and revisions ----------------------------------------------------------------------


def test_flow_round_trip_keeps_the_definition_verbatim_and_counts_revisions(stack: Stack) -> None:
    client = studio(stack)
    flows = client.studio.v2.flows
    created = flows.create(
        friendly_name="notify", status="published", definition=NOTIFY_FLOW, commit_message="first cut"
    )
    assert created.sid.startswith("FW") and len(created.sid) == 34
    assert created.account_sid == stack.settings.account_sid
    assert created.revision == 1 and created.status == "published" and created.commit_message == "first cut"
    assert created.valid is True and created.errors == [] and created.warnings == []
    # Unknown properties (offset, flags, a custom key) survive, in their order.
    assert created.definition == NOTIFY_FLOW
    assert json.dumps(created.definition) == json.dumps(NOTIFY_FLOW)
    url = f"{stack.url}/v2/Flows/{created.sid}"
    assert created.url == url
    assert created.webhook_url == f"{url}/Executions"
    assert created.links == {
        "test_users": f"{url}/TestUsers",
        "revisions": f"{url}/Revisions",
        "executions": f"{url}/Executions",
    }
    assert created.date_created is not None

    fetched = flows(created.sid).fetch()
    assert (fetched.definition, fetched.revision, fetched.friendly_name) == (NOTIFY_FLOW, 1, "notify")

    # Status is required on update; an update without a definition keeps it, in a new revision.
    drafted = flows(created.sid).update(status="draft", friendly_name="notify v2")
    assert (drafted.revision, drafted.status, drafted.friendly_name) == (2, "draft", "notify v2")
    assert drafted.definition == NOTIFY_FLOW and drafted.commit_message is None

    changed = notify_flow()
    changed["states"][2]["properties"]["body"] = "Hello again"
    updated = flows(created.sid).update(status="draft", definition=changed, commit_message="new words")
    assert updated.revision == 3 and updated.definition == changed and updated.commit_message == "new words"
    assert flows(created.sid).fetch().revision == 3

    revisions = flows(created.sid).revisions
    listed = revisions.list()
    assert [r.revision for r in listed] == [3, 2, 1]  # newest first
    assert [r.status for r in listed] == ["draft", "draft", "published"]
    assert [r.commit_message for r in listed] == ["new words", None, "first cut"]
    assert all(r.sid == created.sid and r.definition is None for r in listed)  # lists omit definitions

    first = revisions("1").fetch()
    assert first.definition == NOTIFY_FLOW and first.friendly_name == "notify" and first.valid is True
    assert first.url == f"{url}/Revisions/1"
    assert revisions("2").fetch().friendly_name == "notify v2"
    assert revisions("LatestPublished").fetch().revision == 1
    assert revisions("LatestRevision").fetch().definition == changed

    republished = flows(created.sid).update(status="published")
    assert republished.revision == 4
    assert revisions("LatestPublished").fetch().revision == 4


def test_widgets_switchboard_does_not_run_are_warnings(stack: Stack) -> None:
    client = studio(stack)
    definition = notify_flow()
    definition["states"][0]["transitions"].append({"next": "greet", "event": "incomingCall"})
    definition["states"].append(
        {
            "name": "greet",
            "type": "say-play",
            "transitions": [{"event": "audioComplete"}],
            "properties": {"say": "Hello", "loop": 1, "offset": {"x": 400, "y": 200}},
        }
    )
    flow = client.studio.v2.flows.create(friendly_name="voice too", status="draft", definition=definition)
    assert flow.valid is True and flow.errors == []
    assert flow.warnings == [
        {
            "message": "widget type 'say-play' is not run by Switchboard; an execution reaching it ends",
            "property_path": "#/states/3/type",
        }
    ]
    assert client.studio.v2.flows(flow.sid).fetch().warnings == flow.warnings


def test_invalid_definitions_are_refused_naming_state_and_problem(stack: Stack) -> None:
    client = studio(stack)
    flows = client.studio.v2.flows
    broken = notify_flow()
    broken["states"][1]["transitions"][0]["next"] = "nope"
    expected = "Invalid parameter Definition: state 'remember': transition 'next' leads to unknown state 'nope'"

    error = refused(lambda: flows.create(friendly_name="broken", status="published", definition=broken))
    assert error.status == 400 and error.code == 20001
    assert message(error) == expected

    error = refused(lambda: client.studio.v2.flow_validate.update(friendly_name="b", status="draft", definition=broken))
    assert (error.status, message(error)) == (400, expected)
    valid = client.studio.v2.flow_validate.update(friendly_name="ok", status="draft", definition=NOTIFY_FLOW)
    assert valid.valid is True

    flow = flows.create(friendly_name="fine", status="published", definition=NOTIFY_FLOW)
    error = refused(lambda: flows(flow.sid).update(status="published", definition=broken))
    assert (error.status, message(error)) == (400, expected)
    assert flows(flow.sid).fetch().revision == 1  # a refused update makes no revision

    two_problems = notify_flow()
    # Liquid that does not parse is no error (Twilio saves it): a warning, not among the problems.
    two_problems["states"][2]["properties"]["body"] = "{{ flow.variables.greeting"
    two_problems["states"][2]["transitions"][0]["next"] = "gone"
    two_problems["states"][1]["transitions"][0]["event"] = "done"
    error = refused(lambda: flows.create(friendly_name="x", status="draft", definition=two_problems))
    assert message(error).startswith(
        "Invalid parameter Definition: state 'remember': set-variables has no event 'done'"
    )
    assert "; state 'notify': transition 'sent' leads to unknown state 'gone'" in message(error)
    assert "template" not in message(error)


def test_form_errors_name_the_parameter(stack: Stack) -> None:
    with stack.http() as http:
        not_json = http.post("/v2/Flows", data={"FriendlyName": "x", "Status": "draft", "Definition": "{nope"})
        assert not_json.status_code == 400
        assert not_json.json()["message"].startswith("Invalid parameter Definition: must be a JSON object")
        not_object = http.post("/v2/Flows", data={"FriendlyName": "x", "Status": "draft", "Definition": "[1]"})
        assert not_object.status_code == 400
        assert not_object.json()["message"] == "Invalid parameter Definition: #: the definition must be a JSON object"
        bad_status = http.post(
            "/v2/Flows", data={"FriendlyName": "x", "Status": "live", "Definition": json.dumps(NOTIFY_FLOW)}
        )
        assert bad_status.status_code == 400 and "Status" in bad_status.json()["message"]
        missing = http.post("/v2/Flows", data={"Status": "draft", "Definition": json.dumps(NOTIFY_FLOW)})
        assert missing.status_code == 400 and "FriendlyName" in missing.json()["message"]

        created = http.post(
            "/v2/Flows", data={"FriendlyName": "x", "Status": "draft", "Definition": json.dumps(NOTIFY_FLOW)}
        )
        assert created.status_code == 201
        sid = created.json()["sid"]
        no_status = http.post(f"/v2/Flows/{sid}", data={"FriendlyName": "renamed"})
        assert no_status.status_code == 400 and "Status" in no_status.json()["message"]
        assert http.get(f"/v2/Flows/{sid}").json()["friendly_name"] == "x"
        bad_revision = http.get(f"/v2/Flows/{sid}/Revisions/first")
        assert bad_revision.status_code == 400 and "Revision" in bad_revision.json()["message"]
        unauthenticated = http.get("/v2/Flows", auth=("AC" + "0" * 32, "wrong"))
        assert unauthenticated.status_code == 401


def test_unknown_resources_are_404(stack: Stack) -> None:
    client = studio(stack)
    flows = client.studio.v2.flows
    ghost = "FW" + "0" * 32
    for call in (
        lambda: flows(ghost).fetch(),
        lambda: flows(ghost).update(status="draft"),
        lambda: flows(ghost).executions.create(to="+15550000000", from_="+15550000001"),
    ):
        error = refused(call)
        assert (error.status, error.code) == (404, 20404)
        assert ghost in message(error)
    with stack.http() as http:  # the client raises a bare TwilioException for list pages
        for path in ("Revisions", "Executions"):
            response = http.get(f"/v2/Flows/{ghost}/{path}")
            assert (response.status_code, response.json()["code"]) == (404, 20404)

    flow = flows.create(friendly_name="short-lived", status="draft", definition=NOTIFY_FLOW)
    assert refused(lambda: flows(flow.sid).revisions("2").fetch()).status == 404
    assert refused(lambda: flows(flow.sid).revisions("LatestPublished").fetch()).status == 404  # only a draft
    execution = "FN" + "0" * 32
    assert refused(lambda: flows(flow.sid).executions(execution).fetch()).status == 404
    with stack.http() as http:
        assert http.get(f"/v2/Flows/{flow.sid}/Executions/{execution}/Steps").status_code == 404
        assert http.get(f"/v2/Flows/{flow.sid}/Executions/{execution}/Steps/FT{'0' * 32}").status_code == 404
    assert refused(lambda: flows(flow.sid).executions(execution).execution_context().fetch()).status == 404

    assert flows(flow.sid).delete() is True
    assert refused(lambda: flows(flow.sid).fetch()).status == 404
    assert refused(lambda: flows(flow.sid).revisions("1").fetch()).status == 404
    assert refused(lambda: flows(flow.sid).delete()).status == 404


def test_flows_and_revisions_page(stack: Stack) -> None:
    client = studio(stack)
    flows = client.studio.v2.flows
    made = [flows.create(friendly_name=f"paged {i}", status="draft", definition=NOTIFY_FLOW).sid for i in range(3)]
    for _ in range(2):
        flows(made[0]).update(status="draft")

    with stack.http() as http:
        page = http.get("/v2/Flows", params={"PageSize": 2}).json()
        assert page["meta"]["key"] == "flows" and page["meta"]["page_size"] == 2
        assert len(page["flows"]) == 2 and page["flows"][0]["definition"] is None
        assert page["meta"]["next_page_url"] is not None and page["meta"]["previous_page_url"] is None
        seen = [f["sid"] for f in page["flows"]]
        while page["meta"]["next_page_url"]:
            page = http.get(page["meta"]["next_page_url"]).json()
            seen += [f["sid"] for f in page["flows"]]
        assert len(seen) == len(set(seen))
        assert [sid for sid in seen if sid in made] == made  # oldest first

        revisions = http.get(f"/v2/Flows/{made[0]}/Revisions", params={"PageSize": 2}).json()
        assert revisions["meta"]["key"] == "revisions"
        assert [r["revision"] for r in revisions["revisions"]] == [3, 2]
        last = http.get(revisions["meta"]["next_page_url"]).json()
        assert [r["revision"] for r in last["revisions"]] == [1]
        assert last["meta"]["next_page_url"] is None

    # The client follows next_page_url by itself.
    assert [sid for sid in (f.sid for f in flows.list(page_size=2)) if sid in made] == made
    assert [r.revision for r in flows(made[0]).revisions.list(page_size=1)] == [3, 2, 1]


# --- executions: refusals that need no workflow -----------------------------------------------


def test_execution_create_validates_its_parameters(stack: Stack) -> None:
    client = studio(stack)
    flow = client.studio.v2.flows.create(friendly_name="params", status="published", definition=NOTIFY_FLOW)
    executions = client.studio.v2.flows(flow.sid).executions
    nowhere = new_phone()
    error = refused(lambda: executions.create(to=new_phone(), from_=nowhere))
    assert error.status == 400
    assert message(error).startswith(f"Invalid parameter From: no enabled Flex Flow speaks from {nowhere}")
    assert "ContactIdentity" in message(error)

    with stack.http() as http:
        number = stack.create_flex_flow(http, stack.create_service(http))["contact_identity"]
        url = f"/v2/Flows/{flow.sid}/Executions"
        for parameters in ("[1, 2]", "{broken", '"text"'):
            response = http.post(url, data={"To": new_phone(), "From": number, "Parameters": parameters})
            assert response.status_code == 400, parameters
            assert response.json()["message"].startswith("Invalid parameter Parameters: must be a JSON object")
        missing = http.post(url, data={"From": number})
        assert missing.status_code == 400 and "To" in missing.json()["message"]
        bad_date = http.get(url, params={"DateCreatedFrom": "yesterday"})
        assert bad_date.status_code == 400 and "DateCreatedFrom" in bad_date.json()["message"]


# --- executions on the channel workflow -------------------------------------------------------


def test_an_execution_runs_and_shows_its_steps_and_context(stack: Stack) -> None:
    client = studio(stack)
    with stack.http() as http:
        service = stack.create_service(http)
        number = stack.create_flex_flow(http, service)["contact_identity"]
    customer = new_phone()
    flow = client.studio.v2.flows.create(friendly_name="notify", status="published", definition=NOTIFY_FLOW)
    executions = client.studio.v2.flows(flow.sid).executions
    before = datetime.now(UTC) - timedelta(seconds=5)

    execution = executions.create(to=customer, from_=number, parameters={"name": "Zeke", "topic": "billing"})
    assert execution.sid.startswith("FN") and execution.flow_sid == flow.sid
    assert execution.contact_channel_address == customer
    assert execution.flow_version == 1 and execution.status in ("active", "ended")
    url = f"{stack.url}/v2/Flows/{flow.sid}/Executions/{execution.sid}"
    assert execution.url == url
    assert execution.links == {"steps": f"{url}/Steps", "execution_context": f"{url}/Context"}

    ended = eventually(lambda: _ended(executions(execution.sid).fetch()))
    assert ended.contact_channel_address == customer

    context = executions(execution.sid).execution_context().fetch()
    assert context.execution_sid == execution.sid and context.flow_sid == flow.sid
    assert context.url == f"{url}/Context"
    assert context.context["flow"]["data"] == {"name": "Zeke", "topic": "billing"}
    assert context.context["flow"]["variables"] == {"topic": "billing", "greeting": "Hi Zeke"}
    assert context.context["flow"]["channel"]["address"] == number
    assert context.context["contact"]["channel"]["address"] == customer
    assert context.context["widgets"]["notify"]["body"] == "Hi Zeke about billing"
    assert ended.context == context.context

    steps = executions(execution.sid).steps.list()
    assert [s.transitioned_to for s in steps] == ["remember", "notify", "Ended"]
    assert [s.type for s in steps] == ["trigger", "set-variables", "send-message"]
    assert all(s.sid.startswith("FT") and s.execution_sid == execution.sid for s in steps)
    last = executions(execution.sid).steps(steps[-1].sid).fetch()
    assert last.transitioned_from == "notify" and last.name == "sent" and last.url == f"{url}/Steps/{last.sid}"
    assert last.links == {"step_context": f"{url}/Steps/{last.sid}/Context"}
    step_context = executions(execution.sid).steps(last.sid).step_context().fetch()
    assert step_context.step_sid == last.sid and step_context.execution_sid == execution.sid
    assert step_context.context == last.context and step_context.context["body"] == "Hi Zeke about billing"
    with stack.http() as http:
        paged = http.get(f"/v2/Flows/{flow.sid}/Executions/{execution.sid}/Steps", params={"PageSize": 2}).json()
        assert paged["meta"]["key"] == "steps" and [s["sid"] for s in paged["steps"]] == [s.sid for s in steps[:2]]
        assert paged["meta"]["next_page_url"] is not None

    # The flow's message reached the contact's conversation.
    channels = client.chat.v2.services(service).channels.list()
    assert len(channels) == 1
    bodies = [m.body for m in client.chat.v2.services(service).channels(channels[0].sid).messages.list()]
    assert bodies == ["Hi Zeke about billing"]

    # A second run for another contact; lists are newest first and filter by date and status.
    second = executions.create(to=new_phone(), from_=number)
    eventually(lambda: _ended(executions(second.sid).fetch()))
    assert [e.sid for e in executions.list()] == [second.sid, execution.sid]
    assert [e.sid for e in executions.list(page_size=1)] == [second.sid, execution.sid]
    assert len(executions.list(date_created_from=before, date_created_to=datetime.now(UTC) + timedelta(1))) == 2
    assert executions.list(date_created_from=datetime.now(UTC) + timedelta(hours=1)) == []
    assert executions.list(date_created_to=before) == []
    assert len(executions.list(status="ended")) == 2
    assert executions.list(status="active") == []


def _ended(execution: Any) -> Any:
    assert execution.status == "ended"
    return execution


def test_an_active_execution_is_exclusive_and_can_be_ended_and_deleted(stack: Stack) -> None:
    client = studio(stack)
    with stack.http() as http:
        number = stack.create_flex_flow(http, stack.create_service(http))["contact_identity"]
    customer = new_phone()
    flows = client.studio.v2.flows
    flow = flows.create(friendly_name="waits", status="published", definition=WAITING_FLOW)
    executions = flows(flow.sid).executions

    waiting = executions.create(to=customer, from_=number)
    assert executions(waiting.sid).fetch().status == "active"
    error = refused(lambda: executions.create(to=customer, from_=number))
    assert (error.status, error.code) == (409, 20409)
    assert "already has an active execution" in message(error)

    refusal = refused(lambda: flows(flow.sid).delete())
    assert refusal.status == 409 and waiting.sid in message(refusal)

    assert refused(lambda: executions(waiting.sid).update(status="active")).status == 400
    ended = executions(waiting.sid).update(status="ended")
    assert ended.status == "ended" and executions(waiting.sid).fetch().status == "ended"
    assert executions(waiting.sid).update(status="ended").status == "ended"  # ending twice is harmless

    # The channel really let it go: the contact can run the flow again at once.
    again = executions.create(to=customer, from_=number)
    assert again.status == "active" and again.sid != waiting.sid

    assert executions(again.sid).delete() is True  # ends it first
    assert refused(lambda: executions(again.sid).fetch()).status == 404
    with stack.http() as http:
        assert http.get(f"/v2/Flows/{flow.sid}/Executions/{again.sid}/Steps").status_code == 404
    third = executions.create(to=customer, from_=number)
    assert third.status == "active"
    executions(third.sid).update(status="ended")

    assert flows(flow.sid).delete() is True
    assert refused(lambda: flows(flow.sid).fetch()).status == 404
    assert refused(lambda: executions(waiting.sid).fetch()).status == 404


# --- the start's error mapping and the successor retry (no stack) -----------------------------

CONFIG = ChannelConfig(
    channel_sid="CH" + "1" * 32,
    service_sid="IS" + "2" * 32,
    channel_type="sms",
    long_lived=False,
    inactivity_seconds=30.0,
    run_message_budget=1000,
)
START = StartExecution("FN" + "3" * 32, "FW" + "4" * 32, "+15550000001", "+15550000002", {})
SUCCESSOR = "CH" + "5" * 32


class FakeChannels:
    def __init__(self, *outcomes: BaseException | ExecutionStarted) -> None:
        self.outcomes = list(outcomes)
        self.configs: list[ChannelConfig] = []

    async def start_execution(self, config: ChannelConfig, start: StartExecution) -> ExecutionStarted:
        self.configs.append(config)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def refusal(kind: str | None, *details: str) -> WorkflowUpdateFailedError:
    return WorkflowUpdateFailedError(ApplicationError(f"refused: {kind}", *details, type=kind))


async def test_a_closed_channel_is_retried_once_on_its_successor() -> None:
    started = ExecutionStarted(START.execution_sid, START.flow_sid, 1)
    channels = FakeChannels(refusal("ChannelClosed", SUCCESSOR), started)
    assert await start_on_contact_channel(channels, CONFIG, START) == started
    assert [c.channel_sid for c in channels.configs] == [CONFIG.channel_sid, SUCCESSOR]
    assert channels.configs[1].service_sid == CONFIG.service_sid

    twice = FakeChannels(refusal("ChannelClosed", SUCCESSOR), refusal("ChannelClosed", "CH" + "6" * 32))
    with pytest.raises(TwilioError) as caught:
        await start_on_contact_channel(twice, CONFIG, START)
    assert caught.value.status == 503 and len(twice.configs) == 2

    nameless = FakeChannels(refusal("ChannelClosed"))
    with pytest.raises(TwilioError) as caught:
        await start_on_contact_channel(nameless, CONFIG, START)
    assert caught.value.status == 503 and len(nameless.configs) == 1


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("ExecutionActive", 409, 20409), ("FlowNotRunnable", 400, 20001), ("Boom", 500, 20500), (None, 500, 20500)],
)
async def test_start_refusals_map_to_twilio_errors(kind: str | None, status: int, code: int) -> None:
    channels = FakeChannels(refusal(kind))
    with pytest.raises(TwilioError) as caught:
        await start_on_contact_channel(channels, CONFIG, START)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert f"refused: {kind}" in caught.value.message
    assert execution_failure(refusal(kind)).status == status
