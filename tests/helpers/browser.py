"""The desk and the web chat widget driven in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from twilio.rest.taskrouter.v1.workspace import WorkspaceContext
from twilio.rest.taskrouter.v1.workspace.worker import WorkerInstance

from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.stack import ARTIFACTS, Stack

SEEN = 20_000  # ms: how long the UI may take to show what the server already sent


def new_page(browser: Browser) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    # Any alert means injected markup ran.
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    return context, page


def desk_sign_in(page: Page, stack: Stack, identity: str) -> None:
    page.goto(f"{stack.url}/desk/")
    page.locator("[data-testid=desk-signin] input[name=identity]").fill(identity)
    page.get_by_test_id("desk-signin-submit").click()
    expect(page.get_by_test_id("desk-status")).to_have_text("Connected", timeout=SEEN)
    activity = page.get_by_test_id("desk-activity")
    expect(activity.get_by_role("option", name="Available", exact=True)).to_have_count(1, timeout=SEEN)
    activity.select_option(label="Available")


def said(page: Page, side: str) -> Locator:
    """The bodies of the conversation's messages on one side (``webchat`` or ``desk``), without
    the UI's own notices."""
    return page.locator(f"[data-testid={side}-message]:not([data-author-role=system]) [data-testid=message-body]")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def widget_start(page: Page, stack: Stack, name: str, question: str) -> None:
    page.goto(f"{stack.url}/demo/")
    if not page.get_by_test_id("webchat-panel").is_visible():  # it stays open from page to page
        page.get_by_test_id("webchat-launcher").click()
    form = page.get_by_test_id("webchat-pre-engagement")
    form.locator("[name=friendly_name]").fill(name)
    form.locator("[name=email]").fill(f"{name.lower()}@example.com")
    form.locator("[name=question]").fill(question)
    page.get_by_test_id("webchat-start").click()


def workspace_of(stack: Stack) -> WorkspaceContext:
    return stack.twilio().taskrouter.v1.workspaces(plan_flex_defaults(stack.settings).defaults.workspace_sid)


def worker_named(stack: Stack, name: str) -> WorkerInstance:
    [worker] = [w for w in workspace_of(stack).workers.list() if w.friendly_name == name]
    return worker
