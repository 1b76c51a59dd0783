"""A report as tables of typed cells, which the XLSX and PDF writers both lay out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Literal

from cloud.core.lang import venue_name
from cloud.reports.excursions import Excursion
from cloud.reports.figures import Figures, Report, VenueReport
from cloud.reports.handling import Handling
from cloud.reports.redemptions import Redeemed
from cloud.reports.words import Lang, word

Format = Literal["text", "int", "dec1", "dec3", "date", "hour"]
Cell = str | int | float | date | datetime | None


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # a reports.col.* word
    fmt: Format


@dataclass(frozen=True, slots=True)
class Table:
    name: str  # a reports.sheet.* word
    columns: Sequence[Column]
    rows: list[list[Cell]]

    def headers(self, lang: Lang) -> list[str]:
        return [word(lang, "reports.col." + c.key) for c in self.columns]


FIGURES: Final = (
    Column("visits", "int"),
    Column("unique_members", "int"),
    Column("people_in", "int"),
    Column("people_out", "int"),
    Column("peak", "int"),
    Column("peak_at", "hour"),
    Column("open_hours", "dec1"),
    Column("energy", "dec3"),
    Column("fridge_minutes", "dec1"),
    Column("heat_minutes", "dec1"),
    Column("alerts", "int"),
    Column("ack_median", "dec1"),
    Column("ack_p95", "dec1"),
    Column("resolve_median", "dec1"),
    Column("resolve_p95", "dec1"),
    Column("redemptions", "int"),
    Column("points", "int"),
)


def _name(report: VenueReport, lang: Lang) -> str:
    return venue_name(report.venue, "en" if lang == "en" else "zh-CN")


def figure_cells(f: Figures) -> list[Cell]:
    peak_at = None if f.peak.at is None else f.peak.at.replace(tzinfo=None)
    return [
        f.visits,
        f.unique_members,
        f.people_in,
        f.people_out,
        f.peak.count if f.peak.at is not None else None,
        peak_at,
        round(f.open_hours, 1),
        f.energy_kwh,
        round(f.fridge_minutes, 1),
        round(f.heat_minutes, 1),
        f.alerts.count,
        f.alerts.minutes("ack", 0.5),
        f.alerts.minutes("ack", 0.95),
        f.alerts.minutes("resolve", 0.5),
        f.alerts.minutes("resolve", 0.95),
        f.redeemed.count,
        f.redeemed.points,
    ]


def summary(report: Report, lang: Lang) -> Table:
    """One row per venue, and for a district a total row."""
    rows: list[list[Cell]] = [[_name(v, lang), *figure_cells(v.total)] for v in report.venues]
    if report.scope == "district":
        rows.append([word(lang, "reports.total"), *figure_cells(report.total)])
    return Table("summary", (Column("venue", "text"), *FIGURES), rows)


def days(report: Report, lang: Lang) -> Table:
    """One row per venue and local day."""
    rows: list[list[Cell]] = [
        [date.fromisoformat(day), _name(v, lang), *figure_cells(f)]
        for v in report.venues
        for day, f in v.days.items()
    ]
    rows.sort(key=lambda row: (str(row[0]), str(row[1])))
    return Table("days", (Column("date", "date"), Column("venue", "text"), *FIGURES), rows)


def day_totals(report: Report) -> Table:
    """One row per local day, the venues added up (a district's PDF: a month fits a page)."""
    totals: dict[str, Figures] = {}
    for v in report.venues:
        for day, f in v.days.items():
            total = totals.setdefault(day, Figures())
            total.visits += f.visits
            total.unique_members += f.unique_members
            total.people_in += f.people_in
            total.people_out += f.people_out
            if f.peak.at is not None:
                total.peak.offer(f.peak.count, f.peak.at)
            total.open_hours += f.open_hours
            total.add_energy(f.energy_kwh)
            total.fridge_minutes += f.fridge_minutes
            total.heat_minutes += f.heat_minutes
            total.alerts = Handling.combined([total.alerts, f.alerts])
            total.redeemed = Redeemed.combined([total.redeemed, f.redeemed])
    rows: list[list[Cell]] = [
        [date.fromisoformat(d), *figure_cells(f)] for d, f in sorted(totals.items())
    ]
    return Table("days", (Column("date", "date"), *FIGURES), rows)


def _probe_name(probe: Excursion) -> str:
    """A person's label for the probe, else its hardware id."""
    if probe.label:
        return probe.label
    return f"{probe.device_id}/{probe.sensor}" if probe.sensor else probe.device_id


def probes(report: Report, lang: Lang) -> Table:
    rows: list[list[Cell]] = [
        [
            _name(v, lang),
            _probe_name(x),
            word(lang, "reports.role." + x.role),
            x.limit_c,
            x.max_c,
            x.minutes,
        ]
        for v in report.venues
        for x in v.excursions
    ]
    columns = (
        Column("venue", "text"),
        Column("probe", "text"),
        Column("role", "text"),
        Column("limit", "dec1"),
        Column("max", "dec1"),
        Column("minutes", "dec1"),
    )
    return Table("temperature", columns, rows)


def alert_kinds(report: Report, lang: Lang) -> Table:
    rows: list[list[Cell]] = [
        [_name(v, lang), word(lang, f"alertkind.{kind}.r"), count]
        for v in report.venues
        for kind, count in sorted(v.total.alerts.by_kind.items())
    ]
    columns = (Column("venue", "text"), Column("kind", "text"), Column("count", "int"))
    return Table("alerts", columns, rows)


def show(value: Cell, fmt: Format) -> str:
    """A cell as the PDF and the page print it (the XLSX keeps the numbers themselves)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%m-%d %H:00")
    if isinstance(value, date):
        return value.isoformat()
    if fmt == "dec1" and isinstance(value, float | int):
        return f"{value:.1f}"
    if fmt == "dec3" and isinstance(value, float | int):
        return f"{value:.2f}"  # kWh: two places, as a meter bill reads
    return str(value)
