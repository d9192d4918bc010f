"""The API reference: the OpenAPI document and its Swagger UI and ReDoc pages, served here rather
than by FastAPI itself so that they sit behind the same lock as ``/metrics``
(``api.operators``). A browser asks for the credentials once (the 401's ``WWW-Authenticate``)
and sends them again when the page fetches the document."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from api.operators import operators_only_when_locked

OPENAPI_URL = "/openapi.json"

router = APIRouter(include_in_schema=False, dependencies=[Depends(operators_only_when_locked)])


def _document_url(request: Request) -> str:
    return str(request.scope.get("root_path", "")) + OPENAPI_URL


@router.get(OPENAPI_URL)
async def openapi_document(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url=_document_url(request), title=f"{request.app.title} - Swagger UI")


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(openapi_url=_document_url(request), title=f"{request.app.title} - ReDoc")
