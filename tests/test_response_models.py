"""The response models of TaskRouter, Studio, Conversations, API keys and erasures say exactly what
the routes answer: every resource (and list page) is fetched, created or updated here, and its JSON has the
keys of its model, no more and no fewer, down to the links and the page's meta."""

from __future__ import annotations

import json
from typing import Any, get_args

import httpx
import pytest
from pydantic import BaseModel

from api.schemas import (
    address_configurations,
    canned,
    contacts,
    conversation_users,
    conversations,
    interactions,
    operators,
    studio,
    taskrouter,
    tokens,
)
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.flows import NOTIFY_FLOW
from tests.helpers.messages import text
from tests.helpers.stack import Stack, eventually, new_phone


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (itself, in a list, or nullable), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = nested_model(argument)
        if found is not None:
            return found
    return None


def models_within(model: type[BaseModel]) -> set[type[BaseModel]]:
    """``model`` and the models its fields hold, at any depth (``shape_problems`` checks them too
    where the answer has a value)."""
    found = {model}
    for field in model.model_fields.values():
        inner = nested_model(field.annotation)
        if inner is not None and inner not in found:
            found |= models_within(inner)
    return found


def shape_problems(body: Any, model: type[BaseModel], where: str) -> list[str]:
    """How ``body`` differs from ``model`` in its keys (recursing into nested models)."""
    if not isinstance(body, dict):
        return [f"{where}: {body!r} is not an object"]
    keys, fields = set(body), set(model.model_fields)
    problems = [f"{where}: keys {sorted(keys - fields)} undeclared, fields {sorted(fields - keys)} missing"]
    problems = problems if keys != fields else []
    for name, field in model.model_fields.items():
        inner = nested_model(field.annotation)
        value = body.get(name)
        if inner is None or value is None:
            continue
        for index, item in enumerate(value if isinstance(value, list) else [value]):
            problems += shape_problems(item, inner, f"{where}.{name}[{index}]")
    return problems


class Shapes:
    """Answers checked against their models; every problem is gathered, then reported at once."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.problems: list[str] = []
        self.checked: set[type[BaseModel]] = set()

    def check(
        self,
        method: str,
        path: str,
        model: type[BaseModel],
        status: int = 200,
        data: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> dict[str, Any]:
        response = self.http.request(method, path, data=data, json=json_body)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        body: dict[str, Any] = response.json()
        self.problems += shape_problems(body, model, f"{method} {path}")
        self.checked |= models_within(model)
        return body


def has_status(http: httpx.Client, path: str, status: str) -> None:
    assert http.get(path).json()["status"] == status


@pytest.fixture()
def http(stack: Stack) -> Any:
    with stack.http() as client:
        yield client


def test_taskrouter_answers_have_their_models_keys(stack: Stack, http: httpx.Client) -> None:
    d = plan_flex_defaults(stack.settings).defaults
    shapes = Shapes(http)
    ws = f"/v1/Workspaces/{d.workspace_sid}"
    shapes.check("GET", "/v1/Workspaces", taskrouter.WorkspacePage)
    shapes.check("GET", ws, taskrouter.Workspace)
    created = shapes.check("POST", "/v1/Workspaces", taskrouter.Workspace, 201, {"FriendlyName": "shapes"})
    shapes.check("POST", f"/v1/Workspaces/{created['sid']}", taskrouter.Workspace, data={"FriendlyName": "shaped"})
    for collection, page, model, form in (
        ("Activities", taskrouter.ActivityPage, taskrouter.Activity, {"FriendlyName": "Lunch"}),
        ("TaskChannels", taskrouter.TaskChannelPage, taskrouter.TaskChannel, {"FriendlyName": "x", "UniqueName": "x"}),
        ("TaskQueues", taskrouter.TaskQueuePage, taskrouter.TaskQueue, {"FriendlyName": "shapes"}),
    ):
        shapes.check("GET", f"{ws}/{collection}", page)
        sid = shapes.check("POST", f"{ws}/{collection}", model, 201, form)["sid"]
        shapes.check("GET", f"{ws}/{collection}/{sid}", model)
        shapes.check("POST", f"{ws}/{collection}/{sid}", model, data={"FriendlyName": "renamed"})
    shapes.check("GET", f"{ws}/Workflows", taskrouter.WorkflowPage)
    shapes.check("GET", f"{ws}/Workflows/{d.workflow_sid}", taskrouter.Workflow)
    shapes.check("POST", f"{ws}/Workflows/{d.workflow_sid}", taskrouter.Workflow, data={})

    worker_form = {"FriendlyName": "shaped agent", "ActivitySid": d.available_activity_sid, "Attributes": "{}"}
    worker = shapes.check("POST", f"{ws}/Workers", taskrouter.Worker, 201, worker_form)["sid"]
    shapes.check("GET", f"{ws}/Workers", taskrouter.WorkerPage)
    shapes.check("GET", f"{ws}/Workers/{worker}", taskrouter.Worker)
    shapes.check("POST", f"{ws}/Workers/{worker}", taskrouter.Worker, data={"Attributes": "{}"})
    shapes.check("GET", f"{ws}/Workers/{worker}/Channels", taskrouter.WorkerChannelPage)
    shapes.check("GET", f"{ws}/Workers/{worker}/Channels/chat", taskrouter.WorkerChannel)
    shapes.check("POST", f"{ws}/Workers/{worker}/Channels/chat", taskrouter.WorkerChannel, data={"Capacity": "2"})

    task_form = {"WorkflowSid": d.workflow_sid, "TaskChannel": "chat", "Attributes": json.dumps({"name": "shapes"})}
    task = shapes.check("POST", f"{ws}/Tasks", taskrouter.Task, 201, task_form)["sid"]
    shapes.check("GET", f"{ws}/Tasks", taskrouter.TaskPage)
    shapes.check("GET", f"{ws}/Tasks/{task}", taskrouter.Task)
    shapes.check("POST", f"{ws}/Tasks/{task}", taskrouter.Task, data={"Priority": "3"})

    def offered() -> str:
        page = http.get(f"{ws}/Workers/{worker}/Reservations").json()["reservations"]
        assert page, "no reservation yet"
        return str(page[0]["sid"])

    reservation = eventually(offered)
    shapes.check("GET", f"{ws}/Tasks/{task}/Reservations", taskrouter.ReservationPage)
    shapes.check("GET", f"{ws}/Workers/{worker}/Reservations", taskrouter.ReservationPage)
    shapes.check("GET", f"{ws}/Workers/{worker}/Reservations/{reservation}", taskrouter.Reservation)
    shapes.check("GET", f"{ws}/Tasks/{task}/Reservations/{reservation}", taskrouter.Reservation)
    accept = {"ReservationStatus": "accepted"}
    shapes.check("POST", f"{ws}/Tasks/{task}/Reservations/{reservation}", taskrouter.Reservation, data=accept)
    shapes.check("POST", f"{ws}/Workers/{worker}/Reservations/{reservation}", taskrouter.Reservation, data={})

    queue = d.task_queue_sid
    statistics: tuple[tuple[str, type[BaseModel]], ...] = (
        ("RealTimeStatistics", taskrouter.WorkspaceRealTimeStatistics),
        ("CumulativeStatistics", taskrouter.WorkspaceCumulativeStatistics),
        ("Statistics", taskrouter.WorkspaceStatistics),
        (f"TaskQueues/{queue}/RealTimeStatistics", taskrouter.TaskQueueRealTimeStatistics),
        (f"TaskQueues/{queue}/CumulativeStatistics", taskrouter.TaskQueueCumulativeStatistics),
        (f"TaskQueues/{queue}/Statistics", taskrouter.TaskQueueStatistics),
        ("TaskQueues/Statistics", taskrouter.TaskQueuesStatisticsPage),
        (f"Workflows/{d.workflow_sid}/RealTimeStatistics", taskrouter.WorkflowRealTimeStatistics),
        (f"Workflows/{d.workflow_sid}/CumulativeStatistics", taskrouter.WorkflowCumulativeStatistics),
        (f"Workflows/{d.workflow_sid}/Statistics", taskrouter.WorkflowStatistics),
        ("Workers/RealTimeStatistics", taskrouter.WorkersRealTimeStatistics),
        ("Workers/CumulativeStatistics", taskrouter.WorkersCumulativeStatistics),
        ("Workers/Statistics", taskrouter.WorkersStatistics),
        (f"Workers/{worker}/Statistics", taskrouter.WorkerStatistics),
    )
    for path, statistic in statistics:
        shapes.check("GET", f"{ws}/{path}", statistic)
    bulk = taskrouter.TaskQueuesBulkRealTimeStatistics
    shapes.check("POST", f"{ws}/TaskQueues/RealTimeStatistics", bulk, json_body=[queue])

    hours = {"TimeZone": "Europe/Berlin", "WeeklyHours": json.dumps({"monday": ["09:00-17:00"]})}
    shapes.check("POST", f"/v1/Workspaces/{created['sid']}/BusinessHours", taskrouter.BusinessHours, data=hours)
    shapes.check("GET", f"/v1/Workspaces/{created['sid']}/BusinessHours", taskrouter.BusinessHours)

    events = shapes.check("GET", f"{ws}/Events", taskrouter.EventPage)["events"]
    assert events
    shapes.check("GET", f"{ws}/Events/{events[0]['sid']}", taskrouter.Event)

    assert not shapes.problems, "\n".join(shapes.problems)
    models = {m for m in vars(taskrouter).values() if isinstance(m, type) and issubclass(m, BaseModel)}
    unchecked = {m for m in models if m.__module__ == taskrouter.__name__ and not m.__name__.endswith("Links")}
    # A base model's fields are checked through the models built on it.
    covered = {m for m in unchecked if any(issubclass(checked, m) for checked in shapes.checked)}
    assert unchecked <= covered, sorted(m.__name__ for m in unchecked - covered)


def test_studio_answers_have_their_models_keys(stack: Stack, http: httpx.Client) -> None:
    shapes = Shapes(http)
    form = {"FriendlyName": "shapes", "Status": "published", "Definition": json.dumps(NOTIFY_FLOW)}
    shapes.check("POST", "/v2/Flows/Validate", studio.FlowValidation, data=form)
    flow = shapes.check("POST", "/v2/Flows", studio.Flow, 201, form)["sid"]
    shapes.check("GET", "/v2/Flows", studio.FlowPage)
    shapes.check("GET", f"/v2/Flows/{flow}", studio.Flow)
    shapes.check("POST", f"/v2/Flows/{flow}", studio.Flow, data={"Status": "published", "CommitMessage": "again"})
    shapes.check("GET", f"/v2/Flows/{flow}/Revisions", studio.FlowRevisionPage)
    shapes.check("GET", f"/v2/Flows/{flow}/Revisions/1", studio.FlowRevision)

    number = stack.create_flex_flow(http, stack.create_service(http))["contact_identity"]
    start = {"To": new_phone(), "From": number, "Parameters": json.dumps({"name": "Zeke", "topic": "billing"})}
    executions = f"/v2/Flows/{flow}/Executions"
    execution = shapes.check("POST", executions, studio.Execution, 201, start)["sid"]
    eventually(lambda: has_status(http, f"{executions}/{execution}", "ended"))
    shapes.check("GET", executions, studio.ExecutionPage)
    shapes.check("GET", f"{executions}/{execution}", studio.Execution)
    shapes.check("POST", f"{executions}/{execution}", studio.Execution, data={"Status": "ended"})
    shapes.check("GET", f"{executions}/{execution}/Context", studio.ExecutionContext)
    step = shapes.check("GET", f"{executions}/{execution}/Steps", studio.StepPage)["steps"][0]["sid"]
    shapes.check("GET", f"{executions}/{execution}/Steps/{step}", studio.Step)
    shapes.check("GET", f"{executions}/{execution}/Steps/{step}/Context", studio.StepContext)

    assert not shapes.problems, "\n".join(shapes.problems)


def test_key_and_erasure_answers_have_their_models_keys(stack: Stack, http: httpx.Client) -> None:
    shapes = Shapes(http)
    keys = f"/2010-04-01/Accounts/{stack.settings.account_sid}"
    key = shapes.check("POST", f"{keys}/Keys.json", operators.NewKey, 201, {"FriendlyName": "shapes"})["sid"]
    shapes.check("GET", f"{keys}/Keys.json", operators.KeyPage)
    shapes.check("GET", f"{keys}/Keys/{key}.json", operators.Key)
    shapes.check("POST", f"{keys}/Keys/{key}.json", operators.Key, data={"FriendlyName": "renamed"})

    erasure = shapes.check("POST", "/v1/Erasures", operators.Erasure, 201, {"Address": new_phone()})["sid"]
    eventually(lambda: has_status(http, f"/v1/Erasures/{erasure}", "completed"))
    shapes.check("GET", f"/v1/Erasures/{erasure}", operators.Erasure)
    events = shapes.check("GET", "/v1/AuditEvents", operators.AuditEventPage)["audit_events"]
    assert events

    assert not shapes.problems, "\n".join(shapes.problems)


def test_canned_response_answers_have_their_models_keys(stack: Stack, http: httpx.Client) -> None:
    d = plan_flex_defaults(stack.settings).defaults
    shapes = Shapes(http)
    base = f"/v1/Workspaces/{d.workspace_sid}/CannedResponses"
    form = {
        "FriendlyName": "Shapes",
        "Shortcut": "shapes",
        "Body": "Hi {{customer.name}}",
        "TaskQueueSid": d.task_queue_sid,
    }
    sid = shapes.check("POST", base, canned.CannedResponse, 201, form)["sid"]
    shapes.check("GET", base, canned.CannedResponsePage)
    shapes.check("GET", f"{base}/{sid}", canned.CannedResponse)
    shapes.check("POST", f"{base}/{sid}", canned.CannedResponse, data={"TaskQueueSid": ""})
    assert not shapes.problems, "\n".join(shapes.problems)
    models = {m for m in vars(canned).values() if isinstance(m, type) and issubclass(m, BaseModel)}
    assert {m for m in models if m.__module__ == canned.__name__} <= shapes.checked


def test_conversations_answers_have_their_models_keys(stack: Stack, http: httpx.Client) -> None:
    shapes = Shapes(http)
    service = plan_flex_defaults(stack.settings).defaults.chat_service_sid
    shapes.check("GET", "/v1/Configuration", conversations.Configuration)
    shapes.check("GET", "/v1/Services", conversations.ConversationServicePage)
    created = shapes.check("POST", "/v1/Services", conversations.ConversationService, 201, {"FriendlyName": "shapes"})
    shapes.check("GET", f"/v1/Services/{created['sid']}", conversations.ConversationService)
    shapes.check("GET", f"/v1/Services/{service}/Configuration", conversations.ServiceConfiguration)
    for base in ("/v1/Conversations", f"/v1/Services/{service}/Conversations"):
        conversation = shapes.check("POST", base, conversations.Conversation, 201, {"FriendlyName": "shapes"})["sid"]
        one = f"{base}/{conversation}"
        shapes.check("GET", base, conversations.ConversationPage)
        shapes.check("GET", one, conversations.Conversation)
        shapes.check("POST", one, conversations.Conversation, data={"Attributes": "{}"})
        form = {"Identity": "shaper"}
        participant = shapes.check("POST", f"{one}/Participants", conversations.Participant, 201, form)["sid"]
        shapes.check("GET", f"{one}/Participants", conversations.ParticipantPage)
        shapes.check("GET", f"{one}/Participants/{participant}", conversations.Participant)
        read = {"LastReadMessageIndex": "0"}
        shapes.check("POST", f"{one}/Participants/{participant}", conversations.Participant, data=read)
        sent = {"Author": "shaper", "Body": "shaped"}
        message = shapes.check("POST", f"{one}/Messages", conversations.ConversationMessage, 201, sent)["sid"]
        shapes.check("GET", f"{one}/Messages", conversations.ConversationMessagePage)
        shapes.check("GET", f"{one}/Messages/{message}", conversations.ConversationMessage)
        shapes.check("POST", f"{one}/Messages/{message}", conversations.ConversationMessage, data={"Body": "again"})

    assert not shapes.problems, "\n".join(shapes.problems)
    models = {m for m in vars(conversations).values() if isinstance(m, type) and issubclass(m, BaseModel)}
    unchecked = {m for m in models if m.__module__ == conversations.__name__}
    assert unchecked <= shapes.checked, sorted(m.__name__ for m in unchecked - shapes.checked)


def test_address_configuration_answers_have_their_models_keys(stack: Stack, http: httpx.Client) -> None:
    shapes = Shapes(http)
    base = "/v1/Configuration/Addresses"
    model, page = address_configurations.AddressConfiguration, address_configurations.AddressConfigurationPage
    created = shapes.check("POST", base, model, 201, {"Type": "sms", "Address": new_phone()})
    shapes.check("GET", base, page)
    shapes.check("GET", f"{base}/{created['sid']}", model)
    shapes.check("POST", f"{base}/{created['sid']}", model, data={"FriendlyName": "shapes"})
    assert not shapes.problems, "\n".join(shapes.problems)
    assert {model, page} <= shapes.checked


def test_contact_answers_have_their_models_keys(stack: Stack, http: httpx.Client) -> None:
    customer = new_phone()
    text(stack, http, stack.settings.flex_sms_number, customer, "shapes")
    shapes = Shapes(http)

    def with_a_task() -> dict[str, Any]:
        page = shapes.check(
            "GET", f"/v1/Contacts?Address={customer.replace('+', '%2B')}", contacts.ContactConversationPage
        )
        assert page["conversations"] and page["conversations"][0]["interactions"], page
        return page

    eventually(with_a_task)
    assert shapes.checked == models_within(contacts.ContactConversationPage)


def test_the_widgets_business_hours_answer_has_its_models_keys(stack: Stack, http: httpx.Client) -> None:
    shapes = Shapes(http)
    web = plan_flex_defaults(stack.settings).defaults.web_flex_flow_sid
    shapes.check("GET", f"/v1/Webchat/BusinessHours?flex_flow_sid={web}", tokens.WebchatBusinessHoursResource)
    assert not shapes.problems, "\n".join(shapes.problems)


def test_interaction_answers_have_their_models_keys(stack: Stack, http: httpx.Client) -> None:
    d = plan_flex_defaults(stack.settings).defaults
    shapes = Shapes(http)
    conversation = http.post("/v1/Conversations", data={"FriendlyName": "shapes"}).json()["sid"]
    http.post(f"/v1/Conversations/{conversation}/Participants", data={"Identity": "shaped-customer"})
    routing = json.dumps({"properties": {"workspace_sid": d.workspace_sid, "workflow_sid": d.workflow_sid}})
    form = {
        "Channel": json.dumps({"type": "chat", "properties": {"media_channel_sid": conversation}}),
        "Routing": routing,
    }
    made = shapes.check("POST", "/v1/Interactions", interactions.Interaction, 200, form)
    one = f"/v1/Interactions/{made['sid']}"
    channel = f"{one}/Channels/{made['channel']['sid']}"
    shapes.check("GET", one, interactions.Interaction)
    shapes.check("POST", one, interactions.Interaction, data={})
    shapes.check("GET", f"{one}/Channels", interactions.InteractionChannelPage)
    shapes.check("GET", channel, interactions.InteractionChannel)
    shapes.check("POST", f"{channel}/Invites", interactions.InteractionChannelInvite, 200, {"Routing": routing})
    shapes.check("GET", f"{channel}/Invites", interactions.InteractionChannelInvitePage)
    joined = {"Type": "customer", "MediaProperties": json.dumps({"identity": "shaped-guest"})}
    shapes.check("POST", f"{channel}/Participants", interactions.InteractionChannelParticipant, 200, joined)
    shapes.check("GET", f"{channel}/Participants", interactions.InteractionChannelParticipantPage)
    shapes.check("POST", channel, interactions.InteractionChannel, data={"Status": "closed"})
    assert not shapes.problems, "\n".join(shapes.problems)
    models = {m for m in vars(interactions).values() if isinstance(m, type) and issubclass(m, BaseModel)}
    unchecked = {m for m in models if m.__module__ == interactions.__name__}
    assert unchecked <= shapes.checked, sorted(m.__name__ for m in unchecked - shapes.checked)


def test_conversation_users_answers_have_their_models_keys(stack: Stack, http: httpx.Client) -> None:
    shapes = Shapes(http)
    service = plan_flex_defaults(stack.settings).defaults.chat_service_sid
    for base in ("/v1", f"/v1/Services/{service}"):
        user = shapes.check("POST", f"{base}/Users", conversation_users.User, 201, {"Identity": f"shaper{len(base)}"})
        shapes.check("GET", f"{base}/Users", conversation_users.UserPage)
        shapes.check("GET", f"{base}/Users/{user['sid']}", conversation_users.User)
        shapes.check("POST", f"{base}/Users/{user['sid']}", conversation_users.User, data={"FriendlyName": "x"})
        form = {"Identity": user["identity"]}
        made = shapes.check("POST", f"{base}/Conversations", conversations.Conversation, 201, {"FriendlyName": "x"})
        shapes.check("POST", f"{base}/Conversations/{made['sid']}/Participants", conversations.Participant, 201, form)
        mine = f"{base}/Users/{user['sid']}/Conversations"
        shapes.check("GET", mine, conversation_users.UserConversationPage)
        shapes.check("GET", f"{mine}/{made['sid']}", conversation_users.UserConversation)
        muted = {"NotificationLevel": "muted"}
        shapes.check("POST", f"{mine}/{made['sid']}", conversation_users.UserConversation, data=muted)
        asked = f"{base}/ParticipantConversations?Identity={user['identity']}"
        shapes.check("GET", asked, conversation_users.ParticipantConversationPage)
        both = {"FriendlyName": "x", "Participant": json.dumps({"identity": "y"})}
        shapes.check("POST", f"{base}/ConversationWithParticipants", conversations.Conversation, 201, both)
        shapes.check("GET", f"{base}/Roles", conversation_users.RolePage)
        role_form = {"FriendlyName": "r", "Type": "service", "Permission": "joinConversation"}
        role = shapes.check("POST", f"{base}/Roles", conversation_users.Role, 201, role_form)["sid"]
        shapes.check("GET", f"{base}/Roles/{role}", conversation_users.Role)
        shapes.check("POST", f"{base}/Roles/{role}", conversation_users.Role, data={"Permission": "editOwnUserInfo"})
    assert not shapes.problems, "\n".join(shapes.problems)
    models = {m for m in vars(conversation_users).values() if isinstance(m, type) and issubclass(m, BaseModel)}
    unchecked = {m for m in models if m.__module__ == conversation_users.__name__}
    assert unchecked <= shapes.checked, sorted(m.__name__ for m in unchecked - shapes.checked)
