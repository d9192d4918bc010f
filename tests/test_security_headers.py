"""Security headers on every response, and the pages under their content security policies in a
real browser: the demo page (the widget on it) and the agent desk work with no policy violation,
and a script injected into either page does not run."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from api.security_headers import DESK_POLICY, SCRIPT_POLICY
from tests.helpers.browser import SEEN, desk_sign_in, new_page, said, widget_start
from tests.helpers.stack import Stack, StackFactory, clear_the_floor

INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@pytest.fixture(scope="module")
def site(make_stack: StackFactory) -> Stack:
    return make_stack(desk_dev_sign_in=True, channel_inactivity_seconds=600.0, request_max_bytes=64 * 1024)


def test_every_response_carries_the_security_headers(site: Stack) -> None:
    with site.http() as http:
        responses = [
            http.get("/v2/Services"),
            http.get("/v2/Services/IS" + "0" * 32),  # 404
            http.post("/v2/Services", content=b"x" * (128 * 1024)),  # 413
            http.get("/healthz"),
            http.get("/desk/"),
            http.get("/webchat/webchat.js"),
        ]
    assert [r.status_code for r in responses][:3] == [200, 404, 413]
    for response in responses:
        assert response.headers["X-Content-Type-Options"] == "nosniff", response.url
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP here (see test_tls)
    assert responses[4].headers["Content-Security-Policy"] == DESK_POLICY
    assert "frame-ancestors 'none'" in DESK_POLICY and "'unsafe-inline'" not in DESK_POLICY
    assert responses[5].headers["Content-Security-Policy"] == SCRIPT_POLICY


def test_the_demo_page_allows_its_own_inline_blocks_by_hash_only(site: Stack) -> None:
    with httpx.Client(base_url=site.url) as http:
        for path in ("/demo/", "/"):
            page = http.get(path)
            policy = page.headers["Content-Security-Policy"]
            assert "'unsafe-inline'" not in policy and "frame-ancestors 'none'" in policy
            blocks = INLINE.findall(page.text)
            assert blocks, path
            for tag, body in blocks:
                digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
                directive = next(d for d in policy.split(";") if d.strip().startswith(f"{tag}-src"))
                assert f"'sha256-{digest}'" in directive, (path, tag)


def watch_policy(page: Page) -> list[str]:
    violations: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", seen)
    return violations


def injected_script_runs(page: Page) -> bool:
    """Add an inline script the way an injection would; the policy must stop it."""
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__injected = 1';"
        " document.body.append(s); }"
    )
    return bool(page.evaluate("() => window.__injected === 1"))


def test_the_widget_and_the_desk_work_under_their_policies(site: Stack, browser: Browser) -> None:
    desk_context, desk = new_page(browser)
    chat_context, chat = new_page(browser)
    desk_violations, chat_violations = watch_policy(desk), watch_policy(chat)
    try:
        clear_the_floor(site)
        desk_sign_in(desk, site, "hedy")
        widget_start(chat, site, "Lin", "Do the boots run small?")
        expect(said(chat, "webchat").first).to_have_text("Do the boots run small?", timeout=SEEN)
        # The widget's styles apply although the page allows no inline styles.
        launcher = chat.get_by_test_id("webchat-launcher")
        assert launcher.evaluate("(b) => getComputedStyle(b).backgroundColor") == "rgb(47, 74, 58)"
        offer = desk.get_by_test_id("desk-reservation")
        expect(offer).to_have_count(1, timeout=SEEN)
        offer.get_by_test_id("reservation-accept").click()
        desk.get_by_test_id("desk-input").fill("They do: take one size up.")
        desk.get_by_test_id("desk-send").click()
        expect(said(chat, "webchat").last).to_have_text("They do: take one size up.", timeout=SEEN)
        assert desk_violations == [] and chat_violations == []

        assert not injected_script_runs(chat) and not injected_script_runs(desk)
        assert any("script-src" in v for v in chat_violations) and any("script-src" in v for v in desk_violations)
    finally:
        desk_context.close()
        chat_context.close()
