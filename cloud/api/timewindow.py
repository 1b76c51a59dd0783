"""The ``since``/``until`` window of a telemetry query: parsed, defaulted and bounded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from cloud.api.errors import ApiError, field_error

DEFAULT_WINDOW: Final = timedelta(hours=24)
# A month of 1-minute readings from a busy venue is ~45k rows per metric and sensor: as much
# as one answer should carry. Longer spans are what the aggregates are for.
MAX_WINDOW: Final = timedelta(days=31)
EXAMPLE: Final = "2024-05-01T08:00:00+08:00"


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A half-open UTC interval ``[since, until)``."""

    since: datetime
    until: datetime


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(
        422,
        code="invalid_request",
        message=f"the request is invalid (query.{field}: {message})",
        details=[field_error(f"query.{field}", message)],
    )


def parse_instant(field: str, raw: str) -> datetime:
    """``raw`` as an aware UTC datetime, or a 422 saying how to write it."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        hint = " (a '+' in a URL reads as a space: write it as %2B)" if " " in raw else ""
        raise _invalid(
            field, f"{raw[:40]!r} is not an ISO 8601 time; write it like {EXAMPLE}{hint}"
        ) from None
    if value.tzinfo is None:
        raise _invalid(
            field,
            f"{raw[:40]!r} has no timezone, so the instant is ambiguous; "
            f"add +08:00 (China time) or Z (UTC), e.g. {EXAMPLE}",
        )
    return value.astimezone(UTC)


def resolve_window(*, since: str | None, until: str | None, now: datetime) -> TimeWindow:
    """The window asked for, defaulting to the 24 h before ``until`` (itself default now)."""
    end = parse_instant("until", until) if until is not None else now.astimezone(UTC)
    start = parse_instant("since", since) if since is not None else end - DEFAULT_WINDOW
    if end <= start:
        raise _invalid(
            "until",
            f"until ({end.isoformat()}) must be after since ({start.isoformat()})",
        )
    if end - start > MAX_WINDOW:
        raise _invalid(
            "since",
            f"the window is {(end - start) / timedelta(days=1):.1f} days, more than the "
            f"{MAX_WINDOW.days} allowed; ask for it in several windows",
        )
    return TimeWindow(since=start, until=end)
