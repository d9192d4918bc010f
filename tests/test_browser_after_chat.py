"""After the chat in Chromium: the agent picks a wrap-up disposition in the desk and completes the
task; the customer then rates the chat in the widget (stars and a comment), once. The outcome is
on the task and the rating in the statistics, read with the official client. Screenshots:
``wrapup-disposition.png`` and ``post-chat-rating.png`` in ``test-artifacts/``."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, expect

from tests.helpers.browser import SEEN, desk_sign_in, new_page, shot, widget_start, workspace_of
from tests.helpers.stack import Stack, StackFactory, clear_the_floor, eventually


@pytest.fixture(scope="module")
def web(make_stack: StackFactory) -> Stack:
    return make_stack(desk_dev_sign_in=True, channel_inactivity_seconds=600.0)


def test_the_agent_picks_an_outcome_and_the_customer_rates_the_chat(web: Stack, browser: Browser) -> None:
    desk_context, desk = new_page(browser)
    chat_context, chat = new_page(browser)
    try:
        clear_the_floor(web)
        desk_sign_in(desk, web, "maya")
        widget_start(chat, web, "Lea", "My order arrived broken")
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        desk.get_by_test_id("desk-conversation").click(timeout=SEEN)
        outcome = desk.get_by_test_id("desk-disposition")
        expect(outcome).to_be_visible(timeout=SEEN)
        expect(desk.get_by_label("Outcome")).to_have_count(1)
        expect(outcome.locator("option")).to_have_text(
            ["Choose an outcome…", "Resolved", "Follow-up needed", "Not resolved", "Wrong department"]
        )
        outcome.select_option(label="Follow-up needed")
        desk.get_by_test_id("desk-wrapup").click()
        expect(desk.get_by_test_id("desk-complete")).to_be_enabled(timeout=SEEN)
        expect(outcome).to_have_value("Follow-up needed")
        shot(desk, "wrapup-disposition.png")
        desk.get_by_test_id("desk-complete").click()

        # The agent left: the widget offers a rating, from the keyboard or the mouse.
        rating = chat.get_by_test_id("webchat-rating")
        expect(rating).to_be_visible(timeout=SEEN)
        expect(rating.get_by_role("group", name="How was this chat?")).to_have_count(1)
        expect(rating.get_by_role("radio")).to_have_count(5)
        submit = chat.get_by_test_id("webchat-rating-submit")
        expect(submit).to_be_disabled()
        rating.get_by_role("radio", name="1 of 5, Very poor").focus()
        chat.keyboard.press("ArrowRight")
        expect(chat.get_by_test_id("webchat-rating-caption")).to_have_text("2 of 5: Poor")
        chat.get_by_test_id("webchat-rating-star-4").click()
        expect(chat.get_by_test_id("webchat-rating-caption")).to_have_text("4 of 5: Good")
        chat.get_by_test_id("webchat-rating-comment").fill("Sorted in minutes <b>thanks</b>")
        shot(chat, "post-chat-rating.png")
        submit.click()
        expect(chat.get_by_test_id("webchat-rating-thanks")).to_have_text("Thank you for your feedback!", timeout=SEEN)
        expect(rating).to_have_count(0)

        # Reloaded, the widget does not ask again.
        chat.reload()
        if not chat.get_by_test_id("webchat-panel").is_visible():
            chat.get_by_test_id("webchat-launcher").click()
        expect(chat.get_by_test_id("webchat-status")).to_have_text("Connected", timeout=SEEN)
        expect(chat.get_by_test_id("webchat-rating")).to_have_count(0)
    finally:
        for context, page, name in ((chat_context, chat, "rating-last.png"), (desk_context, desk, "outcome-last.png")):
            shot(page, name)
            context.close()

    workspace = workspace_of(web)

    def outcome_stored() -> None:
        [task] = [t for t in workspace.tasks.list() if json.loads(t.attributes).get("name") == "Lea"]
        assert task.assignment_status == "completed"
        assert json.loads(task.attributes)["conversations"]["outcome"] == "Follow-up needed"

    eventually(outcome_stored)
    with web.http() as http:
        stats = http.get(f"/v1/Workspaces/{workspace._solution['sid']}/CumulativeStatistics?Minutes=60").json()
    assert stats["switchboard_post_chat_ratings"]["distribution"]["4"] == 1


def test_a_customer_who_ends_the_chat_may_decline_to_rate(web: Stack, browser: Browser) -> None:
    desk_context, desk = new_page(browser)
    chat_context, chat = new_page(browser)
    try:
        clear_the_floor(web)
        desk_sign_in(desk, web, "noor")
        widget_start(chat, web, "Sam", "Just checking")
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        chat.get_by_test_id("webchat-end").click()
        chat.get_by_test_id("webchat-end-confirm").click()
        expect(chat.get_by_test_id("webchat-rating")).to_be_visible(timeout=SEEN)
        # Focus moved from the gone composer into the rating.
        assert (
            chat.evaluate("() => document.getElementById('switchboard-webchat').shadowRoot.activeElement.type")
            == "radio"
        )
        chat.get_by_test_id("webchat-rating-skip").click()
        expect(chat.get_by_test_id("webchat-rating-thanks")).to_contain_text("Thanks for chatting", timeout=SEEN)
        expect(chat.get_by_test_id("webchat-new-chat")).to_be_visible()
        chat.reload()
        if not chat.get_by_test_id("webchat-panel").is_visible():
            chat.get_by_test_id("webchat-launcher").click()
        expect(chat.get_by_test_id("webchat-new-chat")).to_be_visible(timeout=SEEN)
        expect(chat.get_by_test_id("webchat-rating")).to_have_count(0)
    finally:
        for context in (chat_context, desk_context):
            context.close()
