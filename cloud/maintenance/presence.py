"""Offline detection: devices silent too long are marked offline, and back when they speak."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete, insert, or_, select, update

from cloud.core.db import table_of
from cloud.core.time import as_utc
from cloud.devices.models import Device, DeviceOfflineMark

DEVICE = table_of(Device)
MARK = table_of(DeviceOfflineMark)


@dataclass(frozen=True, slots=True)
class PresenceChange:
    device_id: str
    venue_id: str
    online: bool
    last_seen_at: datetime | None


PresenceHook = Callable[[Sequence[PresenceChange]], None]


def detect_offline(
    engine: Engine, *, now: datetime, offline_after: timedelta
) -> list[PresenceChange]:
    """Mark devices silent for longer than ``offline_after`` offline, and devices this job
    marked offline that have spoken since back online. Returns what changed."""
    now = as_utc(now)
    cutoff = now - offline_after
    d = DEVICE.c
    silent = and_(d.online, or_(d.last_seen_at.is_(None), d.last_seen_at < cutoff))
    changes: list[PresenceChange] = []
    with engine.begin() as conn:
        for row in conn.execute(select(d.id, d.venue_id, d.last_seen_at).where(silent)).all():
            # Conditional again: ingest may have heard from the device since the SELECT.
            marked = conn.execute(
                update(DEVICE).where(d.id == row.id, silent).values(online=False)
            ).rowcount
            if marked:
                conn.execute(delete(MARK).where(MARK.c.device_id == row.id))
                conn.execute(insert(MARK), {"device_id": row.id, "marked_at": now})
                seen = None if row.last_seen_at is None else as_utc(row.last_seen_at)
                changes.append(PresenceChange(row.id, row.venue_id, False, seen))
        changes.extend(_back_online(conn, cutoff))
    return changes


def _back_online(conn: Connection, cutoff: datetime) -> list[PresenceChange]:
    """Devices this job marked offline whose rows have arrived again since.

    Ingest sets ``online`` only from state messages; a box whose connection survived a
    silence sends none, so without this it would stay offline while it reports.
    """
    d, m = DEVICE.c, MARK.c
    rows = conn.execute(
        select(d.id, d.venue_id, d.online, d.last_seen_at, d.state_at, m.marked_at).join_from(
            DEVICE, MARK, d.id == m.device_id
        )
    ).all()
    changes: list[PresenceChange] = []
    for row in rows:
        marked_at = as_utc(row.marked_at)
        seen = None if row.last_seen_at is None else as_utc(row.last_seen_at)
        said_since = row.state_at is not None and as_utc(row.state_at) > marked_at
        if row.online or said_since:  # its own state message decides from here on
            conn.execute(delete(MARK).where(m.device_id == row.id))
            continue
        if seen is None or seen <= marked_at or seen < cutoff:
            continue
        conn.execute(update(DEVICE).where(d.id == row.id).values(online=True))
        conn.execute(delete(MARK).where(m.device_id == row.id))
        changes.append(PresenceChange(row.id, row.venue_id, True, seen))
    return changes
