"""The web chat widget and the agent desk in a real browser: Debian's Chromium driven by
Playwright, each side in its own browser context against a running stack. A customer fills the
pre-engagement form on the demo page and writes; the agent signs in to the desk, goes Available,
accepts the reservation and answers; typing, read receipts, an HTML payload shown as text on both
sides, a reload that finds the history again, and the agent completing the task. Screenshots of
both sides are written to ``test-artifacts/``."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, FilePayload, Locator, Page, expect, sync_playwright

from store.defaults import plan_flex_defaults
from tests.conftest import ARTIFACTS, Stack, StackFactory, eventually

CHROMIUM = os.environ.get("SWITCHBOARD_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
WAIT_TIME = re.compile(r"^\d+:\d\d$")
SEEN = 20_000  # ms: how long the UI may take to show what the server already sent


@pytest.fixture(scope="module")
def web(make_stack: StackFactory) -> Stack:
    return make_stack(desk_dev_sign_in=True, channel_inactivity_seconds=600.0)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def new_page(browser: Browser) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    # Any alert means injected markup ran.
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    return context, page


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def desk_sign_in(page: Page, stack: Stack, identity: str) -> None:
    page.goto(f"{stack.url}/desk/")
    page.locator("[data-testid=desk-signin] input[name=identity]").fill(identity)
    page.get_by_test_id("desk-signin-submit").click()
    expect(page.get_by_test_id("desk-status")).to_have_text("Connected", timeout=SEEN)
    activity = page.get_by_test_id("desk-activity")
    expect(activity.get_by_role("option", name="Available", exact=True)).to_have_count(1, timeout=SEEN)
    activity.select_option(label="Available")


def widget_start(page: Page, stack: Stack, name: str, question: str) -> None:
    page.goto(f"{stack.url}/demo/")
    page.get_by_test_id("webchat-launcher").click()
    form = page.get_by_test_id("webchat-pre-engagement")
    form.locator("[name=friendly_name]").fill(name)
    form.locator("[name=email]").fill(f"{name.lower()}@example.com")
    form.locator("[name=question]").fill(question)
    page.get_by_test_id("webchat-start").click()


def said(page: Page, side: str) -> Locator:
    """The bodies of the conversation's messages on one side (``webchat`` or ``desk``), without
    the UI's own notices."""
    return page.locator(f"[data-testid={side}-message]:not([data-author-role=system]) [data-testid=message-body]")


def test_a_customer_and_an_agent_chat_in_the_browser(web: Stack, browser: Browser) -> None:
    desk_context, desk = new_page(browser)
    chat_context, chat = new_page(browser)
    try:
        desk_sign_in(desk, web, "grace")
        widget_start(chat, web, "Ada", "Where is my order?")
        customer_side = chat.get_by_test_id("webchat-messages")
        expect(said(chat, "webchat").first).to_have_text("Where is my order?", timeout=SEEN)

        # The reservation shows who is waiting, on which channel; the agent accepts.
        offer = desk.get_by_test_id("desk-reservation")
        expect(offer).to_have_count(1, timeout=SEEN)
        expect(offer.get_by_test_id("reservation-name")).to_have_text("Ada")
        expect(offer.get_by_test_id("reservation-channel")).to_contain_text("web")
        expect(offer.get_by_test_id("reservation-wait")).to_have_text(WAIT_TIME)
        offer.get_by_test_id("reservation-accept").click()
        conversation = desk.get_by_test_id("desk-conversation")
        expect(conversation).to_have_count(1, timeout=SEEN)
        conversation.click()
        expect(said(desk, "desk").first).to_have_text("Where is my order?", timeout=SEEN)

        # Typing shows on the customer's side; the answer (HTML in it) arrives as text.
        desk.get_by_test_id("desk-input").press_sequentially("One moment", delay=20)
        expect(chat.get_by_test_id("webchat-typing")).to_contain_text("grace", timeout=SEEN)
        desk.get_by_test_id("desk-input").fill(HOSTILE)
        desk.get_by_test_id("desk-send").click()
        expect(said(chat, "webchat").nth(1)).to_have_text(HOSTILE, timeout=SEEN)
        expect(said(desk, "desk").nth(1)).to_have_text(HOSTILE, timeout=SEEN)

        # The customer's HTML is text on the agent's side too; the agent's typing shows here.
        chat.get_by_test_id("webchat-input").press_sequentially("<b>thanks</b>", delay=20)
        expect(desk.get_by_test_id("desk-typing")).to_be_visible(timeout=SEEN)
        chat.get_by_test_id("webchat-send").click()
        expect(said(desk, "desk").nth(2)).to_have_text("<b>thanks</b>", timeout=SEEN)
        for page in (chat, desk):
            assert page.evaluate("() => window.__pwned === undefined")
            assert page.locator("img[src=x]").count() == 0
        assert chat.evaluate(
            "() => document.getElementById('switchboard-webchat').shadowRoot.querySelector('b') === null"
        )

        # Read receipts: the agent has the conversation open, so the customer's message is read.
        own = customer_side.locator("[data-author-role=customer]").last
        expect(own.get_by_test_id("message-status")).to_have_text("Read", timeout=SEEN)
        shot(chat, "webchat.png")
        shot(desk, "desk.png")

        # A reload finds the same chat, with its history.
        chat.reload()
        if not chat.get_by_test_id("webchat-panel").is_visible():
            chat.get_by_test_id("webchat-launcher").click()
        expect(said(chat, "webchat")).to_have_text(["Where is my order?", HOSTILE, "<b>thanks</b>"], timeout=SEEN)
        expect(chat.get_by_test_id("webchat-pre-engagement")).to_have_count(0)

        # The agent wraps up and completes the task.
        desk.get_by_test_id("desk-wrapup").click()
        expect(desk.get_by_test_id("desk-complete")).to_be_enabled(timeout=SEEN)
        desk.get_by_test_id("desk-complete").click()
        assert_task_completed(web)
        shot(desk, "desk-completed.png")
    finally:
        for context, page, name in ((chat_context, chat, "webchat-last.png"), (desk_context, desk, "desk-last.png")):
            shot(page, name)
            context.close()


def assert_task_completed(stack: Stack) -> None:
    workspace = plan_flex_defaults(stack.settings).defaults.workspace_sid
    client = stack.twilio()

    def completed() -> None:
        tasks = client.taskrouter.v1.workspaces(workspace).tasks.list()
        mine = [t for t in tasks if json.loads(t.attributes).get("name") == "Ada"]
        assert mine and mine[0].assignment_status == "completed", [t.assignment_status for t in mine]

    eventually(completed)


def test_the_customer_ends_the_chat_and_the_agent_sees_it(web: Stack, browser: Browser) -> None:
    desk_context, desk = new_page(browser)
    chat_context, chat = new_page(browser)
    try:
        desk_sign_in(desk, web, "heidi")
        widget_start(chat, web, "Bo", "Can I change my address?")
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        desk.get_by_test_id("desk-conversation").click(timeout=SEEN)
        chat.get_by_test_id("webchat-end").click()
        chat.get_by_test_id("webchat-end-confirm").click()
        expect(chat.get_by_test_id("webchat-new-chat")).to_be_visible(timeout=SEEN)
        expect(desk.get_by_test_id("desk-messages")).to_contain_text("ended the chat", timeout=SEEN)
        expect(desk.get_by_test_id("desk-complete")).to_be_enabled(timeout=SEEN)
        desk.get_by_test_id("desk-complete").click()
        shot(chat, "webchat-ended.png")
    finally:
        for context in (chat_context, desk_context):
            context.close()


def test_the_widget_refuses_files_it_may_not_send(web: Stack, browser: Browser) -> None:
    context, chat = new_page(browser)
    try:
        widget_start(chat, web, "Cy", "A question")
        expect(chat.get_by_test_id("webchat-status")).to_contain_text("Connected", timeout=SEEN)
        chat.get_by_test_id("webchat-file").set_input_files(
            files=FilePayload(name="page.html", mimeType="text/html", buffer=b"<html></html>")
        )
        expect(chat.get_by_test_id("webchat-error")).to_be_visible(timeout=SEEN)
        chat.get_by_test_id("webchat-file").set_input_files(
            files=FilePayload(name="note.txt", mimeType="text/plain", buffer=b"order 1234")
        )
        expect(chat.get_by_test_id("webchat-messages")).to_contain_text("note.txt", timeout=SEEN)
    finally:
        context.close()
