"""What the reports routes share: the language asked for, and period errors as 400s."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from cloud.api.errors import ApiError, field_error
from cloud.core.lang import LANG_COOKIE, pick_lang
from cloud.reports.period import PeriodError
from cloud.reports.words import Lang

LangQuery = Annotated[
    str | None, Query(description="zh-CN or en; default: the dashboard's language switch.")
]


def refused(exc: PeriodError, field: str) -> ApiError:
    """A period or range error as the API's 400 with its stable code."""
    return ApiError(400, code=exc.code, message=str(exc), details=[field_error(field, str(exc))])


def lang_of(request: Request, lang: str | None) -> Lang:
    if lang is not None:
        if lang not in ("zh-CN", "en"):
            raise ApiError(
                400,
                code="unknown_lang",
                message=f"lang {lang[:20]!r} is not zh-CN or en",
                details=[field_error("query.lang", "use zh-CN or en")],
            )
        return lang
    return pick_lang(request.cookies.get(LANG_COOKIE))
