"""The API reference: the OpenAPI document and its Swagger UI and ReDoc pages, served here rather
than by FastAPI itself so that they sit behind the same lock as ``/metrics``
(``api.operators``). A browser asks for the credentials once (the 401's ``WWW-Authenticate``)
and sends them again when the page fetches the document.

The pages' scripts and styles come from the ``fastapi-offline`` package and are served here too
(``/docs/assets/...``), not from a CDN: the reference works on a machine without internet.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.operators import operators_only_when_locked
from api.twilio_shape import TwilioError

OPENAPI_URL = "/openapi.json"
ASSETS_URL = "/docs/assets"
# The files the pages load, by name, with their media types (nothing else is served).
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
ASSET_FILES = files("fastapi_offline") / "static"

router = APIRouter(include_in_schema=False, dependencies=[Depends(operators_only_when_locked)])


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


@router.get(OPENAPI_URL)
async def openapi_document(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    assets = _root(request) + ASSETS_URL
    return get_swagger_ui_html(
        openapi_url=_root(request) + OPENAPI_URL,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    assets = _root(request) + ASSETS_URL
    return get_redoc_html(
        openapi_url=_root(request) + OPENAPI_URL,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{assets}/redoc.standalone.js",
        redoc_favicon_url=f"{assets}/favicon.png",
        # Its web fonts come from Google's; the system's fonts do offline.
        with_google_fonts=False,
    )


@router.get(ASSETS_URL + "/{name}")
async def asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise TwilioError(404, f"no reference asset {name}")
    return Response(
        (ASSET_FILES / name).read_bytes(), media_type=media_type, headers={"Cache-Control": "max-age=86400"}
    )
