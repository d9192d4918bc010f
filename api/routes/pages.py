"""The pages: landing page, web chat demo (the widget on the default web Flex Flow, as Flex's
admin panel demo), the static widget and desk files, and the icon every page links to."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from api.deps import ContextDep
from api.security_headers import page_policy
from switchboard.store.defaults import plan_flex_defaults
from switchboard.web import DEMO_PAGE, DESK_DIR, FAVICON, LANDING_PAGE, SHARED_DIR, webchat_etag, webchat_script

router = APIRouter(include_in_schema=False)

FLOW_PLACEHOLDER = "__FLEX_FLOW_SID__"


def page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={"Content-Security-Policy": page_policy(html)})


@router.get("/")
async def landing() -> HTMLResponse:
    return page(LANDING_PAGE.read_text())


@router.get("/demo/")
async def demo(context: ContextDep) -> HTMLResponse:
    flow_sid = plan_flex_defaults(context.settings).defaults.web_flex_flow_sid
    return page(DEMO_PAGE.read_text().replace(FLOW_PLACEHOLDER, flow_sid))


@router.get("/favicon.svg")
@router.get("/favicon.ico")  # asked for by browsers (and tools) on pages that link no icon
async def favicon() -> FileResponse:
    # An SVG is a document: this one runs nothing and loads nothing.
    headers = {"Content-Security-Policy": "default-src 'none'", "Cache-Control": "public, max-age=86400"}
    return FileResponse(FAVICON, media_type="image/svg+xml", headers=headers)


@router.api_route("/webchat/webchat.js", methods=["GET", "HEAD"])
async def webchat(request: Request) -> Response:
    # One script to embed: the widget with the shared resumable socket it is built on.
    headers = {"ETag": webchat_etag()}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(webchat_script(), media_type="text/javascript", headers=headers)


def mount_pages(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/shared", StaticFiles(directory=SHARED_DIR), name="shared")
    app.mount("/desk", StaticFiles(directory=DESK_DIR, html=True), name="desk")
