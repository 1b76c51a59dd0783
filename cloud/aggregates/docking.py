"""Data docking with the provincial union platform: the daily per-venue stats and their push.

The format is documented in docs/docking.md; the pull endpoint (GET /api/v1/docking/daily)
and the push send the same ``venues`` entries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Connection, Engine, delete, func, insert, select

from cloud.aggregates import raw
from cloud.aggregates.models import DockingDelivery, EnergyDaily, TrafficDaily, VenueSettings
from cloud.aggregates.timezones import local_date
from cloud.core.time import Clock, as_utc
from cloud.jobs.settings import JobSettings

logger = logging.getLogger(__name__)

SCHEMA: Final = "yizhan.docking.daily/1"
SIGNATURE_HEADER: Final = "X-Yizhan-Signature"
TIMESTAMP_HEADER: Final = "X-Yizhan-Timestamp"
DELIVERY_HEADER: Final = "X-Yizhan-Delivery"
# An unattended station is open around the clock unless a venue says otherwise.
DEFAULT_OPEN_HOURS: Final = 24.0
DELIVERED: Final = "delivered"
FAILED: Final = "failed"

TRAFFIC_DAILY = raw.table(TrafficDaily)
ENERGY_DAILY = raw.table(EnergyDaily)
VENUE_SETTINGS = raw.table(VenueSettings)
DELIVERY = raw.table(DockingDelivery)
Sleep = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class VenueDay:
    """One venue's entry for one of its local days."""

    venue: str
    name: str
    timezone: str
    date: str  # YYYY-MM-DD, the venue's own calendar day
    visits: int
    unique_members: int
    people_in: int
    open_hours: float
    energy_kwh: float | None  # None: no meter reported that day


def count_venues(conn: Connection, *, venue_ids: frozenset[str] | None) -> int:
    query = select(func.count()).select_from(raw.VENUE)
    if venue_ids is not None:
        query = query.where(raw.VENUE.c.id.in_(venue_ids))
    return int(conn.execute(query).scalar_one())


def daily_stats(
    conn: Connection,
    day: date,
    *,
    venue_ids: frozenset[str] | None,
    limit: int | None = None,
    offset: int = 0,
) -> list[VenueDay]:
    """Every venue in scope (ordered by id), also those without any traffic that day."""
    v, t, e, s = raw.VENUE.c, TRAFFIC_DAILY.c, ENERGY_DAILY.c, VENUE_SETTINGS.c
    query = (
        select(
            v.id,
            v.name,
            v.timezone,
            t.visits,
            t.unique_members,
            t.people_in,
            e.kwh,
            s.open_hours_per_day,
        )
        .select_from(raw.VENUE)
        .outerjoin(TRAFFIC_DAILY, (t.venue_id == v.id) & (t.local_date == day))
        .outerjoin(ENERGY_DAILY, (e.venue_id == v.id) & (e.local_date == day))
        .outerjoin(VENUE_SETTINGS, s.venue_id == v.id)
        .order_by(v.id)
        .offset(offset)
    )
    if venue_ids is not None:
        query = query.where(v.id.in_(venue_ids))
    if limit is not None:
        query = query.limit(limit)
    return [
        VenueDay(
            venue=row.id,
            name=row.name,
            timezone=row.timezone,
            date=day.isoformat(),
            visits=row.visits or 0,
            unique_members=row.unique_members or 0,
            people_in=row.people_in or 0,
            open_hours=DEFAULT_OPEN_HOURS
            if row.open_hours_per_day is None
            else row.open_hours_per_day,
            energy_kwh=None if row.kwh is None else round(row.kwh, 3),
        )
        for row in conn.execute(query)
    ]


def daily_payload(conn: Connection, day: date, *, generated_at: datetime) -> dict[str, Any]:
    """The body of one day's push: every venue's entry for ``day``."""
    return {
        "schema": SCHEMA,
        "date": day.isoformat(),
        "generated_at": as_utc(generated_at).isoformat(),
        "venues": [asdict(entry) for entry in daily_stats(conn, day, venue_ids=None)],
    }


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC of "{timestamp}." + body>``; the timestamp stops replays."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True, slots=True)
class PushResult:
    day: date
    status: str  # delivered | failed
    attempts: int
    http_status: int | None
    error: str | None


def _retryable(status: int) -> bool:
    # 4xx other than 408/429 says the request itself is wrong: sending it again won't help.
    return status >= 500 or status in (408, 429)


def _post_with_retries(
    client: httpx.Client,
    url: str,
    body: bytes,
    *,
    headers: Callable[[], dict[str, str]],
    settings: JobSettings,
    sleep: Sleep,
) -> tuple[int, int | None, str | None]:
    """(attempts, last HTTP status, last error or None when delivered)."""
    status: int | None = None
    error: str | None = None
    for attempt in range(1, settings.docking_max_attempts + 1):
        if attempt > 1:
            sleep(settings.docking_backoff_s * 2 ** (attempt - 2))
        try:
            response = client.post(url, content=body, headers=headers())
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"[:500]
            continue
        status = response.status_code
        if 200 <= status < 300:
            return attempt, status, None
        error = f"HTTP {status}: {response.text[:200]}"
        if not _retryable(status):
            return attempt, status, error
    return settings.docking_max_attempts, status, error


def push_day(
    engine: Engine,
    day: date,
    *,
    settings: JobSettings,
    client: httpx.Client,
    now: Clock,
    sleep: Sleep,
) -> PushResult:
    """POST one day's payload to the webhook, retrying with exponential backoff, and record
    the outcome in ``docking_delivery``."""
    if settings.docking_webhook_url is None or settings.docking_secret is None:
        raise ValueError("docking_webhook_url and docking_secret must be set to push")
    with engine.connect() as conn:
        payload = daily_payload(conn, day, generated_at=now())
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    secret = settings.docking_secret.get_secret_value().encode()

    def headers() -> dict[str, str]:
        timestamp = str(int(as_utc(now()).timestamp()))
        return {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(secret, timestamp, body),
            DELIVERY_HEADER: f"daily-{day.isoformat()}",
        }

    attempts, status, error = _post_with_retries(
        client,
        settings.docking_webhook_url,
        body,
        headers=headers,
        settings=settings,
        sleep=sleep,
    )
    result = PushResult(day, FAILED if error else DELIVERED, attempts, status, error)
    _record(engine, result, sha256=hashlib.sha256(body).hexdigest(), at=as_utc(now()))
    if error:
        logger.warning("docking push of %s failed after %d attempts: %s", day, attempts, error)
    return result


def _record(engine: Engine, result: PushResult, *, sha256: str, at: datetime) -> None:
    with engine.begin() as conn:
        earlier = conn.execute(
            select(DELIVERY.c.attempts).where(DELIVERY.c.day == result.day)
        ).scalar_one_or_none()
        conn.execute(delete(DELIVERY).where(DELIVERY.c.day == result.day))
        conn.execute(
            insert(DELIVERY),
            {
                "day": result.day,
                "status": result.status,
                "attempts": (earlier or 0) + result.attempts,
                "http_status": result.http_status,
                "last_error": result.error,
                "payload_sha256": sha256,
                "updated_at": at,
                "delivered_at": at if result.status == DELIVERED else None,
            },
        )


def due_days(engine: Engine, *, now: datetime, settings: JobSettings) -> list[date]:
    """Past days (in the docking zone) within the catch-up window not yet delivered."""
    yesterday = local_date(now, ZoneInfo(settings.docking_timezone)) - timedelta(days=1)
    window = [yesterday - timedelta(days=n) for n in range(settings.docking_catch_up_days)]
    with engine.connect() as conn:
        delivered = set(
            conn.execute(
                select(DELIVERY.c.day).where(
                    DELIVERY.c.status == DELIVERED, DELIVERY.c.day.in_(window)
                )
            ).scalars()
        )
    return sorted(day for day in window if day not in delivered)


def push_due(
    engine: Engine,
    *,
    settings: JobSettings,
    client: httpx.Client,
    now: Clock,
    sleep: Sleep,
) -> list[PushResult]:
    """The daily job: push yesterday, and any earlier day an outage kept from being delivered."""
    return [
        push_day(engine, day, settings=settings, client=client, now=now, sleep=sleep)
        for day in due_days(engine, now=now(), settings=settings)
    ]
