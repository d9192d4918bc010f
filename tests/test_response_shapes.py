"""The Twilio-shaped answers of Chat v2, Flex v1, the web chat's sessions and the tokens endpoints
keep every key they have (the keys Twilio's clients read), and each route declares a response
model with exactly those keys in the API reference (FastAPI passes an answer through its model, so
a key the model lacks would silently go)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.main import create_app
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.stack import Stack, StackFactory

# Key trees: a dict's keys with the tree of each value (None: a scalar, or a value whose keys vary).
SERVICE = dict.fromkeys(
    (
        "sid",
        "account_sid",
        "friendly_name",
        "retention_days",
        "date_created",
        "date_updated",
        "default_service_role_sid",
        "default_channel_role_sid",
        "default_channel_creator_role_sid",
        "read_status_enabled",
        "reachability_enabled",
        "typing_indicator_timeout",
        "consumption_report_interval",
        "pre_webhook_url",
        "post_webhook_url",
        "webhook_method",
        "webhook_filters",
        "pre_webhook_retry_count",
        "post_webhook_retry_count",
        "notifications",
        "url",
    )
) | {
    "limits": dict.fromkeys(("channel_members", "user_channels")),
    "media": dict.fromkeys(("size_limit_mb", "compatibility_message")),
    "links": dict.fromkeys(("channels", "users", "roles", "bindings")),
}
CHANNEL = dict.fromkeys(
    (
        "sid",
        "account_sid",
        "service_sid",
        "friendly_name",
        "unique_name",
        "attributes",
        "type",
        "date_created",
        "date_updated",
        "created_by",
        "members_count",
        "messages_count",
        "url",
    )
) | {"links": dict.fromkeys(("members", "messages", "invites", "webhooks", "last_message"))}
MEMBER = dict.fromkeys(
    (
        "sid",
        "account_sid",
        "channel_sid",
        "service_sid",
        "identity",
        "date_created",
        "date_updated",
        "role_sid",
        "last_consumed_message_index",
        "last_consumption_timestamp",
        "url",
        "attributes",
    )
)
MESSAGE = dict.fromkeys(
    (
        "sid",
        "account_sid",
        "attributes",
        "service_sid",
        "to",
        "channel_sid",
        "date_created",
        "date_updated",
        "last_updated_by",
        "was_edited",
        "from",
        "body",
        "index",
        "type",
        "media",
        "url",
    )
)
FLEX_FLOW = dict.fromkeys(
    (
        "account_sid",
        "date_created",
        "date_updated",
        "sid",
        "friendly_name",
        "chat_service_sid",
        "channel_type",
        "contact_identity",
        "enabled",
        "integration_type",
        "integration",
        "long_lived",
        "janitor_enabled",
        "url",
    )
)
INTEGRATION_FAILURE = dict.fromkeys(
    ("account_sid", "flex_flow_sid", "channel_sid", "message_sid", "url", "attempts", "error", "date_created")
)
FLEX_CHANNEL = dict.fromkeys(
    ("account_sid", "flex_flow_sid", "sid", "user_sid", "task_sid", "url", "date_created", "date_updated")
)
WEB_CHANNEL = dict.fromkeys(("account_sid", "flex_flow_sid", "sid", "url", "date_created", "date_updated"))
TOKEN = dict.fromkeys(("token", "identity", "role", "grants", "expires_at", "ttl"))
WEBCHAT_SESSION = {"channel_sid": None, **TOKEN}
REVOCATION = dict.fromkeys(("account_sid", "scope", "identity", "revoked_before"))
VARYING = ("grants", "integration", "notifications")
META = dict.fromkeys(("page", "page_size", "first_page_url", "previous_page_url", "url", "next_page_url", "key"))


def page(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return {key: [item], "meta": META}


def empty_page(key: str) -> dict[str, Any]:
    return {key: None, "meta": META}


def key_tree(value: Any) -> Any:
    """The keys of a JSON value, nested: a list of objects by its first item; the keys of
    ``grants``, ``integration`` and ``notifications`` vary, so they are not followed."""
    if isinstance(value, dict):
        return {key: None if key in VARYING else key_tree(item) for key, item in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [key_tree(value[0])]
    return None


def schema_tree(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """The keys an OpenAPI schema declares, nested as ``key_tree`` has them."""
    if "$ref" in schema:
        return schema_tree(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    for alternative in schema.get("anyOf", []):  # ``X | None``
        if alternative.get("type") != "null":
            return schema_tree(alternative, components)
    if "properties" in schema:
        return {key: schema_tree(value, components) for key, value in schema["properties"].items()}
    items = schema.get("items", {})
    if schema.get("type") == "array" and ("$ref" in items or "properties" in items):
        return [schema_tree(items, components)]
    return None


def declared_tree(openapi: dict[str, Any], method: str, path: str, status: int) -> Any:
    """The keys the route's answer declares in the API reference (None: no schema declared)."""
    operation = openapi["paths"][path][method.lower()]
    schema = operation["responses"][str(status)].get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" not in schema:
        return None
    return schema_tree(schema, openapi["components"]["schemas"])


@pytest.fixture(scope="module")
def stack(make_stack: StackFactory) -> Stack:
    return make_stack()


Answer = tuple[str, str, httpx.Response, Any, Any]


def answers(stack: Stack) -> list[Answer]:
    """Every route under test, called once with real resources: (method, route path, answer, its
    keys, the keys its model declares)."""
    defaults = plan_flex_defaults(stack.settings).defaults
    seen: list[Answer] = []
    with stack.http() as http:

        def call(
            method: str, route: str, url: str, expected: Any, declared: Any = None, **kwargs: Any
        ) -> httpx.Response:
            response = http.request(method, url, **kwargs)
            assert response.status_code < 300, f"{method} {url}: {response.text}"
            seen.append((method, route, response, expected, declared or expected))
            return response

        services = "/v2/Services"
        service = call("POST", services, services, SERVICE, data={"FriendlyName": "shapes"}).json()["sid"]
        call("GET", services, services, page("services", SERVICE))
        one_service = "/v2/Services/{service_sid}"
        call("GET", one_service, f"{services}/{service}", SERVICE)
        call("POST", one_service, f"{services}/{service}", SERVICE, data={"RetentionDays": "7"})

        channels = "/v2/Services/{service_sid}/Channels"
        channels_url = f"{services}/{service}/Channels"
        channel = call("POST", channels, channels_url, CHANNEL, data={"FriendlyName": "c"}).json()["sid"]
        call("GET", channels, channels_url, page("channels", CHANNEL))
        call("GET", channels + "/{channel_sid}", f"{channels_url}/{channel}", CHANNEL)

        members = channels + "/{channel_sid}/Members"
        members_url = f"{channels_url}/{channel}/Members"
        member = call("POST", members, members_url, MEMBER, data={"Identity": "ada"}).json()["sid"]
        call("GET", members, members_url, page("members", MEMBER))
        call("GET", members + "/{member_sid}", f"{members_url}/{member}", MEMBER)

        messages = channels + "/{channel_sid}/Messages"
        messages_url = f"{channels_url}/{channel}/Messages"
        message = call("POST", messages, messages_url, MESSAGE, data={"Body": "hi", "From": "ada"}).json()["sid"]
        call("GET", messages, messages_url, page("messages", MESSAGE))
        call("GET", messages + "/{message_sid}", f"{messages_url}/{message}", MESSAGE)

        flows = "/v1/FlexFlows"
        flow = call(
            "POST",
            flows,
            flows,
            FLEX_FLOW,
            data={"FriendlyName": "shapes", "ChatServiceSid": service, "ChannelType": "custom", "Enabled": "false"},
        ).json()["sid"]
        call("GET", flows, flows, {"flex_flows": [FLEX_FLOW], "meta": META})
        call("GET", flows + "/{sid}", f"{flows}/{flow}", FLEX_FLOW)
        call("POST", flows + "/{sid}", f"{flows}/{flow}", FLEX_FLOW, data={"FriendlyName": "shapes 2"})
        failures = flows + "/{sid}/IntegrationFailures"
        key = "integration_failures"
        call("GET", failures, f"{flows}/{flow}/IntegrationFailures", empty_page(key), page(key, INTEGRATION_FAILURE))

        web_flow = defaults.web_flex_flow_sid
        flex_channels = "/v1/Channels"
        opened = {"FlexFlowSid": web_flow, "ChatUserFriendlyName": "Ada", "ChatFriendlyName": "Ada's chat"}
        flex_channel = call(
            "POST", flex_channels, flex_channels, FLEX_CHANNEL, data={**opened, "Identity": "shape-ada"}
        ).json()["sid"]
        call("GET", flex_channels, flex_channels, page("flex_chat_channels", FLEX_CHANNEL))
        call("GET", flex_channels + "/{sid}", f"{flex_channels}/{flex_channel}", FLEX_CHANNEL)

        web_channels = "/v1/WebChannels"
        opened = {"FlexFlowSid": web_flow, "CustomerFriendlyName": "Bo", "ChatFriendlyName": "Bo's chat"}
        web_channel = call(
            "POST", web_channels, web_channels, WEB_CHANNEL, data={**opened, "Identity": "shape-bo"}
        ).json()["sid"]
        call("GET", web_channels, web_channels, page("flex_chat_channels", WEB_CHANNEL))
        call("GET", web_channels + "/{sid}", f"{web_channels}/{web_channel}", WEB_CHANNEL)
        call(
            "POST",
            web_channels + "/{sid}",
            f"{web_channels}/{web_channel}",
            WEB_CHANNEL,
            data={"ChatStatus": "inactive"},
        )

        sessions = "/v1/Webchat/Sessions"
        chat = call("POST", sessions, sessions, WEBCHAT_SESSION, json={"flex_flow_sid": web_flow}).json()
        tokens = "/v1/Tokens"
        call("POST", tokens, tokens, TOKEN, data={"Identity": "shape-agent"})
        call("POST", tokens + "/Revocations", tokens + "/Revocations", REVOCATION, data={"Identity": "nobody"})
    with httpx.Client(base_url=stack.url) as http:  # the customer's token alone
        refreshed = http.post(tokens + "/Refresh", headers={"Authorization": f"Bearer {chat['token']}"})
    assert refreshed.status_code == 201, refreshed.text
    seen.append(("POST", tokens + "/Refresh", refreshed, TOKEN, TOKEN))
    return seen


def test_answers_keep_their_keys_and_declare_them(stack: Stack) -> None:
    openapi = create_app(stack.settings).openapi()
    undeclared = []
    for method, route, response, expected, declared in answers(stack):
        assert key_tree(response.json()) == expected, f"{method} {route}"
        tree = declared_tree(openapi, method, route, response.status_code)
        if tree is None:
            undeclared.append(f"{method} {route}")
        else:
            assert tree == declared, f"{method} {route}"
    assert undeclared == []
