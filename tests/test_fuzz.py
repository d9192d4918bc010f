"""A bounded fuzz run of the OpenAPI surface: schemathesis generates requests for every operation
the API documents (valid and invalid parameters, bodies and path SIDs) and sends them over real
HTTP to a stack on PostgreSQL, with the account's Basic credentials (a customer's access token for
the operations behind one); no answer may be a server error (5xx). Most path SIDs are real ones (the deployment's
defaults, and a channel, message, worker, task and web chat made first), so that requests get past
"not found" into the resources' own validation. The examples are derandomized: every run sends the
same requests (set SWITCHBOARD_FUZZ_EXAMPLES for a longer run).

Under ``CONFORMING_PATHS`` (the resources whose answers are declared as models) every answer must
also be one the schema documents: its status, and its body against that status's schema."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from api.main import create_app
from switchboard.devstack import DevServer
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.stack import Stack, stack_on_postgresql, test_settings

# Operations behind an access token rather than the account's credentials.
BEARER_PATHS = ("/v1/Tokens/Refresh", "/v1/Media", "/v1/Messages/")
# Per operation (about a hundred): 20 take some 25 s on 2 cores.
EXAMPLES = int(os.environ.get("SWITCHBOARD_FUZZ_EXAMPLES", "20"))
# Operations whose answers are checked against the schema (status and body): every Twilio-shaped
# resource, whose success and error bodies are declared as models; media content is bytes.
CONFORMING_PATHS = ("/v1/", "/v2/", "/2010-04-01/")
BINARY_PATHS = ("/v1/Media/{sid}/Content", "/v1/Messages/{message_sid}/Media/{n}")
# Operations anyone may call (a visitor opening a chat, the development desk sign-in): no
# credentials, so no 401.
PUBLIC_PATHS = ("/v1/Webchat/Sessions", "/v1/Webchat/BusinessHours", "/v1/Desk/DevSignIn")
ERROR_BODY = "#/components/schemas/ErrorBody"


def test_conforming_operations_document_their_answers(tmp_path: Path) -> None:
    """Each operation under ``CONFORMING_PATHS`` documents its success body as an object with
    properties (204s have none) and its error statuses (at least 401) as Twilio's error body."""
    schema = create_app(test_settings(tmp_path)).openapi()
    components = schema["components"]["schemas"]
    checked = 0
    for path, operations in schema["paths"].items():
        if not path.startswith(CONFORMING_PATHS) or path in BINARY_PATHS:
            continue
        for method, operation in operations.items():
            checked += 1
            responses = operation["responses"]
            success = next(status for status in ("200", "201", "204") if status in responses)
            if success != "204":
                body = responses[success].get("content", {}).get("application/json", {}).get("schema", {})
                resolved = components[body["$ref"].rsplit("/", 1)[1]] if "$ref" in body else body
                assert resolved.get("properties"), f"{method.upper()} {path} documents no body for {success}"
            errors = {status for status in responses if status.startswith("4") and status != "422"}
            assert "401" in errors or path in PUBLIC_PATHS, f"{method.upper()} {path} documents no 401"
            for status in errors:
                documented = responses[status]["content"]["application/json"]["schema"]
                assert documented == {"$ref": ERROR_BODY}, f"{method.upper()} {path} {status}: {documented}"
    assert checked > 50


@pytest.fixture(scope="module")
def fuzzed(temporal_server: DevServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """On PostgreSQL, the production store, stricter than SQLite (no NUL characters in text,
    32-bit integer columns). No rate limits: their 429s would hide deeper paths."""
    data_dir = tmp_path_factory.mktemp("fuzz")
    with stack_on_postgresql(temporal_server, data_dir, webchat_session_rate="", token_rate="") as stack:
        yield stack


@pytest.fixture(scope="module")
def http(fuzzed: Stack) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = (fuzzed.settings.account_sid, fuzzed.settings.auth_token)
        yield session


@dataclass(frozen=True)
class RealSids:
    """SIDs that exist: by path parameter name, and for a bare ``{sid}`` by the collection before it."""

    by_name: dict[str, list[str]]
    by_collection: dict[str, list[str]]
    customer_token: str

    def apply(self, case: Any) -> None:
        chooser = random.Random(repr(case.path_parameters))  # repeatable, like the rest of the run
        for name in list(case.path_parameters or {}):
            collection = next((c for c in self.by_collection if case.path.endswith(c + "{sid}")), None)
            choices = self.by_name.get(name) or (
                self.by_collection[collection] if name == "sid" and collection else None
            )
            if choices and chooser.random() < 0.7:
                case.path_parameters[name] = chooser.choice(choices)


def created(response: requests.Response, key: str = "sid") -> str:
    assert response.status_code == 201, response.text
    return str(response.json()[key])


@pytest.fixture(scope="module")
def sids(fuzzed: Stack, http: requests.Session) -> RealSids:
    """The deployment's defaults, and a channel with a message and a participant, a worker, a task
    and a web chat made here, so that fuzzed requests reach the resources behind them."""
    d = plan_flex_defaults(fuzzed.settings).defaults
    url = fuzzed.url
    channels = f"{url}/v2/Services/{d.chat_service_sid}/Channels"
    channel = created(http.post(channels, data={"FriendlyName": "fuzzed"}))
    message = created(http.post(f"{channels}/{channel}/Messages", data={"Body": "hello"}))
    workspace = f"{url}/v1/Workspaces/{d.workspace_sid}"
    worker = created(http.post(f"{workspace}/Workers", data={"FriendlyName": "fuzzed"}))
    task = created(http.post(f"{workspace}/Tasks", data={"WorkflowSid": d.workflow_sid, "Attributes": "{}"}))
    participant = created(http.post(f"{url}/v1/Conversations/{channel}/Participants", data={"Identity": "fuzzed"}))
    session = requests.post(f"{url}/v1/Webchat/Sessions", json={"flex_flow_sid": d.web_flex_flow_sid}, timeout=30)
    web_channel = created(session, "channel_sid")
    by_name = {
        "workspace_sid": [d.workspace_sid],
        "service_sid": [d.chat_service_sid],
        "flex_flow_sid": [d.web_flex_flow_sid, d.sms_flex_flow_sid],
        "flow_sid": [d.studio_flow_sid],
        "channel_sid": [channel, web_channel],
        "chat_service_sid": [d.chat_service_sid],
        "conversation_sid": [channel, web_channel],
        "participant_sid": [participant],
        "message_sid": [message],
        "worker_sid": [worker],
        "task_sid": [task],
    }
    by_collection = {
        "/FlexFlows/": by_name["flex_flow_sid"],
        "/Activities/": [d.offline_activity_sid, d.available_activity_sid],
        "/TaskQueues/": [d.task_queue_sid],
        "/Workflows/": [d.workflow_sid],
        "/TaskChannels/": [d.chat_task_channel_sid],
        "/Workers/": [worker],
        "/Tasks/": [task],
        "/Channels/": [web_channel],
        "/WebChannels/": [web_channel],
    }
    return RealSids(by_name, by_collection, str(session.json()["token"]))


@pytest.fixture(scope="module")
def bearer(sids: RealSids) -> Iterator[requests.Session]:
    """For the operations behind an access token: the web chat customer's, on its real channel."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {sids.customer_token}"
        yield session


def test_no_operation_answers_a_server_error(
    fuzzed: Stack, http: requests.Session, bearer: requests.Session, sids: RealSids
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json", auth=http.auth)  # operators only
    failures: list[str] = []
    statuses: dict[int, int] = {}
    operations = 0
    # The schema is the app's own: every operation loads. Deletes go last, children before their
    # parents, so that the real resources stay for the other operations as long as possible.
    loaded = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    loaded.sort(key=lambda op: (op.method.upper() == "DELETE", -len(op.path) if op.method.upper() == "DELETE" else 0))
    for operation in loaded:
        operations += 1
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )

        @given(cases)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def answers_without_server_error(case: Any) -> None:
            sids.apply(case)
            session = bearer if case.path.startswith(BEARER_PATHS) else http
            checks = [not_a_server_error]
            if case.path.startswith(CONFORMING_PATHS) and case.path not in BINARY_PATHS:
                checks += [status_code_conformance, response_schema_conformance]
            response = case.call_and_validate(base_url=fuzzed.url, session=session, checks=checks, timeout=30)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        try:
            answers_without_server_error()
        except (Exception, BaseExceptionGroup) as exc:  # the checks' failures, with the requests causing them
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations > 90
    # Requests got past authentication and into the resources (not only 401s and 404s).
    assert statuses.get(401, 0) < sum(statuses.values()) // 3, statuses
    assert any(200 <= status < 300 for status in statuses), statuses
    print("fuzz answers by status:", dict(sorted(statuses.items())))
    assert not failures, "\n\n".join(failures)
