"""One JSON error shape for every API error: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

# The shape is part of the wire contract (the kiosk parses it), so protocol/ defines it;
# routes import ErrorResponse from here to document their errors in OpenAPI.
from protocol.kiosk import ErrorBody, ErrorResponse

__all__ = [
    "ApiError",
    "Detail",
    "ErrorBody",
    "ErrorResponse",
    "error_response",
    "field_error",
    "install_error_handlers",
]

logger = logging.getLogger(__name__)

Detail = dict[str, Any]


class ApiError(Exception):
    """An error a route raises to answer with ``status_code`` and the shared error shape."""

    def __init__(
        self,
        status_code: int,
        *,
        code: str,
        message: str,
        details: Sequence[Detail] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})


def field_error(field: str, message: str, **extra: Any) -> Detail:
    """One entry of ``details``: which input (``query.limit``) was wrong and how."""
    return {"field": field, "message": message, **extra}


def error_response(
    status_code: int,
    *,
    code: str,
    message: str,
    details: Sequence[Detail] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=list(details)))
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


def _field_name(loc: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in loc)


async def _on_api_error(_request: Request, exc: ApiError) -> JSONResponse:
    return error_response(
        exc.status_code,
        code=exc.code,
        message=exc.message,
        details=exc.details,
        headers=exc.headers,
    )


async def _on_validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    # Pydantic's own entries carry the rejected input, which may be large or secret; a
    # field name and a message are what a person needs to fix the request.
    details = [
        field_error(_field_name(err["loc"]), err["msg"], type=err["type"]) for err in exc.errors()
    ]
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return error_response(
        422,
        code="invalid_request",
        message=f"the request is invalid ({summary}); fix the listed fields and retry",
        details=details,
    )


def _http_error_message(request: Request, status_code: int, detail: str) -> str:
    if status_code == 404:
        return (
            f"there is no route {request.method} {request.url.path}; "
            "the API lives under /api/v1 and is listed at /docs"
        )
    if status_code == 405:
        return f"{request.method} is not allowed on {request.url.path}; see /docs for its methods"
    return detail


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    status = HTTPStatus(exc.status_code)
    return error_response(
        exc.status_code,
        code=status.phrase.lower().replace(" ", "_").replace("-", "_"),
        message=_http_error_message(request, exc.status_code, str(exc.detail)),
        headers=exc.headers,
    )


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500,
        code="internal_error",
        message="the server failed on this request and logged why; retry later, and if it "
        "keeps failing give the operator the time of the request",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error ``app`` can raise in the shared shape."""
    app.exception_handler(ApiError)(_on_api_error)
    app.exception_handler(RequestValidationError)(_on_validation_error)
    app.exception_handler(StarletteHTTPException)(_on_http_error)
    app.exception_handler(Exception)(_on_unexpected_error)
