"""RFC 9457 problem details for every error the API returns.

Each :class:`~alphabook.core.errors.AlphabookError` becomes ``application/problem+json`` with a
``type`` naming its kind, the HTTP status, a short ``title`` and a ``detail`` a person can act on.
FastAPI's own validation errors are rewritten the same way, listing each bad field. Errors that carry a
``retry_after`` (rate limits, a busy sandbox) also set the ``Retry-After`` header.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from alphabook.core.errors import AlphabookError, InvalidInput, Unauthenticated

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://alphabook.dev/problems/"


def problem(
    request: Request, *, status: int, slug: str, title: str, detail: str,
    headers: Mapping[str, str] | None = None, **extra: Any,
) -> JSONResponse:
    body = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail,
            "instance": request.url.path, **extra}
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="alphabook"')
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _alphabook_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AlphabookError)
    retry_after = exc.extra.get("retry_after")
    headers = {"Retry-After": str(max(1, math.ceil(float(retry_after))))} if retry_after is not None else None
    return problem(request, status=exc.status, slug=exc.slug, title=exc.title, detail=exc.detail, headers=headers,
                   **exc.extra)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0]), "message": error["msg"]}
        for error in exc.errors()
    ]
    summary = "; ".join(f"{error['field']}: {error['message']}" for error in errors)
    return problem(request, status=422, slug=InvalidInput.slug, title=InvalidInput.title,
                   detail=f"The request is not valid: {summary}.", errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = {401: Unauthenticated.slug, 404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http")
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"There is nothing at {request.url.path}; the API documentation is at api/docs under this service."
    return problem(request, status=exc.status_code, slug=slug, title=_reason(exc.status_code), detail=detail,
                   headers=exc.headers)


def _reason(status: int) -> str:
    return HTTPStatus(status).phrase


def install(app: FastAPI) -> None:
    app.add_exception_handler(AlphabookError, _alphabook_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
