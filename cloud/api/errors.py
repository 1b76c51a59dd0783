"""One JSON error shape for every API error: ``{"error": {"code", "message", "details"}}``.

``code`` is the stable part: pages translate it into the reader's language (the sentences
are in cloud/web/i18n.py, ``API_ERRORS``); ``message`` is English for a developer. A request
the validation refuses answers ``invalid_request`` with one detail per field, each with its
own code (``value_too_small``…) and the limit as ``params``, so a page can say in Chinese
which field was wrong and what to write.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic_core import ErrorDetails
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
    "http_code",
    "install_error_handlers",
    "validation_details",
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


# Pydantic's error types, grouped into the codes a page words (pydantic names ~100 types;
# a person needs to know only which of these went wrong). Anything else is invalid_value.
_FIELD_CODES: Final[dict[str, str]] = {
    "missing": "required",
    "coordinates_unpaired": "coordinates_unpaired",
    "extra_forbidden": "unknown_field",
    "greater_than": "value_too_small",
    "greater_than_equal": "value_too_small",
    "less_than": "value_too_large",
    "less_than_equal": "value_too_large",
    "string_too_short": "too_short",
    "too_short": "too_short",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "int_parsing": "not_a_number",
    "int_type": "not_a_number",
    "int_from_float": "not_a_whole_number",
    "float_parsing": "not_a_number",
    "float_type": "not_a_number",
    "decimal_parsing": "not_a_number",
    "finite_number": "not_a_number",
    "bool_parsing": "not_yes_or_no",
    "bool_type": "not_yes_or_no",
    "string_type": "not_text",
    "literal_error": "not_one_of",
    "enum": "not_one_of",
    "string_pattern_mismatch": "wrong_format",
    "date_parsing": "not_a_date",
    "date_from_datetime_parsing": "not_a_date",
    "date_type": "not_a_date",
    "datetime_parsing": "not_a_time",
    "datetime_from_date_parsing": "not_a_time",
    "datetime_type": "not_a_time",
    "time_parsing": "not_a_time",
    "json_invalid": "invalid_json",
    "dict_type": "not_an_object",
    "model_type": "not_an_object",
    "model_attributes_type": "not_an_object",
    "list_type": "not_a_list",
}
# pydantic's ctx keys -> the parameter a sentence names; limits only, never the input.
_LIMITS: Final[dict[str, str]] = {
    "ge": "limit",
    "gt": "limit",
    "le": "limit",
    "lt": "limit",
    "min_length": "limit",
    "max_length": "limit",
    "expected": "expected",
    "pattern": "pattern",
}


def _field_name(loc: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in loc)


def _params(err: ErrorDetails) -> dict[str, Any]:
    ctx = err.get("ctx") or {}
    params = {
        name: value
        for key, name in _LIMITS.items()
        if isinstance(value := ctx.get(key), int | float | str) and not isinstance(value, bool)
    }
    if err["type"] in {"greater_than", "less_than"}:
        params["exclusive"] = True  # "more than 0", not "at least 0"
    if err["type"] in {"value_error", "assertion_error"}:
        # A custom validator's own sentence (English): the only words that say what it wants.
        params["reason"] = str(err["msg"]).removeprefix("Value error, ")
    return params


def validation_details(errors: Iterable[ErrorDetails], *, prefix: str = "") -> list[Detail]:
    """pydantic's errors as ``details``: field path, English message, a code and its limits.

    ``prefix`` puts a nested model's errors under its place in the request (``body.config``).
    The rejected input is left out: it may be large or secret, and the field names it.
    """
    details = []
    for err in errors:
        loc = [prefix, *err["loc"]] if prefix else list(err["loc"])
        details.append(
            field_error(
                _field_name(loc),
                err["msg"],
                type=err["type"],
                code=_FIELD_CODES.get(err["type"], "invalid_value"),
                params=_params(err),
            )
        )
    return details


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
    details = validation_details(exc.errors())
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


# Fixed here rather than derived from the status phrase: Python 3.13 renamed 413's phrase
# ("Request Entity Too Large" -> "Content Too Large"), and a code must not change with it.
HTTP_CODES: Final[dict[int, str]] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def http_code(status_code: int) -> str:
    """The stable code of a bare HTTP error (one no route gave a code of its own)."""
    known = HTTP_CODES.get(status_code)
    if known is not None:
        return known
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        return f"http_{status_code}"
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error_response(
        exc.status_code,
        code=http_code(exc.status_code),
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
