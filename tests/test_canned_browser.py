"""Canned responses and the agent's display name in a real browser: the agent types ``/gre`` in
the desk's composer, picks an answer from the list with the keyboard and sends it with the
placeholders filled; the customer's widget shows the filled text under the agent's display name
and picture, in the header, the joined notice and the typing line, and never the agent's identity.
Screenshots: ``canned-responses.png`` (the desk's list) and ``widget-agent-name.png``."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, expect

from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.browser import SEEN, desk_sign_in, new_page, said, shot, widget_start, worker_named
from tests.helpers.sockets import sign_in
from tests.helpers.stack import Stack, StackFactory, clear_the_floor

IDENTITY = "maya.lopez"
AVATAR = "/favicon.svg"  # a picture on the chat's own site (the demo page's policy allows no other)
RESPONSES = (
    ("Greeting", "greet", "Hi {{ customer.first_name }}, I'm {{agent.name}}. How can I help?"),
    ("Greeting with order", "greet-order", "Hello {{customer.name}}, about order {{ order.number }}:"),
)


@pytest.fixture(scope="module")
def web(make_stack: StackFactory) -> Stack:
    return make_stack(desk_dev_sign_in=True, channel_inactivity_seconds=600.0)


def test_an_agent_answers_with_a_canned_response_under_its_display_name(web: Stack, browser: Browser) -> None:
    clear_the_floor(web)
    sign_in(web, IDENTITY)  # the worker exists from its first sign-in; its admin names it
    worker = worker_named(web, IDENTITY)
    attributes = {**json.loads(worker.attributes), "full_name": "Maya", "image_url": AVATAR}
    worker.update(attributes=json.dumps(attributes))
    workspace = plan_flex_defaults(web.settings).defaults.workspace_sid
    with web.http() as http:
        for name, shortcut, body in RESPONSES:
            form = {"FriendlyName": name, "Shortcut": shortcut, "Body": body}
            response = http.post(f"/v1/Workspaces/{workspace}/CannedResponses", data=form)
            assert response.status_code in (201, 409), response.text

    desk_context, desk = new_page(browser)
    chat_context, chat = new_page(browser)
    try:
        desk_sign_in(desk, web, IDENTITY)
        expect(desk.locator("#me")).to_have_text("Maya")  # the agent sees its own display name too
        widget_start(chat, web, "Ada", "Where is my order?")
        offer = desk.get_by_test_id("desk-reservation")
        expect(offer).to_have_count(1, timeout=SEEN)
        offer.get_by_test_id("reservation-accept").click()
        desk.get_by_test_id("desk-conversation").click()
        expect(said(desk, "desk").first).to_have_text("Where is my order?", timeout=SEEN)
        expect(chat.get_by_test_id("webchat-messages")).to_contain_text("Maya joined the chat.", timeout=SEEN)

        composer = desk.get_by_test_id("desk-input")
        listbox = desk.get_by_role("listbox", name="Canned responses")
        # Escape closes the list and keeps what was typed.
        composer.press_sequentially("/gr", delay=30)
        expect(listbox).to_be_visible(timeout=SEEN)
        composer.press("Escape")
        expect(listbox).to_be_hidden()
        expect(composer).to_have_value("/gr")
        expect(chat.get_by_test_id("webchat-typing")).to_have_text("Maya is typing…", timeout=SEEN)
        composer.fill("")

        composer.press_sequentially("/gre", delay=30)
        expect(composer).to_have_attribute("aria-expanded", "true", timeout=SEEN)
        options = listbox.get_by_role("option")
        expect(options).to_have_count(2)
        expect(options.nth(1)).to_contain_text("{{ order.number }}")  # a body is shown as written
        composer.press("ArrowDown")
        expect(options.nth(1)).to_have_attribute("aria-selected", "true")
        expect(composer).to_have_attribute("aria-activedescendant", "canned-option-1")
        composer.press("ArrowUp")
        expect(options.nth(0)).to_have_attribute("aria-selected", "true")
        shot(desk, "canned-responses.png")
        composer.press("Enter")
        expect(listbox).to_be_hidden()
        filled = "Hi Ada, I'm Maya. How can I help?"
        expect(composer).to_have_value(filled)
        composer.press("Enter")  # now Enter sends

        expect(said(chat, "webchat").nth(1)).to_have_text(filled, timeout=SEEN)
        reply = chat.locator("[data-testid=webchat-message][data-author-role=agent]").last
        expect(reply.get_by_test_id("message-author")).to_have_text("Maya")
        picture = reply.get_by_test_id("webchat-avatar")
        expect(picture).to_have_attribute("alt", "Maya")
        expect(picture).to_have_attribute("src", AVATAR)
        assert picture.evaluate("img => img.complete && img.naturalWidth > 0")
        expect(chat.get_by_test_id("webchat-agent")).to_have_text("You're chatting with Maya")
        # An unknown placeholder stays visible: the second answer, inserted by a click.
        composer.press_sequentially("/greet-o", delay=30)
        expect(options).to_have_count(1, timeout=SEEN)
        options.first.click()
        expect(composer).to_have_value("Hello Ada, about order {{ order.number }}:")
        composer.fill("")
        panel_text = chat.get_by_test_id("webchat-panel").inner_text()
        assert IDENTITY not in panel_text and "Maya" in panel_text
        shot(chat, "widget-agent-name.png")
        # A picture that does not load gives way to the name's initials.
        picture.evaluate("img => { img.src = '/no-such-picture.png'; }")
        expect(reply.locator(".avatar.initials")).to_have_attribute("data-initials", "M", timeout=SEEN)
    finally:
        for context in (chat_context, desk_context):
            context.close()
