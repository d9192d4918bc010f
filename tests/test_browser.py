"""The web chat widget and the agent desk in a real browser: Debian's Chromium driven by
Playwright, each side in its own browser context against a running stack. A customer fills the
pre-engagement form on the demo page and writes; the agent signs in to the desk, goes Available,
accepts the reservation and answers; typing, read receipts, an HTML payload shown as text on both
sides, a reload that finds the history again, and the agent completing the task. Screenshots of
both sides are written to ``test-artifacts/``."""

from __future__ import annotations

import base64
import functools
import json
import re
import struct
import threading
import zlib
from datetime import timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Locator, Page, WebSocketRoute, expect

from switchboard.fake_provider import FakeTwilio, ScriptedError
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.browser import SEEN, desk_sign_in, new_page, said, shot, widget_start, worker_named, workspace_of
from tests.helpers.flows import whatsapp_flow
from tests.helpers.jwks import SSO_AUDIENCE, SSO_ISSUER, JwksServer, rsa_key
from tests.helpers.messages import age_messages, messages_of, text
from tests.helpers.stack import Stack, StackFactory, clear_the_floor, eventually, new_phone

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)  # one pixel
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
WAIT_TIME = re.compile(r"^\d+:\d\d$")
TWELVE_HOUR = re.compile(r"^\d{1,2}:\d\d\s?[AP]M$")
TWENTY_FOUR_HOUR = re.compile(r"^\d\d:\d\d$")


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain PNG of one colour, big enough to change a layout when it loads."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = (b"\x00" + bytes(rgb) * width) * height
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def web(make_stack: StackFactory) -> Stack:
    return make_stack(desk_dev_sign_in=True, channel_inactivity_seconds=600.0)


def test_a_customer_and_an_agent_chat_in_the_browser(web: Stack, browser: Browser) -> None:
    desk_context, desk = new_page(browser)
    chat_context, chat = new_page(browser)
    try:
        clear_the_floor(web)
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
        # The offer card and the New conversation button below it do not touch.
        card, button = offer.bounding_box(), desk.get_by_test_id("desk-new").bounding_box()
        assert card is not None and button is not None
        assert button["y"] - (card["y"] + card["height"]) >= 6, (card, button)
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
        clear_the_floor(web)
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


def test_the_widget_works_embedded_on_another_origin(web: Stack, browser: Browser, tmp_path: Path) -> None:
    """A business's own page, served from another origin, with the one script tag."""
    flow = plan_flex_defaults(web.settings).defaults.web_flex_flow_sid
    (tmp_path / "index.html").write_text(
        "<!doctype html><html lang=en><head><title>Shop</title>"
        "<style>* { color: red !important; font-size: 40px !important; }</style></head>"
        f'<body><h1>Another shop</h1><script src="{web.url}/webchat/webchat.js" data-flex-flow-sid="{flow}" '
        'data-title="Ask the shop" data-pre-engagement="[]" data-greeting="Hello from the shop" '
        'data-primary-color="#0b6e4f" data-text-color-on-primary="red;} .panel {display:none" '
        'data-position="left" data-launcher-label="Questions?"></script></body></html>'
    )
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    shop = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=shop.serve_forever, daemon=True).start()
    context, page = new_page(browser)
    try:
        page.goto(f"http://127.0.0.1:{shop.server_address[1]}/index.html")
        # Colours, corner and texts come from the tag; a value that is not a colour is ignored.
        launcher = page.get_by_test_id("webchat-launcher")
        expect(launcher).to_contain_text("Questions?")
        style = launcher.evaluate("e => { const s = getComputedStyle(e); return [s.backgroundColor, s.color] }")
        assert style == ["rgb(11, 110, 79)", "rgb(255, 255, 255)"], style
        box = launcher.bounding_box()
        assert box is not None and box["x"] < 600, box
        launcher.click()
        expect(page.get_by_role("dialog", name="Ask the shop")).to_be_visible()
        expect(page.get_by_test_id("webchat-messages")).to_contain_text("Hello from the shop")
        page.get_by_test_id("webchat-start").click()
        expect(page.get_by_test_id("webchat-status")).to_have_text("Connected", timeout=SEEN)
        page.get_by_test_id("webchat-input").fill("hello from another origin")
        page.get_by_test_id("webchat-send").click()
        expect(said(page, "webchat").last).to_have_text("hello from another origin", timeout=SEEN)
        expect(said(page, "webchat").last.locator("xpath=..").get_by_test_id("message-status")).to_have_text(
            "Sent", timeout=SEEN
        )
        # The page's styles stay out of the widget.
        size = page.get_by_test_id("webchat-input").evaluate("e => getComputedStyle(e).fontSize")
        assert size != "40px"
    finally:
        context.close()
        shop.shutdown()
        shop.server_close()


def test_files_travel_both_ways_within_limits_and_the_widget_works_from_the_keyboard(
    web: Stack, browser: Browser
) -> None:
    desk_context, desk = new_page(browser)
    context, chat = new_page(browser)
    try:
        clear_the_floor(web)
        desk_sign_in(desk, web, "uma")
        widget_start(chat, web, "Cy", "A question")
        expect(chat.get_by_test_id("webchat-status")).to_have_text("Connected", timeout=SEEN)
        upload = chat.get_by_test_id("webchat-file")
        upload.set_input_files(files=FilePayload(name="page.html", mimeType="text/html", buffer=b"<html></html>"))
        expect(chat.get_by_test_id("webchat-error")).to_contain_text("text/html", timeout=SEEN)
        upload.set_input_files(files=FilePayload(name="huge.png", mimeType="image/png", buffer=PNG + bytes(6 * 2**20)))
        expect(chat.get_by_test_id("webchat-error")).to_contain_text("huge.png", timeout=SEEN)
        upload.set_input_files(files=FilePayload(name="dot.png", mimeType="image/png", buffer=PNG))
        image = chat.get_by_test_id("webchat-messages").locator("img[alt='dot.png']")
        expect(image).to_have_attribute("src", re.compile(r"^blob:"), timeout=SEEN)
        assert chat.evaluate(
            "() => [...document.getElementById('switchboard-webchat').shadowRoot.querySelectorAll('img')]"
            ".every(i => i.complete && i.naturalWidth === 1)"
        )
        # The agent sees the picture and answers with a PDF, which the customer downloads.
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        desk.get_by_test_id("desk-conversation").click(timeout=SEEN)
        picture = desk.get_by_test_id("desk-messages").locator("img[alt='dot.png']")
        expect(picture).to_have_attribute("src", re.compile(r"^blob:"), timeout=SEEN)

        def shown() -> None:
            assert picture.evaluate("i => i.complete && i.naturalWidth === 1")

        eventually(shown)
        pdf = b"%PDF-1.4\n% opening hours\n"
        desk.get_by_test_id("desk-file").set_input_files(
            files=FilePayload(name="hours.pdf", mimeType="application/pdf", buffer=pdf)
        )
        offered = chat.get_by_test_id("webchat-messages").get_by_role("button", name="Download hours.pdf")
        with chat.expect_download(timeout=SEEN) as downloading:
            offered.click(timeout=SEEN)
        saved = downloading.value.path()
        assert downloading.value.suggested_filename == "hours.pdf" and saved.read_bytes() == pdf
        # Escape closes the panel and gives the focus back to the launcher; Enter sends.
        chat.get_by_test_id("webchat-input").focus()
        chat.keyboard.press("Escape")
        expect(chat.get_by_test_id("webchat-panel")).to_be_hidden()
        assert (
            chat.evaluate(
                "() => document.getElementById('switchboard-webchat').shadowRoot.activeElement.dataset.testid"
            )
            == "webchat-launcher"
        )
        chat.keyboard.press("Enter")
        expect(chat.get_by_test_id("webchat-panel")).to_be_visible()
        chat.get_by_test_id("webchat-input").fill("typed, then Enter")
        chat.get_by_test_id("webchat-input").press("Enter")
        expect(said(chat, "webchat").last).to_have_text("typed, then Enter", timeout=SEEN)
    finally:
        for each in (context, desk_context):
            each.close()


def test_an_agent_works_several_conversations_and_transfers_one(web: Stack, browser: Browser) -> None:
    """A web chat and an SMS at once: unread counts, the SMS transferred to another agent."""
    desk_context, desk = new_page(browser)
    other_context, other = new_page(browser)
    chat_context, chat = new_page(browser)
    phone = new_phone()
    try:
        clear_the_floor(web)
        desk_sign_in(desk, web, "ivy")
        widget_start(chat, web, "Dot", "Is the headlamp waterproof?")
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        expect(desk.get_by_test_id("desk-reservation")).to_have_count(0, timeout=SEEN)
        with web.http() as http:
            text(web, http, web.settings.flex_sms_number, phone, "hello from my phone")
        offer = desk.locator("[data-testid=desk-reservation]", has_text=phone)
        expect(offer.get_by_test_id("reservation-channel")).to_have_text("sms", timeout=SEEN)
        offer.get_by_test_id("reservation-accept").click()
        conversations = desk.get_by_test_id("desk-conversation")
        expect(conversations).to_have_count(2, timeout=SEEN)
        web_chat = desk.locator("[data-testid=desk-conversation]", has_text="Dot")
        sms_chat = desk.locator("[data-testid=desk-conversation]", has_text=phone)
        web_chat.click()
        expect(said(desk, "desk").first).to_have_text("Is the headlamp waterproof?", timeout=SEEN)
        # The SMS customer writes while the agent looks at the web chat: it counts as unread.
        with web.http() as http:
            text(web, http, web.settings.flex_sms_number, phone, "are you there?")
            text(web, http, web.settings.flex_sms_number, phone, "hello??")
        expect(sms_chat.get_by_test_id("conversation-unread")).to_have_text("2", timeout=SEEN)
        expect(web_chat.get_by_test_id("conversation-unread")).to_be_hidden()
        sms_chat.click()
        expect(sms_chat.get_by_test_id("conversation-unread")).to_be_hidden()
        expect(said(desk, "desk")).to_have_text(["hello from my phone", "are you there?", "hello??"], timeout=SEEN)

        # Another agent comes on; the SMS goes to her.
        desk_sign_in(other, web, "jade")
        # (The desk reloads meanwhile: it comes back to the same conversations.)
        desk.reload()
        expect(desk.get_by_test_id("desk-status")).to_have_text("Connected", timeout=SEEN)
        desk.locator("[data-testid=desk-conversation]", has_text=phone).click(timeout=SEEN)
        desk.get_by_test_id("desk-transfer").click()
        desk.get_by_test_id("desk-transfer-target").select_option(label="Agent: jade")
        desk.get_by_test_id("desk-transfer-confirm").click()
        handed = other.get_by_test_id("desk-reservation")
        expect(handed.get_by_test_id("reservation-name")).to_have_text(phone, timeout=SEEN)
        handed.get_by_test_id("reservation-accept").click()
        other.get_by_test_id("desk-conversation").click(timeout=SEEN)
        expect(said(other, "desk")).to_have_text(["hello from my phone", "are you there?", "hello??"], timeout=SEEN)
        other.get_by_test_id("desk-input").fill("Hi, Jade here.")
        other.get_by_test_id("desk-send").click()
        expect(said(other, "desk").last).to_have_text("Hi, Jade here.", timeout=SEEN)
        # The first agent's part ends with the transfer: the SMS is wrapping on her desk, hers to
        # complete but no longer to answer.
        expect(sms_chat).to_contain_text("wrapping", timeout=SEEN)
        expect(desk.get_by_test_id("desk-input")).to_be_disabled(timeout=SEEN)
        expect(desk.get_by_test_id("desk-input")).to_have_attribute("placeholder", re.compile("You transferred"))
        expect(desk.get_by_test_id("desk-complete")).to_be_enabled()
        # The customer's next words are for Jade: the first desk does not count them as unread.
        with web.http() as http:
            text(web, http, web.settings.flex_sms_number, phone, "thanks Jade")
        expect(said(other, "desk").last).to_have_text("thanks Jade", timeout=SEEN)
        expect(said(desk, "desk").last).to_have_text("hello??")
        expect(desk.get_by_test_id("desk-activity")).to_have_value(
            desk.get_by_test_id("desk-activity")
            .get_by_role("option", name="Available", exact=True)
            .get_attribute("value")
            or ""
        )
        shot(desk, "desk-two-conversations.png")
    finally:
        for context in (chat_context, other_context, desk_context):
            context.close()


def test_the_desk_shows_how_far_an_sms_got(sending: Stack, fake_twilio: FakeTwilio, browser: Browser) -> None:
    clear_the_floor(sending)
    context, desk = new_page(browser)
    phone = new_phone()
    try:
        desk_sign_in(desk, sending, "rita")
        with sending.http() as http:
            text(sending, http, sending.settings.flex_sms_number, phone, "my parcel is lost")
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        desk.get_by_test_id("desk-conversation").click(timeout=SEEN)
        desk.get_by_test_id("desk-input").fill("Let me check.")
        desk.get_by_test_id("desk-send").click()
        mine = desk.locator("[data-testid=desk-message][data-author-role=agent]")
        expect(mine.last.get_by_test_id("message-status")).to_have_text("Delivered", timeout=SEEN)
        fake_twilio.fail_next(ScriptedError(400, 21610, "Attempt to send to unsubscribed recipient"))
        desk.get_by_test_id("desk-input").fill("Are you still there?")
        desk.get_by_test_id("desk-send").click()
        expect(mine.last.get_by_test_id("message-status")).to_have_text(
            "Not delivered (21610): Attempt to send to unsubscribed recipient", timeout=SEEN
        )
        shot(desk, "desk-sms-statuses.png")
    finally:
        context.close()


def test_the_desk_offers_a_template_when_whatsapps_window_closed(
    sending: Stack, fake_twilio: FakeTwilio, browser: Browser
) -> None:
    clear_the_floor(sending)
    number, customer = whatsapp_flow(sending), "whatsapp:" + new_phone()
    context, desk = new_page(browser)
    try:
        desk_sign_in(desk, sending, "sam")
        with sending.http() as http:
            text(sending, http, number, customer, "hi, about my order")
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        conversation = desk.get_by_test_id("desk-conversation")
        conversation.click(timeout=SEEN)
        expect(said(desk, "desk").first).to_have_text("hi, about my order", timeout=SEEN)
        age_messages(sending, conversation.get_attribute("data-channel-sid") or "", timedelta(hours=30))
        desk.get_by_test_id("desk-input").fill("Are you there?")
        desk.get_by_test_id("desk-send").click()
        expect(desk.get_by_test_id("desk-error")).to_contain_text("24-hour window", timeout=SEEN)
        offer = desk.get_by_test_id("desk-template")
        expect(offer).to_be_visible()
        offer.locator("[name=template]").fill("HXorder_followup")
        offer.locator("[name=variables]").fill("Ana\n1234")
        desk.get_by_test_id("desk-template-send").click()
        mine = desk.locator("[data-testid=desk-message][data-author-role=agent]")
        expect(mine.last.get_by_test_id("message-status")).to_have_text("Delivered", timeout=SEEN)
        [request] = [r for r in fake_twilio.message_requests() if r.field("To") == customer]
        assert request.field("ContentSid") == "HXorder_followup"
        assert request.field("ContentVariables") == '{"1": "Ana", "2": "1234"}'
        shot(desk, "desk-whatsapp-template.png")
    finally:
        context.close()


def test_an_agent_starts_an_sms_conversation_from_the_desk(
    sending: Stack, fake_twilio: FakeTwilio, browser: Browser
) -> None:
    clear_the_floor(sending)
    customer = new_phone()
    context, desk = new_page(browser)
    try:
        desk_sign_in(desk, sending, "tia")
        desk.get_by_test_id("desk-new").click()
        form = desk.get_by_test_id("desk-outbound")
        form.get_by_test_id("desk-outbound-flow").select_option(
            label=f"sms · Flex Messaging Channel ({sending.settings.flex_sms_number})"
        )
        form.locator("[name=to]").fill(customer)
        form.locator("[name=customer_name]").fill("Ana")
        form.locator("[name=body]").fill("Hi Ana, your order is ready.")
        desk.get_by_test_id("desk-outbound-start").click()
        # The conversation is the agent's at once: accepted without a click, the message delivered.
        conversation = desk.locator("[data-testid=desk-conversation]", has_text="Ana")
        expect(conversation).to_have_count(1, timeout=SEEN)
        conversation.click()
        mine = desk.locator("[data-testid=desk-message][data-author-role=agent]")
        expect(mine.last.get_by_test_id("message-body")).to_have_text("Hi Ana, your order is ready.", timeout=SEEN)
        expect(mine.last.get_by_test_id("message-status")).to_have_text("Delivered", timeout=SEEN)
        [request] = [r for r in fake_twilio.message_requests() if r.field("To") == customer]
        assert request.field("Body") == "Hi Ana, your order is ready."
        with sending.http() as http:
            text(sending, http, sending.settings.flex_sms_number, customer, "Great, thanks!")
        expect(said(desk, "desk").last).to_have_text("Great, thanks!", timeout=SEEN)
        shot(desk, "desk-outbound.png")
    finally:
        context.close()


def stored_widget_token(page: Page) -> str:
    """The token the widget keeps for its chat (in the page's local storage)."""
    token = page.evaluate(
        "() => Object.keys(localStorage).map(k => { try { return JSON.parse(localStorage[k]) } catch { return null } })"
        ".filter(v => v && v.channel_sid && v.token).map(v => v.token)[0] || ''"
    )
    assert token, "the widget keeps no session"
    return str(token)


def test_the_desk_rejects_an_offer_and_changes_activity(web: Stack, browser: Browser) -> None:
    """Reject hands the task to the next agent; Break and Offline take the agent off routing."""
    first_context, first = new_page(browser)
    second_context, second = new_page(browser)
    chat_context, chat = new_page(browser)
    try:
        clear_the_floor(web)
        desk_sign_in(first, web, "kim")
        widget_start(chat, web, "Eve", "Do you ship abroad?")
        offer = first.get_by_test_id("desk-reservation")
        expect(offer.get_by_test_id("reservation-name")).to_have_text("Eve", timeout=SEEN)
        offer.get_by_test_id("reservation-reject").click()
        expect(offer).to_have_count(0, timeout=SEEN)
        kim = worker_named(web, "kim")

        def rejected() -> None:
            statuses = [r.reservation_status for r in workspace_of(web).workers(kim.sid).reservations.list()]
            assert statuses == ["rejected"], statuses

        eventually(rejected)
        # Kim goes on a break before anyone else comes: the task waits for the next agent.
        first.get_by_test_id("desk-activity").select_option(label="Break")

        def on(name: str, activity: str, available: bool) -> None:
            worker = worker_named(web, name)
            assert (worker.activity_name, worker.available) == (activity, available)

        eventually(lambda: on("kim", "Break", False))
        desk_sign_in(second, web, "lee")
        handed = second.get_by_test_id("desk-reservation")
        expect(handed.get_by_test_id("reservation-name")).to_have_text("Eve", timeout=SEEN)
        handed.get_by_test_id("reservation-accept").click()
        second.get_by_test_id("desk-conversation").click(timeout=SEEN)
        expect(said(second, "desk").first).to_have_text("Do you ship abroad?", timeout=SEEN)
        expect(first.get_by_test_id("desk-reservation")).to_have_count(0)
        first.get_by_test_id("desk-activity").select_option(label="Offline")
        eventually(lambda: on("kim", "Offline", False))
        # The desk shows what the server holds after a reload.
        first.reload()
        expect(first.get_by_test_id("desk-status")).to_have_text("Connected", timeout=SEEN)
        expect(first.get_by_test_id("desk-activity").locator("option:checked")).to_have_text("Offline")
    finally:
        for context in (chat_context, second_context, first_context):
            context.close()


def test_the_desk_shows_a_returning_customers_earlier_interaction(web: Stack, browser: Browser) -> None:
    """A customer texts again after the task was completed: the new offer opens the same
    conversation, with the earlier interaction above the new message."""
    context, desk = new_page(browser)
    phone = new_phone()
    try:
        clear_the_floor(web)
        desk_sign_in(desk, web, "lin")
        with web.http() as http:
            text(web, http, web.settings.flex_sms_number, phone, "my bike has a flat tyre")
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        desk.get_by_test_id("desk-conversation").click(timeout=SEEN)
        desk.get_by_test_id("desk-input").fill("Bring it in tomorrow.")
        desk.get_by_test_id("desk-send").click()
        expect(said(desk, "desk")).to_have_text(["my bike has a flat tyre", "Bring it in tomorrow."], timeout=SEEN)
        desk.get_by_test_id("desk-wrapup").click()
        desk.get_by_test_id("desk-complete").click(timeout=SEEN)
        expect(desk.get_by_test_id("desk-conversation")).to_have_count(0, timeout=SEEN)

        with web.http() as http:
            text(web, http, web.settings.flex_sms_number, phone, "it is fixed, thanks!")
        offer = desk.get_by_test_id("desk-reservation")
        expect(offer.get_by_test_id("reservation-name")).to_have_text(phone, timeout=SEEN)
        # Until she accepts, the customer's return is an offer, not a conversation of hers.
        expect(desk.get_by_test_id("desk-conversation")).to_have_count(0)
        offer.get_by_test_id("reservation-accept").click()
        desk.get_by_test_id("desk-conversation").click(timeout=SEEN)
        expect(said(desk, "desk")).to_have_text(
            ["my bike has a flat tyre", "Bring it in tomorrow.", "it is fixed, thanks!"], timeout=SEEN
        )
        shot(desk, "desk-returning-customer.png")

        # A supervisor completes the task over REST: the desk says so, and the agent closes it.
        workspace = workspace_of(web)
        [task] = [
            t
            for t in workspace.tasks.list(assignment_status=["assigned"])
            if json.loads(t.attributes).get("name") == phone
        ]
        workspace.tasks(task.sid).update(assignment_status="completed", reason="handled by a supervisor")
        expect(desk.locator("#chat-state")).to_have_text("Task completed", timeout=SEEN)
        expect(desk.get_by_test_id("desk-input")).to_be_disabled()
        desk.get_by_test_id("desk-close").click()
        expect(desk.get_by_test_id("desk-conversation")).to_have_count(0)
        desk.reload()
        expect(desk.get_by_test_id("desk-status")).to_have_text("Connected", timeout=SEEN)
        expect(desk.get_by_test_id("desk-conversation")).to_have_count(0)
    finally:
        context.close()


def test_the_widget_resumes_after_a_dropped_connection(web: Stack, browser: Browser) -> None:
    """The widget's socket drops; the agent writes meanwhile and the customer writes offline.
    Back online, the widget resumes after the last sequence it saw: every message once, in order;
    the agent sees the customer's offline message once, and that the customer read the answers."""
    desk_context, desk = new_page(browser)
    chat_context, chat = new_page(browser)
    online = threading.Event()
    online.set()
    routes: list[tuple[WebSocketRoute, WebSocketRoute]] = []
    urls: list[str] = []

    def route(page_side: WebSocketRoute) -> None:
        urls.append(page_side.url)
        if not online.is_set():
            page_side.close(code=1012, reason="offline")
            return
        routes.append((page_side, page_side.connect_to_server()))

    try:
        clear_the_floor(web)
        chat.route_web_socket(re.compile(r"/v1/customer/ws"), route)
        desk_sign_in(desk, web, "max")
        widget_start(chat, web, "Fay", "Is my table booked?")
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        desk.get_by_test_id("desk-conversation").click(timeout=SEEN)
        desk.get_by_test_id("desk-input").fill("Let me look.")
        desk.get_by_test_id("desk-send").click()
        expect(said(chat, "webchat")).to_have_text(["Is my table booked?", "Let me look."], timeout=SEEN)

        online.clear()
        for page_side, server_side in routes:
            server_side.close()
            page_side.close(code=1012, reason="offline")
        expect(chat.get_by_test_id("webchat-status")).to_have_text(re.compile("Reconnecting"), timeout=SEEN)
        for answer in ("Found it.", "Table 4 at eight."):
            desk.get_by_test_id("desk-input").fill(answer)
            desk.get_by_test_id("desk-send").click()
        chat.get_by_test_id("webchat-input").fill("written while offline")
        chat.get_by_test_id("webchat-send").click()
        online.set()

        expect(chat.get_by_test_id("webchat-status")).to_have_text("Connected", timeout=SEEN)
        everything = ["Is my table booked?", "Let me look.", "Found it.", "Table 4 at eight.", "written while offline"]
        expect(said(chat, "webchat")).to_have_text(everything, timeout=SEEN)
        expect(said(desk, "desk")).to_have_text(everything, timeout=SEEN)
        assert any("resume_after=" in url for url in urls[1:]), urls
        # The customer has the panel open: the agent's answers show as read on the desk.
        answers = desk.locator("[data-testid=desk-message][data-author-role=agent]")
        expect(answers.last.get_by_test_id("message-status")).to_have_text("Read", timeout=SEEN)
        # Nothing was stored twice.
        channel = desk.get_by_test_id("desk-conversation").get_attribute("data-channel-sid") or ""
        with web.http() as http:
            stored = messages_of(http, plan_flex_defaults(web.settings).defaults.chat_service_sid, channel)
        assert [m["body"] for m in stored] == everything
    finally:
        for context in (chat_context, desk_context):
            context.close()


def test_the_widget_renews_its_token_before_it_expires(web: Stack, browser: Browser) -> None:
    """The page's clock runs ahead to 80 % of the token's life: the widget fetches a fresh token,
    keeps it across a reload, and the chat carries on with it."""
    context, chat = new_page(browser)
    try:
        chat.clock.install()
        widget_start(chat, web, "Gus", "A question about tokens")
        expect(chat.get_by_test_id("webchat-status")).to_have_text("Connected", timeout=SEEN)
        first = stored_widget_token(chat)
        with chat.expect_response(re.compile(r"/v1/Tokens/Refresh$")) as refreshed:
            chat.clock.fast_forward(int(web.settings.token_ttl_seconds * 0.81 * 1000))
        assert refreshed.value.ok, refreshed.value.status

        def renewed_token() -> str:
            token = stored_widget_token(chat)
            assert token != first
            return token

        eventually(renewed_token)
        chat.reload()
        if not chat.get_by_test_id("webchat-panel").is_visible():
            chat.get_by_test_id("webchat-launcher").click()
        expect(chat.get_by_test_id("webchat-status")).to_have_text("Connected", timeout=SEEN)
        # (The page's clock is still past the renewal point, so it may have renewed once more.)
        assert stored_widget_token(chat) not in (first, "")
        chat.get_by_test_id("webchat-input").fill("still here")
        chat.get_by_test_id("webchat-send").click()
        expect(said(chat, "webchat").last.locator("xpath=..").get_by_test_id("message-status")).to_have_text(
            "Sent", timeout=SEEN
        )
    finally:
        context.close()


def test_the_desk_takes_a_token_from_the_operators_sign_in(
    make_stack: StackFactory, jwks: JwksServer, browser: Browser
) -> None:
    """Without the development sign-in, an agent comes with a token from the organisation's
    identity provider: handed over in the address's fragment (which leaves the address bar at
    once) or pasted."""
    stack = make_stack(jwt_jwks_url=jwks.url, jwt_sso_issuer=SSO_ISSUER, jwt_sso_audience=SSO_AUDIENCE)
    workspace = workspace_of(stack)
    worker = workspace.workers.create(
        friendly_name="olga", attributes=json.dumps({"routing": {"skills": ["support"]}, "contact_uri": "client:olga"})
    )
    grants = {"role": "agent", "task_router": {"workspace_sid": worker.workspace_sid, "worker_sid": worker.sid}}
    token = jwks.sign({"sub": "olga@example.com", "switchboard": grants})
    context, desk = new_page(browser)
    try:
        desk.goto(f"{stack.url}/desk/")
        desk.locator("[data-testid=desk-signin] input[name=identity]").fill("olga")
        desk.get_by_test_id("desk-signin-submit").click()
        expect(desk.locator("#signin-reason")).to_contain_text("organisation's sign-in", timeout=SEEN)

        desk.goto(f"{stack.url}/desk/#token={token}")
        expect(desk.get_by_test_id("desk-status")).to_have_text("Connected", timeout=SEEN)
        assert "token" not in desk.url
        expect(desk.locator("#me")).to_have_text("olga")  # the worker's contact_uri names the agent in chats
        desk.get_by_test_id("desk-activity").select_option(label="Available")

        def available() -> None:
            assert workspace.workers(worker.sid).fetch().available

        eventually(available)
        desk.get_by_role("button", name="Sign out").click()
        forged = jwks.sign({"sub": "olga@example.com", "switchboard": grants}, key=rsa_key())
        desk.locator("[data-testid=desk-signin] [name=token]").fill(forged)
        desk.get_by_test_id("desk-token-submit").click()
        expect(desk.locator("#signin-reason")).to_have_text(
            "That access token was refused (20107: Invalid Access Token signature).", timeout=SEEN
        )
        desk.locator("[data-testid=desk-signin] [name=token]").fill(token)
        desk.get_by_test_id("desk-token-submit").click()
        expect(desk.get_by_test_id("desk-status")).to_have_text("Connected", timeout=SEEN)
    finally:
        context.close()


UNNAMED_CONTROL = re.compile(r"^\s*- (button|textbox|combobox|checkbox|radio|link|listbox|option)( \[[^\]]*\])*:?\s*$")


def unnamed_controls(page: Page) -> list[str]:
    """Controls in the page's accessibility tree (shadow roots included) that a screen reader
    would announce without a name."""
    return [line for line in page.locator("body").aria_snapshot().splitlines() if UNNAMED_CONTROL.match(line)]


def test_every_control_has_an_accessible_name(web: Stack, browser: Browser) -> None:
    desk_context, desk = new_page(browser)
    chat_context, chat = new_page(browser)
    try:
        clear_the_floor(web)
        desk.goto(f"{web.url}/desk/")
        snapshots = {"desk sign-in": unnamed_controls(desk)}
        desk_sign_in(desk, web, "nia")
        chat.goto(f"{web.url}/demo/")
        snapshots["widget closed"] = unnamed_controls(chat)
        chat.get_by_test_id("webchat-launcher").click()
        snapshots["widget form"] = unnamed_controls(chat)
        widget_start(chat, web, "Hal", "Opening hours?")
        expect(said(chat, "webchat").first).to_have_text("Opening hours?", timeout=SEEN)
        snapshots["widget chat"] = unnamed_controls(chat)
        snapshots["desk offer"] = unnamed_controls(desk)
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        desk.get_by_test_id("desk-conversation").click(timeout=SEEN)
        desk.get_by_test_id("desk-transfer").click()
        snapshots["desk conversation"] = unnamed_controls(desk)
        assert snapshots == {name: [] for name in snapshots}
        assert "Opening hours?" in chat.locator("body").aria_snapshot()  # the tree reaches into the widget
        # The check itself sees a control without a name.
        desk.evaluate("() => document.body.append(document.createElement('button'))")
        assert len(unnamed_controls(desk)) == 1
    finally:
        for context in (chat_context, desk_context):
            context.close()


def widget_scroller(page: Page) -> Locator:
    return page.get_by_test_id("webchat-messages").locator("xpath=..")


def gap_below(scroller: Locator) -> float:
    """How far the scroller's view ends above the end of what it holds (0: at the newest message)."""
    return float(scroller.evaluate("s => s.scrollHeight - s.scrollTop - s.clientHeight"))


def images_shown(scroller: Locator, count: int) -> None:
    """Waits until the scroller holds ``count`` images, every one loaded."""

    def loaded() -> None:
        states = scroller.evaluate("s => [...s.querySelectorAll('img')].map(i => i.complete && i.naturalWidth > 0)")
        assert states == [True] * count, states

    eventually(loaded)


def assert_at_the_end(scroller: Locator, newest: Locator) -> None:
    """The view ends at the newest message once the page has laid out what loaded (the desk and
    the widget follow on the next frame, which a loaded machine may draw late)."""

    def at_the_end() -> None:
        assert gap_below(scroller) <= 2, gap_below(scroller)
        view, last = scroller.bounding_box(), newest.bounding_box()
        assert view is not None and last is not None
        assert last["y"] + last["height"] <= view["y"] + view["height"] + 1, (last, view)

    eventually(at_the_end, timeout=5)


def test_conversations_with_images_open_at_the_newest_message(web: Stack, browser: Browser) -> None:
    """Images load after their message is placed: a log that was at its end stays there as they
    grow it, in the desk and in the widget; an agent who scrolled up to read stays where she is."""
    desk_context, desk = new_page(browser)
    chat_context, chat = new_page(browser)
    try:
        clear_the_floor(web)
        desk_sign_in(desk, web, "pam")
        widget_start(chat, web, "Pia", "Which boots?")
        expect(chat.get_by_test_id("webchat-status")).to_have_text("Connected", timeout=SEEN)
        upload = chat.get_by_test_id("webchat-file")
        for i, colour in enumerate([(47, 74, 58), (180, 120, 60), (60, 90, 160)]):
            upload.set_input_files(
                files=FilePayload(name=f"boot{i}.png", mimeType="image/png", buffer=png(320, 260, colour))
            )
            images_shown(widget_scroller(chat), i + 1)
        chat.get_by_test_id("webchat-input").fill("Which of these is waterproof?")
        chat.get_by_test_id("webchat-send").click()
        expect(said(chat, "webchat").last).to_have_text("Which of these is waterproof?", timeout=SEEN)

        # The agent opens the conversation: the customer's question is in view once the images are in.
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        desk.get_by_test_id("desk-conversation").click(timeout=SEEN)
        log = desk.get_by_test_id("desk-messages")
        expect(said(desk, "desk").last).to_have_text("Which of these is waterproof?", timeout=SEEN)
        images_shown(log, 3)
        shot(desk, "desk-images-opened.png")
        assert_at_the_end(log, said(desk, "desk").last)

        # She scrolls up to look at the first picture; what comes next does not move her view.
        log.evaluate("s => { s.scrollTop = 0 }")
        upload.set_input_files(
            files=FilePayload(name="boot3.png", mimeType="image/png", buffer=png(320, 260, (9, 9, 9)))
        )
        images_shown(log, 4)
        chat.get_by_test_id("webchat-input").fill("And this one?")
        chat.get_by_test_id("webchat-send").click()
        expect(said(desk, "desk").last).to_have_text("And this one?", timeout=SEEN)
        assert log.evaluate("s => s.scrollTop") == 0

        # The agent answers with a picture: the customer, at the end of the chat, sees all of it.
        desk.get_by_test_id("desk-file").set_input_files(
            files=FilePayload(name="sole.png", mimeType="image/png", buffer=png(300, 400, (200, 40, 40)))
        )
        images_shown(widget_scroller(chat), 5)
        shot(chat, "webchat-image-received.png")
        assert_at_the_end(widget_scroller(chat), chat.locator("img[alt='sole.png']"))

        # A reload shows the history at its newest message too.
        chat.reload()
        if not chat.get_by_test_id("webchat-panel").is_visible():
            chat.get_by_test_id("webchat-launcher").click()
        expect(chat.locator("img[alt='sole.png']")).to_have_count(1, timeout=SEEN)
        images_shown(widget_scroller(chat), 5)
        shot(chat, "webchat-images-reloaded.png")
        assert_at_the_end(widget_scroller(chat), chat.locator("img[alt='sole.png']"))

        # The customer scrolls up to read: the agent's next answer does not move her view.
        widget_scroller(chat).evaluate("s => { s.scrollTop = 0 }")
        desk.get_by_test_id("desk-input").fill("All of them are.")
        desk.get_by_test_id("desk-send").click()
        expect(said(chat, "webchat").last).to_have_text("All of them are.", timeout=SEEN)
        assert widget_scroller(chat).evaluate("s => s.scrollTop") == 0
    finally:
        for context in (chat_context, desk_context):
            context.close()


def test_a_reloaded_widget_comes_back_as_the_customer_left_it(web: Stack, browser: Browser) -> None:
    """Open or minimised, the draft being written, and where in the history the customer was reading."""
    context, chat = new_page(browser)
    try:
        widget_start(chat, web, "Rex", "First question")
        expect(chat.get_by_test_id("webchat-status")).to_have_text("Connected", timeout=SEEN)
        lines = ["\n".join(f"{part} line {n}" for n in range(1, 13)) for part in ("first", "second")]
        for line in lines:
            chat.get_by_test_id("webchat-input").fill(line)
            chat.get_by_test_id("webchat-input").press("Enter")
            expect(said(chat, "webchat").last).to_have_text(line, timeout=SEEN)
            expect(said(chat, "webchat").last.locator("xpath=..").get_by_test_id("message-status")).to_have_text(
                "Sent", timeout=SEEN
            )
        chat.get_by_test_id("webchat-input").fill("half a thought")

        # Open, with a draft: it comes back open, the draft still there, at the newest message.
        chat.reload()
        expect(said(chat, "webchat")).to_have_text(["First question", *lines], timeout=SEEN)
        expect(chat.get_by_test_id("webchat-panel")).to_be_visible()
        expect(chat.get_by_test_id("webchat-input")).to_have_value("half a thought")
        assert_at_the_end(widget_scroller(chat), said(chat, "webchat").last)

        # Reading the start of the chat: it comes back there.
        widget_scroller(chat).evaluate("s => { s.scrollTop = 0 }")
        chat.reload()
        expect(said(chat, "webchat")).to_have_text(["First question", *lines], timeout=SEEN)
        expect(said(chat, "webchat").first).to_be_in_viewport()
        shot(chat, "webchat-reloaded-reading.png")
        assert gap_below(widget_scroller(chat)) > 100

        # Minimised: it comes back minimised; a message sent clears the draft for good.
        chat.get_by_test_id("webchat-input").press("Enter")
        expect(said(chat, "webchat").last).to_have_text("half a thought", timeout=SEEN)
        chat.get_by_role("button", name="Minimise chat").click()
        chat.reload()
        expect(chat.get_by_test_id("webchat-launcher")).to_be_visible()
        expect(chat.get_by_test_id("webchat-status")).to_have_text("Connected", timeout=SEEN)
        expect(chat.get_by_test_id("webchat-panel")).to_be_hidden()
        chat.get_by_test_id("webchat-launcher").click()
        expect(chat.get_by_test_id("webchat-input")).to_have_value("")
    finally:
        context.close()


def test_every_page_has_an_icon(web: Stack, browser: Browser) -> None:
    context, page = new_page(browser)
    try:
        assert page.request.get(f"{web.url}/favicon.ico").ok  # asked for by browsers on pages without a link
        for path in ("/", "/demo/", "/desk/"):
            page.goto(f"{web.url}{path}")
            href = page.locator("link[rel=icon]").get_attribute("href")
            assert href, path
            icon = page.request.get(page.evaluate("href => new URL(href, location.href).href", href))
            assert icon.ok and icon.headers["content-type"].startswith("image/svg+xml"), (path, icon.status)
    finally:
        context.close()


def test_times_follow_the_browsers_locale_in_the_desk_and_the_widget(web: Stack, browser: Browser) -> None:
    """The agent and the customer each read times the way their own browser writes them."""
    contexts = []

    def page_in(locale: str) -> Page:
        context = browser.new_context(viewport={"width": 1200, "height": 800}, locale=locale)
        contexts.append(context)
        return context.new_page()

    try:
        clear_the_floor(web)
        desk, chat = page_in("en-US"), page_in("en-US")
        desk_sign_in(desk, web, "quin")
        widget_start(chat, web, "Uli", "What time is it?")
        desk.get_by_test_id("reservation-accept").click(timeout=SEEN)
        desk.get_by_test_id("desk-conversation").click(timeout=SEEN)
        desk.get_by_test_id("desk-input").fill("Time for an answer.")
        desk.get_by_test_id("desk-send").click()
        expect(said(chat, "webchat")).to_have_text(["What time is it?", "Time for an answer."], timeout=SEEN)
        expect(said(desk, "desk")).to_have_text(["What time is it?", "Time for an answer."], timeout=SEEN)
        for page, side in ((desk, "desk"), (chat, "webchat")):
            times = page.locator(f"[data-testid={side}-message]:not([data-author-role=system]) time")
            expect(times).to_have_text([TWELVE_HOUR, TWELVE_HOUR])
        british = page_in("en-GB")
        widget_start(british, web, "Vic", "And here?")
        mine = british.locator("[data-testid=webchat-message][data-author-role=customer]:not([data-pending]) time")
        expect(mine).to_have_text(TWENTY_FOUR_HOUR, timeout=SEEN)
    finally:
        for context in contexts:
            context.close()


def test_the_demo_page_and_the_widget_fit_a_phone(web: Stack, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        for path in ("/", "/demo/"):
            page.goto(f"{web.url}{path}")
            widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            assert widths == [375, 375], (path, widths)
        shot(page, "demo-phone.png")
        widget_start(page, web, "Wes", "Does it fit?")
        expect(said(page, "webchat").first).to_have_text("Does it fit?", timeout=SEEN)
        shot(page, "webchat-phone.png")
        for control in ("webchat-input", "webchat-send", "webchat-attach"):
            box = page.get_by_test_id(control).bounding_box()
            assert box is not None, control
            inside = (
                box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= 375 and box["y"] + box["height"] <= 667
            )
            assert inside, (control, box)
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths == [375, 375], widths
    finally:
        context.close()
