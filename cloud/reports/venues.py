"""Which venues a report covers: one venue, or a district's venues inside the caller's scope."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from cloud.aggregates import raw


@dataclass(frozen=True, slots=True)
class ReportVenue:
    id: str
    name: str  # what zh-CN readers see; name_en (else name) is the English one
    timezone: str
    district: str | None
    name_en: str | None = None


def load_venues(
    conn: Connection,
    *,
    scope: frozenset[str] | None,
    district: str | None = None,
    venue_id: str | None = None,
) -> list[ReportVenue]:
    """The venues of ``district`` (or the one ``venue_id``) that ``scope`` allows, by id."""
    v = raw.VENUE.c
    query = select(v.id, v.name, v.timezone, v.district, v.name_en).order_by(v.id)
    if district is not None:
        query = query.where(v.district == district)
    if venue_id is not None:
        query = query.where(v.id == venue_id)
    if scope is not None:
        query = query.where(v.id.in_(scope))
    return [
        ReportVenue(r.id, r.name, r.timezone, r.district, r.name_en) for r in conn.execute(query)
    ]


def districts(conn: Connection, *, scope: frozenset[str] | None) -> list[str]:
    """The districts with at least one venue in ``scope``."""
    v = raw.VENUE.c
    query = select(v.district).where(v.district.is_not(None)).distinct().order_by(v.district)
    if scope is not None:
        query = query.where(v.id.in_(scope))
    return [d for (d,) in conn.execute(query) if d]
