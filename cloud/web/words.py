"""Words and numbers as a person reads them, in the page's language.

One term per thing (the glossary below: every page's catalog uses these words for these
figures), a venue's name in the reader's language, and the formatters every page uses for
bytes, durations, dates and times in the venue's zone, counts with their units and shares.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Final, Protocol

from cloud.aggregates.timezones import venue_zone
from cloud.core.lang import Lang, Messages, venue_name
from cloud.core.time import as_utc

# The glossary: the one zh-CN and English term for each figure the dashboard shows. Pages'
# catalogs say these words (tests/cloud/web/test_words.py greps them for the old synonyms).
GLOSSARY: Final[Messages] = {
    # Door decisions that let someone in (a member's code, a guest pass): people admitted.
    "term.visits": ("到访人次", "visits"),
    # People the door's light beam counted walking in, with or without a code.
    "term.entries": ("进入人次", "entries"),
    # Different members among the visits: one member twice a day is one.
    "term.members": ("到访会员数", "unique members"),
    # People in the venue now (entries minus exits, from the beam).
    "term.inside": ("在场人数", "people inside"),
    # How many people the venue holds at once.
    "term.capacity": ("容量", "capacity"),
    # Alerts not yet resolved (open or acknowledged).
    "term.open_alerts": ("未处理告警", "open alerts"),
}

# Units after a count: (zh-CN measure word, English singular, English plural).
_UNITS: Final[dict[str, tuple[str, str, str]]] = {
    "people": ("人", "person", "people"),
    "visits": ("人次", "visit", "visits"),
    "entries": ("人次", "entry", "entries"),
    "members": ("人", "member", "members"),
    "times": ("次", "time", "times"),
    "items": ("件", "item", "items"),
    "points": ("分", "point", "points"),
    "boxes": ("台", "box", "boxes"),
    "alerts": ("条", "alert", "alerts"),
    "venues": ("个", "venue", "venues"),
}
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_BYTE_UNITS: Final = ("KB", "MB", "GB", "TB")
# (seconds, zh-CN unit, English unit), largest first: a duration shows its two largest.
_SPANS: Final = ((86400, "天", "d"), (3600, "小时", "h"), (60, "分钟", "min"), (1, "秒", "s"))

TEXT: Final[Messages] = {
    **GLOSSARY,
    "words.credentials.none": ("尚无凭据", "no credentials yet"),
    "words.credentials.first": ("凭据：首次签发", "credentials: first issue"),
    "words.credentials.renewed": ("凭据版本 {n}", "credentials version {n}"),
    "words.entry.checkin": ("{day} 在 {venue} 签到", "Check-in at {venue} on {day}"),
    "words.entry.checkin_somewhere": ("{day} 签到", "Check-in on {day}"),
    "words.entry.activity": ("在 {venue} 参加活动", "Took part in an activity at {venue}"),
}


def number(value: float, *, digits: int = 0) -> str:
    """12,345 or 12,345.6: thousands grouped (both languages write digits the same way)."""
    return f"{value:,.{digits}f}"


def count(value: int, unit: str, lang: Lang) -> str:
    """``3 人`` / ``3 people``, ``1 visit``: a count with its unit (``_UNITS`` names them)."""
    zh, one, many = _UNITS[unit]
    if lang == "zh-CN":
        return f"{number(value)} {zh}"
    return f"{number(value)} {one if value == 1 else many}"


def percent(part: float, whole: float | None = None, *, digits: int = 0) -> str:
    """``part`` of ``whole`` (or ``part`` as a fraction when no whole) as ``45%``; "—" for
    a share of nothing."""
    if whole is not None:
        if whole == 0:
            return "—"
        part = part / whole
    return f"{part * 100:.{digits}f}%"


def size(n_bytes: float) -> str:
    """78232 MB of bytes as ``76.4 GB``: 1024 per step, three figures at most."""
    if n_bytes < 1024:
        return f"{n_bytes:.0f} B"
    value = float(n_bytes)
    for unit in _BYTE_UNITS:
        value /= 1024
        if value < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def size_mb(megabytes: float) -> str:
    """A size the box reports in MB (``disk_free_mb``), shown as :func:`size`."""
    return size(megabytes * 1024 * 1024)


def duration(value: timedelta | float, lang: Lang) -> str:
    """``2 小时 5 分钟`` / ``2 h 5 min``: the two largest units, rounded down (seconds)."""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds <= 0:
        return "0 秒" if lang == "zh-CN" else "0 s"
    parts = []
    for span, zh, en in _SPANS:
        amount, seconds = divmod(seconds, span)
        if amount:
            parts.append(f"{amount} {zh if lang == 'zh-CN' else en}")
        if len(parts) == 2 or (parts and not amount):
            break
    return " ".join(parts)


def _local(value: datetime | str | None, tz: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return as_utc(value).astimezone(venue_zone(tz))


def day(value: date | str | None, lang: Lang) -> str:
    """A calendar date: ``2026-12-06`` in zh-CN, ``6 Dec 2026`` in English."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            return value
    else:
        parsed = value.date() if isinstance(value, datetime) else value
    if lang == "zh-CN":
        return parsed.isoformat()
    return f"{parsed.day} {_MONTHS[parsed.month - 1]} {parsed.year}"


def local_day(value: datetime | str | None, tz: str | None, lang: Lang) -> str:
    """The date ``value`` (UTC) falls on in the venue's zone ``tz``."""
    moment = _local(value, tz)
    return day(moment.date(), lang) if moment else "—"


def local_time(value: datetime | str | None, tz: str | None, lang: Lang) -> str:
    """``2026-12-06 08:30`` / ``6 Dec 2026 08:30``: ``value`` (UTC) in the venue's zone."""
    moment = _local(value, tz)
    if moment is None:
        return "—" if value is None or value == "" else str(value)
    return f"{day(moment.date(), lang)} {moment:%H:%M}"


def credentials(generation: int, t: Callable[..., str]) -> str:
    """What a box's credential generation means (``t``: the page's catalog): none yet (it
    was registered before claiming existed), the first issue (the claim), or a renewed one."""
    if generation < 1:
        return t("words.credentials.none")
    if generation == 1:
        return t("words.credentials.first")
    return t("words.credentials.renewed", n=generation)


class StatementLine(Protocol):
    """A member's points entry as cloud.points.statement shows it."""

    kind: str
    memo: str
    venue_name: str | None
    venue_name_en: str | None
    day: date | None


def entry_text(entry: StatementLine, t: Callable[..., str], lang: Lang) -> str:
    """A points entry as a sentence (``2026-12-06 在 徐汇骑手驿站 签到``); kinds without one
    answer "" and the page shows the kind's own label."""
    venue = entry.venue_name_en if lang == "en" and entry.venue_name_en else entry.venue_name
    if entry.kind == "checkin":
        if venue is None:
            return t("words.entry.checkin_somewhere", day=day(entry.day, lang))
        return t("words.entry.checkin", venue=venue, day=day(entry.day, lang))
    if entry.kind == "activity" and venue is not None:
        return t("words.entry.activity", venue=venue)
    return ""


# What the templates may call: ``{{ venue_name(v, lang) }}``, ``{{ n|size }}``.
TEMPLATE_GLOBALS: Final[dict[str, Any]] = {
    "venue_name": venue_name,
    "count": count,
    "percent": percent,
    "duration": duration,
    "local_day": local_day,
    "local_time": local_time,
    "day_text": day,
    "credentials": credentials,
    "entry_text": entry_text,
}
TEMPLATE_FILTERS: Final[dict[str, Any]] = {"size": size, "size_mb": size_mb, "number": number}
