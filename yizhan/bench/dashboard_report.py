"""The month report of a 16-venue district: how long the XLSX and the PDF take to make.

Seeds one district with November 2026 on every venue: each day's traffic and energy rollups,
occupancy and two probes' temperatures per hour (a few hours crossing the fridge limit, with
their raw readings), door decisions for the unique-member count, alerts and redemptions.
Each file is timed from the figures' queries to its last byte, as the API makes it.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert

from cloud.aggregates import raw
from cloud.aggregates.models import (
    EnergyDaily,
    OccupancyHourly,
    TemperatureHourly,
    TrafficDaily,
    VenueSettings,
)
from cloud.alerts.models import Alert, SensorRole
from cloud.devices.models import Device
from cloud.models import DeviceEvent, Reading, Venue
from cloud.points.models import Redemption
from cloud.reports.files import district_report, render_file
from cloud.reports.period import Period
from cloud.service import open_database
from cloud.settings import CloudSettings

VENUES: Final = 16
MONTH: Final = Period.containing("month", date(2026, 11, 1))
ZONE: Final = ZoneInfo("Asia/Shanghai")
# 06:00 on 1 December in Shanghai: November has just ended.
NOW: Final = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
DECISIONS_PER_DAY: Final = 40
ALERTS_PER_VENUE: Final = 12
REDEMPTIONS_PER_VENUE: Final = 30
# Hours of each fridge's month that cross its 8 °C limit (their raw readings are read).
WARM_HOURS: Final = (50, 51, 300, 610)
HOUR: Final = timedelta(hours=1)
Row = dict[str, Any]


def _month_hours() -> list[datetime]:
    start, end = MONTH.bounds(ZONE)
    return [start + n * HOUR for n in range(int((end - start) / HOUR))]


def _venue_rows(venue: str, district: str, n: int) -> dict[Any, list[Row]]:
    rows: dict[Any, list[Row]] = {
        Venue: [{"id": venue, "name": f"报表驿站 {n}", "district": district,
                 "timezone": "Asia/Shanghai", "kind": "station", "amenities": [], "hours": [],
                 "admits_guests": True, "poster_edition": 1,
                 "update_window_start": "03:00", "update_window_end": "05:00",
                 "created_at": NOW}],
        VenueSettings: [{"venue_id": venue, "open_hours_per_day": 14.0, "updated_at": NOW}],
        Device: [{"id": f"{venue}-{role}", "venue_id": venue, "role": role, "online": True,
                  "status": "active", "created_at": NOW, "credential_generation": 0}
                 for role in ("door", "kiosk", "hub")],
        SensorRole: [{"device_id": f"{venue}-hub", "sensor": s, "venue_id": venue, "role": r,
                      "updated_by": "bench", "updated_at": NOW}
                     for s, r in (("fridge", "fridge"), ("room", "ambient"))],
    }  # fmt: skip
    return rows


def _month_rows(venue: str, n: int) -> dict[Any, list[Row]]:
    days, hours = MONTH.days(), _month_hours()
    traffic = [
        {"venue_id": venue, "local_date": d, "people_in": 60 + i, "people_out": 58 + i,
         "visits": DECISIONS_PER_DAY, "unique_members": 30, "active_hours": 12, "updated_at": NOW}
        for i, d in enumerate(days)
    ]  # fmt: skip
    energy = [
        {"venue_id": venue, "local_date": d, "kwh": 20.0 + n + i / 10, "meters": 1,
         "meter_resets": 0, "meter_rollovers": 0, "updated_at": NOW}
        for i, d in enumerate(days)
    ]  # fmt: skip
    occupancy = [{"venue_id": venue, "hour_utc": h, "count": (i * 7 + n) % 45}
                 for i, h in enumerate(hours)]  # fmt: skip
    temperature = []
    for i, h in enumerate(hours):
        warm = i in WARM_HOURS
        temperature.append({"venue_id": venue, "device_id": f"{venue}-hub", "sensor": "fridge",
                            "hour_utc": h, "min_c": 4.0, "avg_c": 6.0 if warm else 4.5,
                            "max_c": 9.5 if warm else 5.0, "count": 60})  # fmt: skip
        temperature.append({"venue_id": venue, "device_id": f"{venue}-hub", "sensor": "room",
                            "hour_utc": h, "min_c": 20.0, "avg_c": 24.0, "max_c": 28.0,
                            "count": 60})  # fmt: skip
    return {
        TrafficDaily: traffic,
        EnergyDaily: energy,
        OccupancyHourly: occupancy,
        TemperatureHourly: temperature,
    }


def _raw_rows(venue: str) -> dict[Any, list[Row]]:
    hours = _month_hours()
    readings = [
        {"device_id": f"{venue}-hub", "seq": k * 60 + m, "venue_id": venue,
         "metric": "temperature_c", "sensor": "fridge", "ts": hours[h] + timedelta(minutes=m),
         "value": 9.5 if m < 20 else 4.0, "received_at": NOW}
        for k, h in enumerate(WARM_HOURS) for m in range(60)
    ]  # fmt: skip
    decisions = [
        {"device_id": f"{venue}-door", "seq": d * DECISIONS_PER_DAY + k, "venue_id": venue,
         "type": "access.decision", "ts": hours[d * 24 + 8] + timedelta(minutes=k),
         "data": {"reason": "accepted", "member": f"M-{(d * 7 + k) % 400:04d}", "door": "main"},
         "received_at": NOW}
        for d in range(len(MONTH.days())) for k in range(DECISIONS_PER_DAY)
    ]  # fmt: skip
    return {Reading: readings, DeviceEvent: decisions}


def _events(venue: str, tag: str) -> dict[Any, list[Row]]:
    start = MONTH.bounds(ZONE)[0]
    alerts = [
        {"venue_id": venue, "kind": "fridge_warm", "severity": "warning", "status": "resolved",
         "dedupe_key": f"{tag}:{venue}:{k}", "opened_at": start + k * 50 * HOUR,
         "last_seen_at": start + k * 50 * HOUR, "occurrences": 1, "message_zh": "冰箱温度过高",
         "message_en": "fridge too warm", "acknowledged_by": "bench",
         "acknowledged_at": start + k * 50 * HOUR + timedelta(minutes=3 + k),
         "resolved_by": "bench", "resolved_at": start + k * 50 * HOUR + timedelta(minutes=40 + k),
         "auto_resolved": False}
        for k in range(ALERTS_PER_VENUE)
    ]  # fmt: skip
    redemptions = [
        {"transaction_id": f"{tag}-{venue}-{k}", "member_id": "M-0001",
         "kiosk_id": f"{venue}-kiosk", "slot": "1", "price": 10 + k, "state": "committed",
         "reserved_at": start + k * 20 * HOUR, "expires_at": start + k * 20 * HOUR + HOUR,
         "settled_at": start + k * 20 * HOUR, "needs_review": False}
        for k in range(REDEMPTIONS_PER_VENUE)
    ]  # fmt: skip
    return {Alert: alerts, Redemption: redemptions}


def seed_district(engine: Engine, *, tag: str) -> str:
    """One district of VENUES venues with a month of rollups; returns its name."""
    district = f"报表区-{tag}"
    venues = [f"rpt{n:02d}-{tag}" for n in range(VENUES)]
    parts = [_venue_rows(v, district, n) for n, v in enumerate(venues)]
    parts += [_month_rows(v, n) for n, v in enumerate(venues)]
    parts += [_raw_rows(v) for v in venues] + [_events(v, tag) for v in venues]
    order = (
        *(Venue, VenueSettings, Device, SensorRole, TrafficDaily, EnergyDaily),
        *(OccupancyHourly, TemperatureHourly, Reading, DeviceEvent, Alert, Redemption),
    )
    with engine.begin() as conn:
        for model in order:
            rows = [row for part in parts for row in part.get(model, [])]
            if rows:
                conn.execute(insert(raw.table(model)), rows)
    return district


def _time(engine: Engine, district: str, fmt: Literal["xlsx", "pdf"]) -> tuple[float, int]:
    started = time.perf_counter()
    with engine.connect() as conn:
        report = district_report(conn, district, MONTH, scope=None, now=NOW)
    if report is None or len(report.venues) != VENUES:
        raise RuntimeError(f"the seeded district {district!r} lost venues")
    made = render_file(report, fmt, "zh-CN")
    return time.perf_counter() - started, len(made.content)


def measure_report_month(database_url: str | None) -> dict[str, Any]:
    """Seconds to make the month report of a 16-venue district as XLSX and as PDF (the
    slower of the two is ``report_month_s``; the issue's bound is 10 s)."""
    formats: tuple[Literal["xlsx", "pdf"], ...] = ("xlsx", "pdf")
    with tempfile.TemporaryDirectory(prefix="yizhan-bench-report-") as tmp:
        settings = CloudSettings(data_dir=Path(tmp), database_url=database_url)
        engine = open_database(settings)
        try:
            district = seed_district(engine, tag=secrets.token_hex(3))
            for fmt in formats:  # warm: imports, the CID font, query plans
                _time(engine, district, fmt)
            xlsx_s, xlsx_bytes = _time(engine, district, "xlsx")
            pdf_s, pdf_bytes = _time(engine, district, "pdf")
        finally:
            engine.dispose()
    return {
        "report_month_s": round(max(xlsx_s, pdf_s), 3),
        "report_month_xlsx_s": round(xlsx_s, 3),
        "report_month_pdf_s": round(pdf_s, 3),
        "report_month_xlsx_bytes": xlsx_bytes,
        "report_month_pdf_bytes": pdf_bytes,
        "venues": VENUES,
    }
