"""An agent's and a customer's first hour, in a real browser (as ``tests/test_browser.py``): the
desk closes its composer once the customer left the web chat; the widget says when the agent
left; "New conversation" while Offline keeps the form open with the reason, sends nothing, and
sends the first words once when started again after going Available. Screenshots go to
``test-artifacts/``."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from switchboard.fake_provider import FakeTwilio
from tests.helpers.browser import SEEN, desk_sign_in, new_page, said, shot, widget_start, worker_named
from tests.helpers.stack import Stack, StackFactory, clear_the_floor, eventually, new_phone


@pytest.fixture(scope="module")
def web(make_stack: StackFactory) -> Stack:
    return make_stack(desk_dev_sign_in=True, channel_inactivity_seconds=600.0)


def accept_the_offer(desk: Page) -> None:
    desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
    desk.get_by_test_id("desk-conversation").first.click(timeout=SEEN)


def test_the_desk_closes_the_composer_once_the_customer_left(web: Stack, browser: Browser) -> None:
    desk_context, desk = new_page(browser)
    chat_context, chat = new_page(browser)
    try:
        clear_the_floor(web)
        desk_sign_in(desk, web, "ivy")
        widget_start(chat, web, "Cy", "Is it in stock?")
        accept_the_offer(desk)
        expect(said(desk, "desk").first).to_have_text("Is it in stock?", timeout=SEEN)
        expect(desk.get_by_test_id("desk-input")).to_be_enabled()
        chat.get_by_test_id("webchat-end").click()
        chat.get_by_test_id("webchat-end-confirm").click()
        expect(desk.get_by_test_id("desk-messages")).to_contain_text("The customer ended the chat.", timeout=SEEN)
        composer = desk.get_by_test_id("desk-input")
        expect(composer).to_be_disabled(timeout=SEEN)
        expect(composer).to_have_attribute(
            "placeholder", "The customer left the chat and will not see new messages. Wrap up and complete the task."
        )
        expect(desk.get_by_test_id("desk-send")).to_be_disabled()
        shot(desk, "desk-customer-left.png")
        # A reloaded desk still knows the customer left.
        desk.reload()
        expect(desk.get_by_test_id("desk-status")).to_have_text("Connected", timeout=SEEN)
        desk.get_by_test_id("desk-conversation").first.click(timeout=SEEN)
        expect(desk.get_by_test_id("desk-messages")).to_contain_text("The customer ended the chat.", timeout=SEEN)
        expect(desk.get_by_test_id("desk-input")).to_be_disabled(timeout=SEEN)
        shot(desk, "desk-customer-left-reloaded.png")
    finally:
        for context in (chat_context, desk_context):
            context.close()


def test_the_widget_says_the_agent_left(web: Stack, browser: Browser) -> None:
    desk_context, desk = new_page(browser)
    chat_context, chat = new_page(browser)
    try:
        clear_the_floor(web)
        desk_sign_in(desk, web, "jon")
        widget_start(chat, web, "Di", "Where is my parcel?")
        accept_the_offer(desk)
        desk.get_by_test_id("desk-input").fill("It arrives tomorrow.")
        desk.get_by_test_id("desk-send").click()
        expect(said(chat, "webchat").last).to_have_text("It arrives tomorrow.", timeout=SEEN)
        desk.get_by_test_id("desk-wrapup").click()
        notices = chat.locator("[data-testid=webchat-message][data-author-role=system]")
        expect(notices.filter(has_text="left the chat")).to_have_text(
            ["jon left the chat. Write again if you need anything else."], timeout=SEEN
        )
        # The customer may still write: the chat stays open.
        expect(chat.get_by_test_id("webchat-input")).to_be_visible()
        expect(desk.get_by_test_id("desk-complete")).to_be_enabled(timeout=SEEN)
        desk.get_by_test_id("desk-complete").click()
        expect(desk.locator("#chat-state")).to_have_text("Task completed", timeout=SEEN)
        expect(notices.filter(has_text="left the chat")).to_have_count(1)
        shot(chat, "webchat-agent-left.png")
    finally:
        for context in (chat_context, desk_context):
            context.close()


def test_new_conversation_while_offline_says_why_and_sends_nothing(
    sending: Stack, fake_twilio: FakeTwilio, browser: Browser
) -> None:
    clear_the_floor(sending)
    customer = new_phone()
    context, desk = new_page(browser)
    try:
        desk.goto(f"{sending.url}/desk/")
        desk.locator("[data-testid=desk-signin] input[name=identity]").fill("kim")
        desk.get_by_test_id("desk-signin-submit").click()
        expect(desk.get_by_test_id("desk-status")).to_have_text("Connected", timeout=SEEN)
        # A new agent starts Offline (once the directory came, the form lists the Flex Flows).
        activity = desk.get_by_test_id("desk-activity")
        expect(activity.get_by_role("option", name="Available", exact=True)).to_have_count(1, timeout=SEEN)
        expect(activity.locator("option:checked")).to_have_text("Offline", timeout=SEEN)
        desk.get_by_test_id("desk-new").click()
        form = desk.get_by_test_id("desk-outbound")
        form.get_by_test_id("desk-outbound-flow").select_option(
            label=f"sms · Flex Messaging Channel ({sending.settings.flex_sms_number})"
        )
        form.locator("[name=to]").fill(customer)
        form.locator("[name=customer_name]").fill("Eve")
        form.locator("[name=body]").fill("Hi Eve, your refund is on its way.")
        desk.get_by_test_id("desk-outbound-start").click()
        refusal = form.get_by_test_id("desk-outbound-error")
        expect(refusal).to_contain_text("You are Offline", timeout=SEEN)
        expect(refusal).to_contain_text("Nothing was sent.")
        expect(form).to_be_visible()
        shot(desk, "desk-outbound-offline.png")
        assert [r for r in fake_twilio.message_requests() if r.field("To") == customer] == []

        # Available now, the same form starts the conversation: the first words go out once.
        desk.get_by_test_id("desk-activity").select_option(label="Available")
        expect(desk.locator("#availability")).to_have_attribute("data-available", "true", timeout=SEEN)
        desk.get_by_test_id("desk-outbound-start").click()
        expect(form).to_be_hidden(timeout=SEEN)
        conversation = desk.locator("[data-testid=desk-conversation]", has_text="Eve")
        expect(conversation).to_have_count(1, timeout=SEEN)
        conversation.click()
        mine = desk.locator("[data-testid=desk-message][data-author-role=agent]")
        expect(mine.last.get_by_test_id("message-status")).to_have_text("Delivered", timeout=SEEN)

        def sent_once() -> None:
            bodies = [r.field("Body") for r in fake_twilio.message_requests() if r.field("To") == customer]
            assert bodies == ["Hi Eve, your refund is on its way."], bodies

        eventually(sent_once)
        shot(desk, "desk-outbound-started.png")
    finally:
        context.close()


@pytest.fixture(scope="module")
def briefly_missed(make_stack: StackFactory) -> Stack:
    """Desks count as gone two seconds after their last socket closed."""
    return make_stack(
        desk_dev_sign_in=True,
        channel_inactivity_seconds=600.0,
        desk_disconnect_grace_seconds=2.0,
        desk_presence_lease_seconds=2.0,
    )


def test_an_offer_to_a_closed_desk_moves_to_an_open_one(briefly_missed: Stack, browser: Browser) -> None:
    """An Available agent closes the desk with an offer pending: once the grace period is over
    the agent is Offline and the chat is offered to the agent whose desk is open, well before the
    reservation would have timed out."""
    gone_context, gone = new_page(browser)
    here_context, here = new_page(browser)
    chat_context, chat = new_page(browser)
    try:
        clear_the_floor(briefly_missed)
        desk_sign_in(gone, briefly_missed, "uma")
        widget_start(chat, briefly_missed, "Flo", "Can I change my order?")
        offer = gone.get_by_test_id("desk-reservation")
        expect(offer.get_by_test_id("reservation-name")).to_have_text("Flo", timeout=SEEN)
        gone_context.close()  # the agent closes the desk without a word
        desk_sign_in(here, briefly_missed, "val")
        moved = here.get_by_test_id("desk-reservation")
        expect(moved.get_by_test_id("reservation-name")).to_have_text("Flo", timeout=SEEN)
        shot(here, "desk-offer-moved-from-closed-desk.png")
        uma = worker_named(briefly_missed, "uma")
        assert (uma.activity_name, uma.available) == ("Offline", False)
    finally:
        for context in (chat_context, here_context):
            context.close()
