"""Internal notes and the customer's past in Chromium. An agent writes a note on a web chat; after
a transfer the next agent finds it in the conversation and hears the first agent's next note
live, while the customer's widget never shows either. A returning SMS customer's earlier
conversation shows on the desk with its date and outcome, and opens read-only. Screenshots:
``internal-notes.png``, ``internal-notes-widget.png``, ``customer-past.png``,
``customer-past-open.png``."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, expect

from tests.helpers.browser import SEEN, desk_sign_in, new_page, said, shot, widget_start, worker_named, workspace_of
from tests.helpers.messages import text
from tests.helpers.stack import Stack, StackFactory, clear_the_floor, eventually, new_phone

FIRST_NOTE = "VIP customer: offer free express shipping"
SECOND_NOTE = "Refund approved by finance, tell her"


@pytest.fixture(scope="module")
def web(make_stack: StackFactory) -> Stack:
    # Short-lived channels close soon after their task is done: the next text opens a new one.
    return make_stack(desk_dev_sign_in=True, channel_inactivity_seconds=2.0)


def test_a_note_is_seen_by_the_next_agent_and_never_by_the_customer(web: Stack, browser: Browser) -> None:
    desk_context, desk = new_page(browser)
    other_context, other = new_page(browser)
    chat_context, chat = new_page(browser)
    try:
        clear_the_floor(web)
        desk_sign_in(desk, web, "ines")
        widget_start(chat, web, "Ada", "My parcel is late")
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        desk.get_by_test_id("desk-conversation").click(timeout=SEEN)
        expect(said(desk, "desk").first).to_have_text("My parcel is late", timeout=SEEN)
        desk.get_by_test_id("desk-input").fill("Let me look into it.")
        desk.get_by_test_id("desk-send").click()
        expect(said(chat, "webchat").last).to_have_text("Let me look into it.", timeout=SEEN)

        # The note: a separate small form, labelled as never sent to the customer.
        desk.get_by_test_id("desk-note-open").click()
        expect(desk.get_by_label("Internal note — not sent to the customer")).to_be_focused()
        desk.get_by_test_id("desk-note-input").fill(FIRST_NOTE)
        desk.get_by_test_id("desk-note-save").click()
        notes = desk.get_by_test_id("desk-note")
        expect(notes).to_have_count(1, timeout=SEEN)
        expect(notes.get_by_test_id("note-body")).to_have_text(FIRST_NOTE)
        expect(notes).to_contain_text("Not sent to the customer")
        expect(desk.get_by_test_id("desk-note-form")).to_be_hidden()

        # The conversation goes to Jon: the note is in its history on his desk.
        desk_sign_in(other, web, "jon")

        def jon_available() -> None:
            assert worker_named(web, "jon").available

        eventually(jon_available)
        desk.get_by_test_id("desk-transfer").click()
        desk.get_by_test_id("desk-transfer-target").select_option(label="Agent: jon")
        desk.get_by_test_id("desk-transfer-confirm").click()
        other.get_by_test_id("reservation-accept").click(timeout=SEEN)
        other.get_by_test_id("desk-conversation").click(timeout=SEEN)
        expect(other.get_by_test_id("note-body")).to_have_text([FIRST_NOTE], timeout=SEEN)
        # The transfer is part of this conversation, not an earlier one.
        expect(other.get_by_test_id("desk-past")).to_be_hidden()
        # Ines held it: she still writes notes, and Jon hears them live.
        desk.get_by_test_id("desk-note-open").click()
        desk.get_by_test_id("desk-note-input").fill(SECOND_NOTE)
        desk.get_by_test_id("desk-note-save").click()
        expect(other.get_by_test_id("note-body")).to_have_text([FIRST_NOTE, SECOND_NOTE], timeout=SEEN)
        other.get_by_test_id("desk-input").fill("Hi Ada, Jon here. Good news about your refund!")
        other.get_by_test_id("desk-send").click()

        # The customer got Jon's message, and nothing of the notes, live or after a reload.
        expect(said(chat, "webchat").last).to_have_text("Hi Ada, Jon here. Good news about your refund!", timeout=SEEN)
        expect(said(other, "desk").last).to_have_text("Hi Ada, Jon here. Good news about your refund!")
        for note in (FIRST_NOTE, SECOND_NOTE):
            expect(chat.get_by_text(note)).to_have_count(0)
        shot(other, "internal-notes.png")
        shot(chat, "internal-notes-widget.png")
        chat.reload()
        if not chat.get_by_test_id("webchat-panel").is_visible():
            chat.get_by_test_id("webchat-launcher").click()
        expect(said(chat, "webchat").last).to_have_text("Hi Ada, Jon here. Good news about your refund!", timeout=SEEN)
        expect(said(chat, "webchat")).to_have_count(3)
        assert FIRST_NOTE not in chat.content() and "Refund approved" not in chat.content()
    finally:
        for context in (desk_context, other_context, chat_context):
            context.close()


def test_a_returning_customers_past_shows_on_the_desk(web: Stack, browser: Browser) -> None:
    desk_context, desk = new_page(browser)
    phone = new_phone()
    try:
        clear_the_floor(web)
        desk_sign_in(desk, web, "kai")
        with web.http() as http:
            text(web, http, web.settings.flex_sms_number, phone, "My order never came")
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        desk.get_by_test_id("desk-conversation").click(timeout=SEEN)
        desk.get_by_test_id("desk-input").fill("Sending a new one today.")
        desk.get_by_test_id("desk-send").click()
        expect(said(desk, "desk").last).to_have_text("Sending a new one today.", timeout=SEEN)
        # The wrap-up disposition, as the desk's wrap-up form stores it on the task.
        workspace = workspace_of(web)
        channel_sid = desk.get_by_test_id("desk-conversation").get_attribute("data-channel-sid")
        [task] = [
            t
            for t in workspace.tasks.list(assignment_status=["assigned"])
            if json.loads(t.attributes).get("channelSid") == channel_sid
        ]
        attributes = {**json.loads(task.attributes), "conversations": {"outcome": "Replacement sent"}}
        workspace.tasks(task.sid).update(attributes=json.dumps(attributes))
        desk.get_by_test_id("desk-wrapup").click()
        expect(desk.get_by_test_id("desk-complete")).to_be_enabled(timeout=SEEN)
        desk.get_by_test_id("desk-complete").click()

        def closed() -> None:
            with web.http() as http:
                found = http.get("/v1/Contacts", params={"Address": phone}).json()["conversations"]
            assert [c["status"] for c in found] == ["INACTIVE"], found

        eventually(closed)
        with web.http() as http:
            text(web, http, web.settings.flex_sms_number, phone, "Hi again, about my order")
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        desk.locator(f"[data-testid=desk-conversation]:not([data-channel-sid={channel_sid}])").click(timeout=SEEN)
        expect(said(desk, "desk")).to_have_text(["Hi again, about my order"], timeout=SEEN)

        past = desk.get_by_test_id("desk-past")
        expect(past).to_be_visible(timeout=SEEN)
        expect(past.locator("summary")).to_have_text("Earlier conversations (1)")
        past.locator("summary").click()
        item = past.get_by_test_id("desk-past-item")
        expect(item).to_have_count(1)
        expect(item).to_contain_text("Task completed · ended by agent · with kai")
        expect(item.get_by_test_id("desk-past-outcome")).to_have_text("Outcome: Replacement sent")
        shot(desk, "customer-past.png")

        item.get_by_test_id("desk-past-open").click()
        dialog = desk.get_by_test_id("desk-past-dialog")
        expect(dialog).to_be_visible(timeout=SEEN)
        expect(dialog.get_by_test_id("desk-past-message")).to_have_count(2, timeout=SEEN)
        expect(dialog).to_contain_text("My order never came")
        expect(dialog).to_contain_text("read-only")
        shot(desk, "customer-past-open.png")
        desk.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
    finally:
        desk_context.close()
