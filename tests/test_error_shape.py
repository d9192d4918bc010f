"""Every error answer is Twilio's error body (``code``, ``message``, ``more_info``, ``status``),
also for a path or method Switchboard does not serve and a body that is not JSON: the official
client and integrations read ``code`` and ``message``, never FastAPI's ``detail``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.main import create_app
from tests.helpers.stack import test_settings

pytestmark = pytest.mark.fast


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # No lifespan: these answers come before any route touches Temporal or the store.
    transport = httpx.ASGITransport(app=create_app(test_settings(tmp_path)))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


def assert_twilio_error(response: httpx.Response, status: int, code: int) -> dict[str, object]:
    body: dict[str, object] = response.json()
    assert response.status_code == status, body
    assert body == {
        "code": code,
        "message": body["message"],
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    assert isinstance(body["message"], str) and body["message"]
    return body


async def test_an_unserved_path_answers_twilios_404(client: httpx.AsyncClient) -> None:
    body = assert_twilio_error(await client.get("/v2/Services/IS123/NoSuchThing"), 404, 20404)
    assert "/v2/Services/IS123/NoSuchThing" in str(body["message"])


async def test_an_unserved_method_answers_twilios_405(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/Webchat/Sessions")
    assert_twilio_error(response, 405, 20004)
    assert "POST" in response.headers["allow"]


async def test_a_body_that_is_not_json_answers_twilios_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/Webchat/Sessions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_twilio_error(response, 400, 20001)
