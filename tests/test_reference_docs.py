"""The REST reference as an operator opens it, in Chromium, on a machine without internet: the
browser reaches loopback only, and ``/docs`` and ``/redoc`` still render every operation (their
scripts and styles are served by the API itself)."""

from __future__ import annotations

from urllib.parse import urlparse

from playwright.sync_api import Browser, Route, expect

from tests.helpers.stack import ARTIFACTS, Stack


def loopback_only(route: Route) -> None:
    if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost", "::1"):
        route.continue_()
    else:
        route.abort("internetdisconnected")


def test_the_reference_renders_offline(stack: Stack, browser: Browser) -> None:
    settings = stack.settings
    context = browser.new_context(http_credentials={"username": settings.account_sid, "password": settings.auth_token})
    context.route("**/*", loopback_only)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page = context.new_page()
        page.goto(f"{stack.url}/docs")
        # Swagger UI lists the operations by path, with their summaries.
        expect(page.get_by_text("Decrypt payloads (Temporal remote codec protocol)")).to_be_visible(timeout=20_000)
        expect(page.locator(".opblock").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "reference-docs-offline.png"))
        page.goto(f"{stack.url}/redoc")
        # ReDoc lists the tags in its menu and renders the first operations.
        expect(page.get_by_role("heading", name="Healthz")).to_be_visible(timeout=20_000)
        expect(page.get_by_text("Codec", exact=True).first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "reference-redoc-offline.png"))
    finally:
        context.close()
