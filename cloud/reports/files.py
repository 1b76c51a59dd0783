"""Making a report: which venues, the figures, and the file in the format asked for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import quote

from sqlalchemy import Connection

from cloud.reports.figures import Figures, Report, build_report
from cloud.reports.period import Period
from cloud.reports.tables import FIGURES, figure_cells
from cloud.reports.venues import load_venues
from cloud.reports.words import Lang

FileFormat = Literal["xlsx", "pdf", "json"]
FILE_FORMATS: Final[tuple[FileFormat, ...]] = ("xlsx", "pdf", "json")
XLSX_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA: Final[dict[str, tuple[str, str]]] = {
    "xlsx": ("application", XLSX_TYPE.removeprefix("application/")),
    "pdf": ("application", "pdf"),
}
_NOT_ASCII_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class ReportFile:
    filename: str
    content: bytes
    maintype: str
    subtype: str

    @property
    def media_type(self) -> str:
        return f"{self.maintype}/{self.subtype}"


def venue_report(
    conn: Connection,
    venue_id: str,
    period: Period,
    *,
    scope: frozenset[str] | None,
    now: datetime,
) -> Report | None:
    """None when the venue does not exist or is not in ``scope`` (the caller says 404)."""
    venues = load_venues(conn, scope=scope, venue_id=venue_id)
    if not venues:
        return None
    return build_report(
        conn, venues, period, scope="venue", name=venues[0].name, key=venue_id, now=now
    )


def district_report(
    conn: Connection,
    district: str,
    period: Period,
    *,
    scope: frozenset[str] | None,
    now: datetime,
) -> Report | None:
    """Only the district's venues inside ``scope``; None when there are none."""
    venues = load_venues(conn, scope=scope, district=district)
    if not venues:
        return None
    return build_report(
        conn, venues, period, scope="district", name=district, key=district, now=now
    )


def filename(report: Report, ext: str) -> str:
    return f"{report.key}-{report.period.kind}-{report.period.slug}.{ext}"


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the real (Chinese) name per RFC 5987."""
    fallback = _NOT_ASCII_NAME.sub("_", name).strip("_") or "report"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def render_file(report: Report, fmt: Literal["xlsx", "pdf"], lang: Lang) -> ReportFile:
    # The writers import their libraries on demand: neither is needed to serve the API.
    if fmt == "xlsx":
        from cloud.reports.xlsx import report_xlsx  # noqa: PLC0415

        content = report_xlsx(report, lang)
    else:
        from cloud.reports.pdf import report_pdf  # noqa: PLC0415

        content = report_pdf(report, lang)
    maintype, subtype = MEDIA[fmt]
    return ReportFile(filename(report, fmt), content, maintype, subtype)


def _figures_json(f: Figures) -> dict[str, Any]:
    cells = figure_cells(f)
    out: dict[str, Any] = {c.key: v for c, v in zip(FIGURES, cells, strict=True)}
    out["peak_at"] = None if f.peak.at is None else f.peak.at.isoformat()
    out["alerts_by_kind"] = dict(sorted(f.alerts.by_kind.items()))
    return out


def report_json(report: Report) -> dict[str, Any]:
    """The figures as the files hold them; times local with their offset."""
    return {
        "scope": report.scope,
        "name": report.name,
        "period": {
            "kind": report.period.kind,
            "first": report.period.first.isoformat(),
            "last": report.period.last.isoformat(),
        },
        "generated_at": report.generated_at.isoformat(),
        "venues": [
            {
                "id": v.venue.id,
                "name": v.venue.name,
                "name_en": v.venue.name_en,
                "timezone": v.venue.timezone,
                "total": _figures_json(v.total),
                "days": {day: _figures_json(f) for day, f in v.days.items()},
                "probes": [
                    {
                        "device_id": x.device_id,
                        "sensor": x.sensor,
                        "role": x.role,
                        "label": x.label,
                        "limit_c": x.limit_c,
                        "max_c": x.max_c,
                        "minutes_above": x.minutes,
                    }
                    for x in v.excursions
                ],
            }
            for v in report.venues
        ],
        "total": _figures_json(report.total),
    }
