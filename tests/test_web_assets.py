"""The browser code's structure: the agent desk and the web chat widget share one resumable-socket
client (reconnect with backoff, resume after the last sequence, resending, token renewal), the
served widget is still one script, and the desk is ES modules that import the shared client."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from api.routes.pages import router
from switchboard.web import DESK_DIR, RESUMABLE_SOCKET, STATIC_DIR, webchat_script

pytestmark = pytest.mark.fast

SHARED = "shared/resumable-socket.js"


def scripts() -> dict[str, str]:
    return {path.relative_to(STATIC_DIR).as_posix(): path.read_text() for path in STATIC_DIR.rglob("*.js")}


def test_the_socket_logic_is_written_once_in_the_shared_client() -> None:
    # What a resumable socket is made of: its reconnect schedule, the socket itself, the resume point.
    marks = {
        "reconnect": re.compile(r"^\s*(async\s+)?(function\s+)?scheduleReconnect\s*\(", re.MULTILINE),
        "socket": re.compile(r"new WebSocket\("),
        "resume": re.compile(r"resume_after"),
        "renewal": re.compile(r"REFRESH_AT\s*="),
    }
    for name, mark in marks.items():
        assert [path for path, text in scripts().items() if mark.search(text)] == [SHARED], name


def test_the_served_widget_is_one_script_holding_the_shared_client() -> None:
    served = webchat_script()
    shared = RESUMABLE_SOCKET.read_text()
    assert re.sub(r"^export ", "", shared, flags=re.MULTILINE) in served
    assert "class ResumableSocket" in served and "new ResumableSocket(" in served
    assert re.search(r"^\s*(import|export)\s", served, re.MULTILINE) is None


async def test_the_served_widget_is_revalidated_by_its_entity_tag() -> None:
    app = FastAPI()
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        first = await http.get("/webchat/webchat.js")
        assert first.status_code == 200 and first.text == webchat_script()
        assert first.headers["content-type"].startswith("text/javascript")
        again = await http.get("/webchat/webchat.js", headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and not again.content


def test_the_desk_is_modules_importing_the_shared_client() -> None:
    page = (DESK_DIR / "index.html").read_text()
    assert '<script type="module" src="desk.js"></script>' in page
    modules = {path.name: path.read_text() for path in DESK_DIR.glob("*.js")}
    assert len(modules) > 5
    importers = [name for name, text in modules.items() if '"../shared/resumable-socket.js"' in text]
    assert importers == ["socket.js"]
    assert all(re.search(r"^import |^export ", text, re.MULTILINE) for text in modules.values())
