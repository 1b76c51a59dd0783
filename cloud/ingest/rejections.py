"""Refused messages into ``rejected_message``: one row per sender, kind of refusal and minute.

A box sending 10 000 non-JSON messages a second made a row each (issue 15, finding 5). A
repeat now adds to the ``count`` of the row its first one made, which keeps the first
payload as the sample a technician reads. The kind of a refusal is its field and reason
with numbers and quoted text blanked, so "not JSON at char 17" and "… at char 912" are one
kind, and a sender inventing new field names every message still cannot add rows without
bound: past ``MAX_KINDS_PER_MINUTE`` kinds in a minute the rest share one overflow row.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime
from types import ModuleType
from typing import Any, Final

from sqlalchemy.engine import Connection

from cloud.core.db import no_nul, table_of
from cloud.ingest.inbound import Rejection
from cloud.models import RejectedMessage
from protocol.codec import valid_seq

# A healthy box has at most a handful of distinct problems; dozens in one minute is a box
# (or an attacker) producing noise, and a person learns nothing more from a 21st kind.
MAX_KINDS_PER_MINUTE: Final = 20
_OVERFLOW_FIELD: Final = "*"
_OVERFLOW_REASON: Final = (
    f"more than {MAX_KINDS_PER_MINUTE} kinds of refusal from this sender in one minute; the "
    "rest are counted here (the first is the sample); look at the box's software"
)
_NUMBER: Final = re.compile(r"\d+")
_QUOTED: Final = re.compile(r"'[^']*'|\"[^\"]*\"")
_KIND_CHARS: Final = 160  # of a reason: past this, reasons of one kind differ only in detail


def _kind(text: str) -> str:
    return _NUMBER.sub("#", _QUOTED.sub("'…'", text))[:_KIND_CHARS]


def _sender(rejection: Rejection) -> str:
    """Per device; a message whose topic names no device is counted per topic."""
    if rejection.device_id is not None:
        return f"device\x1f{rejection.device_id}"
    return f"topic\x1f{rejection.topic}"


class RejectionLog:
    """Writes refusals, aggregated; remembers which kinds each sender used this minute."""

    def __init__(self, dialect: ModuleType) -> None:
        self._dialect = dialect
        self._minute: datetime | None = None
        self._kinds: dict[str, set[str]] = {}  # sender -> kinds seen in self._minute

    def store(self, conn: Connection, rejections: Iterable[Rejection], now: datetime) -> None:
        """Add ``rejections`` received at ``now`` inside the caller's transaction."""
        minute = now.replace(second=0, microsecond=0)
        if minute != self._minute:
            self._minute, self._kinds = minute, {}
        rows: dict[str, dict[str, Any]] = {}
        for rejection in rejections:
            key, overflow = self._key(rejection, minute)
            row = rows.get(key)
            if row is None:
                rows[key] = _row(rejection, key=key, now=now, overflow=overflow)
            else:
                row["count"] += 1
        if rows:
            self._upsert(conn, list(rows.values()))

    def _key(self, rejection: Rejection, minute: datetime) -> tuple[str, bool]:
        """The hashed identity of the row ``rejection`` counts in, and whether it is the
        sender's overflow row for this minute."""
        sender = _sender(rejection)
        kind = f"{_kind(rejection.field)}\x1f{_kind(rejection.reason)}"
        kinds = self._kinds.setdefault(sender, set())
        overflow = False
        if kind not in kinds:
            if len(kinds) >= MAX_KINDS_PER_MINUTE:
                kind, overflow = _OVERFLOW_FIELD, True
            else:
                kinds.add(kind)
        identity = f"{sender}\x1f{kind}\x1f{minute.isoformat()}"
        return hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest(), overflow

    def _upsert(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        table = table_of(RejectedMessage)
        stmt = self._dialect.insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["dedupe_key"],
            set_={
                "count": table.c["count"] + stmt.excluded["count"],
                "last_seen_at": stmt.excluded.last_seen_at,
            },
        )
        conn.execute(stmt, rows)


def _row(rejection: Rejection, *, key: str, now: datetime, overflow: bool) -> dict[str, Any]:
    return {
        "dedupe_key": key,
        "received_at": now,
        "last_seen_at": now,
        "count": 1,
        "topic": no_nul(rejection.topic)[:300],
        "device_id": rejection.device_id,
        "seq": valid_seq(rejection.seq),
        "field_path": _OVERFLOW_FIELD if overflow else no_nul(rejection.field)[:200],
        "reason": _OVERFLOW_REASON if overflow else no_nul(rejection.reason),
        "size": rejection.size,
        "payload": no_nul(rejection.payload),
    }
