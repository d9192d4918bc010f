"""Outside business hours in Chromium: the widget shows the away message and when the business
opens next in the customer's own time, takes the customer's message, and the message reaches an
agent once the business opens (the default workflow holds its tasks by ``taskrouter.businessOpen``)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect

from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.browser import SEEN, desk_sign_in, new_page, said, shot, widget_start
from tests.helpers.business_hours import AWAY, OPEN_NOW, closed_today, set_hours
from tests.helpers.stack import Stack, StackFactory, eventually

CUSTOMER_ZONE = "America/New_York"


@pytest.fixture(scope="module")
def web(make_stack: StackFactory) -> Stack:
    return make_stack(desk_dev_sign_in=True, channel_inactivity_seconds=600.0)


def hold_until_open(stack: Stack) -> None:
    """The default workflow's one target admits workers only while the business is open."""
    d = plan_flex_defaults(stack.settings).defaults
    target = {"queue": d.task_queue_sid, "expression": "taskrouter.businessOpen == true"}
    routing = {
        "task_routing": {
            "filters": [{"filter_friendly_name": "business hours", "expression": "1==1", "targets": [target]}],
            "default_filter": {"queue": d.task_queue_sid},
        }
    }
    workspace = stack.twilio().taskrouter.v1.workspaces(d.workspace_sid)
    workspace.workflows(d.workflow_sid).update(configuration=json.dumps(routing))


def test_outside_hours_the_widget_takes_a_message_that_reaches_an_agent_when_the_business_opens(
    web: Stack, browser: Browser
) -> None:
    d = plan_flex_defaults(web.settings).defaults
    hold_until_open(web)
    with web.http() as http:
        closed = set_hours(http, d.workspace_sid, closed_today())
    desk_context, desk = new_page(browser)
    chat_context = browser.new_context(
        viewport={"width": 1200, "height": 800}, timezone_id=CUSTOMER_ZONE, locale="en-US"
    )
    chat = chat_context.new_page()
    try:
        desk_sign_in(desk, web, "maya")

        # The widget says the business is closed, and when it opens in the customer's time.
        chat.goto(f"{web.url}/demo/")
        chat.get_by_test_id("webchat-launcher").click()
        away = chat.get_by_test_id("webchat-away")
        expect(away).to_be_visible(timeout=SEEN)
        expect(chat.get_by_test_id("webchat-away-message")).to_have_text(AWAY)
        opens = datetime.fromisoformat(closed["next_change"]).astimezone(ZoneInfo(CUSTOMER_ZONE))
        next_line = chat.get_by_test_id("webchat-away-next")
        expect(next_line).to_contain_text(f"We open again {opens:%A}, {opens:%B} {opens.day}")
        expect(next_line).to_contain_text(re.compile(rf"\b{opens.hour % 12 or 12}:{opens:%M}\W(AM|PM)"))
        expect(chat.get_by_test_id("webchat-start")).to_have_text("Leave a message")

        # The customer leaves a message: stored on the conversation, and its task waits.
        widget_start(chat, web, "Ada", "Can I still return my order after the holiday?")
        expect(said(chat, "webchat").first).to_have_text("Can I still return my order after the holiday?", timeout=SEEN)
        expect(chat.get_by_test_id("webchat-input")).to_have_attribute("placeholder", "Leave a message")
        workspace = web.twilio().taskrouter.v1.workspaces(d.workspace_sid)
        [task] = eventually(lambda: _one(workspace.tasks.list()))
        assert task.assignment_status == "pending"
        expect(desk.get_by_test_id("desk-reservation")).to_have_count(0)
        shot(chat, "away-message.png")

        # The business opens: the waiting message goes to the agent, who reads it.
        with web.http() as http:
            assert set_hours(http, d.workspace_sid, OPEN_NOW)["open"] is True
        offer = desk.get_by_test_id("desk-reservation")
        expect(offer).to_have_count(1, timeout=SEEN)
        expect(offer.get_by_test_id("reservation-name")).to_have_text("Ada")
        offer.get_by_test_id("reservation-accept").click()
        desk.get_by_test_id("desk-conversation").click(timeout=SEEN)
        expect(said(desk, "desk").first).to_have_text("Can I still return my order after the holiday?", timeout=SEEN)
        desk.get_by_test_id("desk-input").fill("Yes, you have 30 days. Welcome back!")
        desk.get_by_test_id("desk-send").click()
        expect(said(chat, "webchat").nth(1)).to_have_text("Yes, you have 30 days. Welcome back!", timeout=SEEN)

        # Reopened, the widget no longer shows the away message.
        chat.get_by_test_id("webchat-launcher").click()
        chat.get_by_test_id("webchat-launcher").click()
        expect(away).to_be_hidden(timeout=SEEN)
        shot(desk, "away-message-answered.png")
    finally:
        for context, page, name in ((chat_context, chat, "away-last.png"), (desk_context, desk, "away-desk-last.png")):
            shot(page, name)
            context.close()


def _one(tasks: list[Any]) -> list[Any]:
    assert len(tasks) == 1, tasks
    return tasks
