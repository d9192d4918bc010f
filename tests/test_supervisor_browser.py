"""The supervisor view in Chromium: a supervisor's desk and an agent's side by side while a web
customer writes. The supervisor sees the queue count and the agent change live (pushed over the
socket), monitors the conversation read-only, moves the agent to Break and transfers the
conversation back to the queue. The screenshot ``supervisor-view.png`` goes to ``test-artifacts/``."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.helpers.browser import SEEN, desk_sign_in, new_page, shot, widget_start
from tests.helpers.sockets import supervisor_worker
from tests.helpers.stack import Stack, StackFactory, clear_the_floor


@pytest.fixture(scope="module")
def web(make_stack: StackFactory) -> Stack:
    return make_stack(desk_dev_sign_in=True, channel_inactivity_seconds=600.0)


def test_a_supervisor_watches_the_team_and_monitors_transfers_and_moves_an_agent(web: Stack, browser: Browser) -> None:
    lead_context = browser.new_context(viewport={"width": 1440, "height": 960})
    lead = lead_context.new_page()
    lead.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    errors: list[str] = []
    lead.on("pageerror", lambda error: errors.append(str(error)))
    agent_context, agent = new_page(browser)
    chat_context, chat = new_page(browser)
    try:
        clear_the_floor(web)
        supervisor_worker(web, "lina")
        # The agent's desk shows no team view; the supervisor's does.
        desk_sign_in(agent, web, "arno")
        expect(agent.get_by_test_id("desk-team-toggle")).to_be_hidden()
        desk_sign_in(lead, web, "lina")
        lead.get_by_test_id("desk-activity").select_option(label="Offline")  # she watches, not answers
        toggle = lead.get_by_test_id("desk-team-toggle")
        expect(toggle).to_be_visible(timeout=SEEN)
        toggle.click()
        expect(toggle).to_have_attribute("aria-pressed", "true")
        view = lead.get_by_test_id("supervisor-view")
        expect(view).to_be_visible()
        arno = view.locator("[data-testid=team-agent]", has_text="arno")
        expect(arno.get_by_test_id("agent-activity")).to_have_value(
            arno.get_by_test_id("agent-activity")
            .get_by_role("option", name="Available", exact=True)
            .get_attribute("value")
            or "",
            timeout=SEEN,
        )
        queue = view.locator("[data-testid=team-queue]", has_text="Everyone")
        expect(queue.get_by_test_id("queue-waiting")).to_have_text("0", timeout=SEEN)
        expect(view.get_by_test_id("team-queues").get_by_role("columnheader", name="Waiting")).to_be_visible()

        # A web customer writes: the queue counts her before anyone answers.
        widget_start(chat, web, "Cleo", "Does the tent fit four people?")
        expect(queue.get_by_test_id("queue-waiting")).to_have_text("1", timeout=SEEN)
        expect(view.get_by_test_id("team-summary")).to_contain_text("1 waiting")
        cleo = view.locator("[data-testid=team-conversation]", has_text="Cleo")
        expect(cleo).to_have_count(1, timeout=SEEN)

        # The agent accepts: the conversation is his, the queue empties, his count goes up.
        agent.get_by_test_id("reservation-accept").click(timeout=SEEN)
        expect(cleo.get_by_test_id("conversation-status")).to_have_text("With agent", timeout=SEEN)
        expect(cleo.get_by_test_id("conversation-agent")).to_have_text("arno")
        expect(queue.get_by_test_id("queue-waiting")).to_have_text("0", timeout=SEEN)
        expect(arno.get_by_test_id("agent-conversations")).to_have_text("1", timeout=SEEN)
        expect(arno.get_by_test_id("capacity-chat")).to_contain_text("1/3")

        # Monitoring: the history, then what is said, live; no composer.
        cleo.get_by_test_id("team-monitor-open").click()
        monitor = view.get_by_test_id("team-monitor")
        expect(monitor.get_by_test_id("team-monitor-title")).to_have_text("Monitoring Cleo with arno", timeout=SEEN)
        bodies = monitor.get_by_test_id("team-monitor-body")
        expect(bodies.first).to_have_text("Does the tent fit four people?", timeout=SEEN)
        agent.get_by_test_id("desk-input").fill("It does: four, with room for bags.")
        agent.get_by_test_id("desk-send").click()
        expect(bodies.last).to_have_text("It does: four, with room for bags.", timeout=SEEN)
        expect(monitor.locator("textarea, input[type=text]")).to_have_count(0)

        # The supervisor moves the agent to Break: his own desk shows it.
        arno.get_by_test_id("agent-activity").select_option(label="Break")
        expect(agent.get_by_test_id("desk-activity").locator("option:checked")).to_have_text("Break", timeout=SEEN)
        expect(arno.locator("[data-available]")).to_have_attribute("data-available", "false", timeout=SEEN)
        shot(lead, "supervisor-view.png")

        # ...and hands the conversation back to the queue: it waits there, and arno wraps up.
        monitor.get_by_test_id("team-transfer-target").select_option(label="Queue: Everyone")
        monitor.get_by_test_id("team-transfer").click()
        expect(queue.get_by_test_id("queue-waiting")).to_have_text("1", timeout=SEEN)
        expect(agent.get_by_test_id("desk-conversation")).to_contain_text("wrapping", timeout=SEEN)
        waiting = view.locator("[data-testid=team-conversation][data-status=pending]", has_text="Cleo")
        expect(waiting).to_have_count(1, timeout=SEEN)
        shot(lead, "supervisor-view-transferred.png")
        shot(agent, "supervisor-view-agent.png")
        assert errors == []
    finally:
        for context in (chat_context, agent_context, lead_context):
            context.close()
