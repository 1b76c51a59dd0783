"""A report as a PDF (reportlab), readable without any font installed on either side.

Chinese is set in reportlab's built-in CID font STSong-Light: the PDF names the font and
the reader supplies its own Song typeface (every PDF reader ships one for the Adobe-GB1
collection), so no font file is bundled or needed on the server, and the text stays text
(copyable, searchable, and what the tests read back with pypdf).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from typing import Final
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, TableStyle
from reportlab.platypus import Table as PdfTable

from cloud.aggregates.timezones import local_iso, venue_zone
from cloud.reports.figures import Report
from cloud.reports.tables import (
    FIGURES,
    Table,
    alert_kinds,
    day_totals,
    figure_cells,
    probes,
    show,
    summary,
)
from cloud.reports.words import Lang, title, word

FONT: Final = "STSong-Light"
PAGE: Final = landscape(A4)
MARGIN: Final = 12 * mm
# A district's by-venue table: the figures a manager compares venues by, to fit a page's width.
VENUE_COLUMNS: Final = (
    "visits",
    "unique_members",
    "people_in",
    "peak",
    "open_hours",
    "energy",
    "fridge_minutes",
    "heat_minutes",
    "alerts",
    "ack_median",
    "resolve_median",
    "redemptions",
    "points",
)


@cache
def _font() -> str:
    # Registered on first use, not at import: importing the module stays side-effect free.
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def _styles() -> tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle]:
    font = _font()
    heading = ParagraphStyle("h", fontName=font, fontSize=15, leading=20, spaceAfter=4)
    section = ParagraphStyle("s", fontName=font, fontSize=11, leading=15, spaceBefore=8)
    cell = ParagraphStyle("c", fontName=font, fontSize=7.5, leading=9)
    return heading, section, cell


def _table(table: Table, lang: Lang, *, keep: Sequence[str] | None = None) -> Flowable:
    cell_style = _styles()[2]
    picked = [
        n
        for n, c in enumerate(table.columns)
        if keep is None or c.key in keep or c.fmt == "text" or c.key == "date"
    ]
    headers = table.headers(lang)
    data: list[list[object]] = [[Paragraph(escape(headers[n]), cell_style) for n in picked]]
    data += [[show(row[n], table.columns[n].fmt) for n in picked] for row in table.rows]
    width = (PAGE[0] - 2 * MARGIN) / len(picked)
    pdf = PdfTable(data, colWidths=[width] * len(picked), repeatRows=1)
    pdf.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), _font()),
                ("FONTSIZE", (0, 0), (-1, -1), 7.5),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")),
                ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return pdf


def _figures_list(report: Report, lang: Lang) -> Flowable:
    """The totals as a two-column list: figure, value (one venue's report reads like this)."""
    cells = figure_cells(report.total)
    rows: list[list[object]] = [[word(lang, "reports.figure"), word(lang, "reports.value")]]
    rows += [
        [word(lang, "reports.col." + c.key), show(v, c.fmt)]
        for c, v in zip(FIGURES, cells, strict=True)
    ]
    pdf = PdfTable(rows, colWidths=[80 * mm, 50 * mm], hAlign="LEFT")
    pdf.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), _font()),
                ("FONTSIZE", (0, 0), (-1, -1), 9),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")),
                ("ALIGN", (1, 1), (1, -1), "RIGHT"),
            ]
        )
    )
    return pdf


def _head(report: Report, lang: Lang) -> list[Flowable]:
    """The title, the zones and when it was made, and the totals."""
    heading, _, small = _styles()
    zones = sorted({v.venue.timezone for v in report.venues}) or ["Asia/Shanghai"]
    generated = local_iso(report.generated_at, venue_zone(zones[0]))[:16].replace("T", " ")
    named = title(lang, report.display_name(lang), report.period.kind, report.period.label(lang))
    return [
        # A Paragraph reads markup: a name with "&" or "<" in it is text, not a tag.
        Paragraph(escape(named), heading),
        Paragraph(
            f"{word(lang, 'reports.zone')}: {', '.join(zones)} · "
            f"{word(lang, 'reports.generated')}: {generated}",
            small,
        ),
        Spacer(1, 4 * mm),
        _figures_list(report, lang),
    ]


def _sections(report: Report, lang: Lang) -> list[Flowable]:
    """A district's venues, a week's or month's days, the probes and the alert kinds."""
    tables: list[tuple[str, Table, Sequence[str] | None]] = []
    if report.scope == "district":
        tables.append(("venues", summary(report, lang), VENUE_COLUMNS))
    if report.period.kind != "day":
        tables.append(("days", day_totals(report), VENUE_COLUMNS))
    tables += [
        ("temperature", probes(report, lang), None),
        ("alerts", alert_kinds(report, lang), None),
    ]
    section = _styles()[1]
    story: list[Flowable] = []
    for name, table, keep in tables:
        if table.rows:
            story += [
                Paragraph(word(lang, "reports.section." + name), section),
                _table(table, lang, keep=keep),
            ]
    return story


def report_pdf(report: Report, lang: Lang) -> bytes:
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=title(lang, report.display_name(lang), report.period.kind, report.period.label(lang)),
    )
    document.build([*_head(report, lang), *_sections(report, lang)])
    return out.getvalue()
