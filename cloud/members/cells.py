"""One spreadsheet cell as a roster value, or a refusal saying what is wrong and what to do.

Cells come as a CSV gives them (text) or as openpyxl gives them (text, numbers, dates).
Each column's parser turns a cell into what :class:`~cloud.members.roster.RosterEntry`
takes; the entry's own validation stays the one rule, and :func:`refusal_of` says its
refusals in a person's words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from cloud.members.roster import Standing
from cloud.members.sheets import unquoted

_EXCEL_DIGITS: Final = 15  # Excel keeps a number to 15 significant digits
_REPEATED: Final = ("groups", "valid_until", "standing")
_REFUSED: Final = {
    "member_id": ("bad_id", "member id {text} is not 1 to 24 of A-Z a-z 0-9 . _ -; correct it"),
    "display_name": (
        "bad_name",
        (
            "name {text} is not 1 to 40 characters on one line (no line break or tab); "
            "shorten or correct it"
        ),
    ),
    "groups": (
        "unknown_group",
        (
            "groups {text} are not group names (lowercase letters, digits and -, e.g. "
            "rider); correct the cell"
        ),
    ),
    "valid_until": ("bad_date", "valid_until {text} is not a year a door accepts; correct it"),
    "phone_tail": ("bad_phone_tail", "phone tail {text} is not the last 4 digits of a phone{hint}"),
}
_LEADING_ZERO: Final = (
    "; Excel drops a leading 0 from a number: format the column as text and type it again"
)
_MEMO: Final = 10_000
_GROUP_SEPARATORS = re.compile(r"[\s,，、;；]+")
_DAY = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_STANDINGS: Final = {
    "active": Standing.ACTIVE,
    "正常": Standing.ACTIVE,
    "在册": Standing.ACTIVE,
    "suspended": Standing.SUSPENDED,
    "暂停": Standing.SUSPENDED,
    "停用": Standing.SUSPENDED,
    "revoked": Standing.REVOKED,
    "注销": Standing.REVOKED,
    "除名": Standing.REVOKED,
}


class CellError(ValueError):
    """A cell the roster cannot take: ``reason`` is the report's code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class CellReader:
    """Reads one file's cells: dates in ``zone``, groups among ``groups`` (name → Chinese
    name, either accepted; None: check a group name's form only).

    A roster repeats a few dates, group lists and standings on every row; each is parsed
    once per file (up to ``_MEMO`` of each), which halves the time a large file takes.
    """

    def __init__(self, *, zone: ZoneInfo, groups: Mapping[str, str] | None) -> None:
        self._zone = zone
        self._groups = groups
        self._aliases = {alias: name for name, zh in (groups or {}).items() for alias in (name, zh)}
        self._memo: dict[str, dict[str, object]] = {name: {} for name in _REPEATED}

    def parse(self, column: str, value: object) -> object:
        """The value RosterEntry takes for this column's cell; raises CellError."""
        memo = self._memo.get(column)
        if memo is None or not isinstance(value, str):  # text only: 1 == True == 1.0
            return _PLAIN[column](value) if memo is None else self._parse_repeated(column, value)
        if value in memo:
            return memo[value]
        parsed = self._parse_repeated(column, value)
        if len(memo) < _MEMO:
            memo[value] = parsed
        return parsed

    def _parse_repeated(self, column: str, value: object) -> object:
        if column == "groups":
            return self._group_list(value)
        if column == "valid_until":
            return _valid_until(value, self._zone)
        return _standing(value)

    def _group_list(self, value: object) -> tuple[str, ...]:
        text = _text(value, fold=True)
        if text is None:
            return ()
        words = [word.lower() for word in _GROUP_SEPARATORS.split(text) if word]
        return tuple(dict.fromkeys(self._group(word) for word in words))

    def _group(self, word: str) -> str:
        if self._groups is None:
            return word
        try:
            return self._aliases[word]
        except KeyError:
            known = ", ".join(f"{name} ({zh})" for name, zh in sorted(self._groups.items()))
            raise CellError(
                "unknown_group",
                f"there is no group {shown(word)!r}; the groups are {known}; correct the cell "
                "or leave it empty",
            ) from None


def shown(text: str, *, limit: int = 30) -> str:
    """Text cut short enough to quote in a message."""
    return text if len(text) <= limit else text[:limit] + "…"


def refusal_of(column: str, value: object, *, rule: str | None) -> CellError:
    """RosterEntry refused this column's value: what to tell the person. ``rule``: the words
    of one of the roster's own rules (groups that must fit a door code), None for a form."""
    text = _text(value, fold=False) or ""
    if column == "member_id" and not text:
        return CellError("bad_id", "the member id is empty; fill it in or delete the row")
    if rule is not None and column in ("groups", ""):
        return CellError("bad_row", rule)
    reason, template = _REFUSED.get(column, ("bad_row", "the {column} cell {text} is refused"))
    lost_zero = isinstance(value, int | float) or text.isdigit()
    hint = _LEADING_ZERO if column == "phone_tail" and lost_zero else ""
    return CellError(reason, template.format(column=column, text=repr(shown(text)), hint=hint))


def _text(value: object, *, fold: bool) -> str | None:
    """The cell as the text Excel shows; ``fold``: full-width letters and digits as ASCII
    (an IME's １２３４ is 1234), for ids and codes, never for names."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    if fold and not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return unquoted(text.strip()) or None


def _member_id(value: object) -> str | None:
    too_long = isinstance(value, int | float) and abs(value) >= 10**_EXCEL_DIGITS
    if too_long and not isinstance(value, bool):
        raise CellError(
            "bad_id",
            f"the member id is the number {value:.0f}, which Excel may have rounded (it "
            f"keeps {_EXCEL_DIGITS} digits); format the column as text and type the id again",
        )
    return _text(value, fold=True)


def _display_name(value: object) -> str | None:
    return _text(value, fold=False)


def _code(value: object) -> str | None:
    return _text(value, fold=True)


def _standing(value: object) -> Standing:
    text = _text(value, fold=True)
    if text is None:
        return Standing.ACTIVE
    try:
        return _STANDINGS[text.lower()]
    except KeyError:
        raise CellError(
            "bad_standing",
            f"standing {shown(text)!r} is not active, suspended or revoked (正常, 暂停, 注销); "
            "correct it, or leave it empty for active",
        ) from None


def _valid_until(value: object, zone: ZoneInfo) -> datetime | None:
    """When the membership lapses, in UTC: a date means through that whole local day."""
    if isinstance(value, date):
        return _date_cell(value, zone)
    if value is not None and not isinstance(value, str):
        raise _bad_date(_text(value, fold=False) or "", number=isinstance(value, int | float))
    text = _text(value, fold=True)
    return None if text is None else _date_text(text, zone)


def _date_cell(value: date, zone: ZoneInfo) -> datetime:
    """An Excel date cell: a local time, and midnight (all a date-only cell holds) a day."""
    if not isinstance(value, datetime):
        return _day_end(value, zone)
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    if value.time() == time():
        return _day_end(value.date(), zone)
    return value.replace(tzinfo=zone).astimezone(UTC)


def _date_text(text: str, zone: ZoneInfo) -> datetime:
    day = _DAY.fullmatch(text)
    try:
        if day is not None:
            return _day_end(date(*(int(part) for part in day.groups())), zone)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise _bad_date(text) from None
    if moment.tzinfo is None:  # which zone's 18:00? a date alone is the zone's day
        raise CellError(
            "bad_date",
            f"valid_until {shown(text)!r} does not say its offset (which zone's time?); write "
            "2027-12-31T18:00+08:00, or the date alone, 2027-12-31, for the whole day",
        )
    return moment.astimezone(UTC)


def _day_end(day: date, zone: ZoneInfo) -> datetime:
    """The next local midnight: the membership runs through ``day``."""
    try:
        after = day + timedelta(days=1)
    except OverflowError:
        raise _bad_date(day.isoformat()) from None
    return datetime.combine(after, time(), tzinfo=zone).astimezone(UTC)


def _bad_date(text: str, *, number: bool = False) -> CellError:
    hint = " (a number: format the column as a date)" if number else ""
    return CellError(
        "bad_date",
        f"valid_until {shown(text)!r}{hint} is not a date; write 2027-12-31 (the membership "
        "runs through that day) or a time with its offset, 2027-12-31T18:00+08:00, or leave "
        "it empty for no end",
    )


_PLAIN: Final[Mapping[str, Callable[[object], object]]] = {
    "member_id": _member_id,
    "display_name": _display_name,
    "standing": _standing,
    "phone_tail": _code,
}
