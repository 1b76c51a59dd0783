"""Door decisions as a reader may see them: scoped to the reader, member ids pseudonymized."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, SQLModel, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from cloud.aggregates.traffic import DECISION_EVENT
from cloud.auth.principal import Principal, Role
from cloud.auth.pseudonym import pseudonymize
from cloud.core.time import UtcDatetime
from cloud.models import DeviceEvent


class AccessEventPublic(SQLModel):
    ts: UtcDatetime
    venue_id: str
    device_id: str
    seq: int
    door: str | None
    reason: str | None
    # The member id for admins and for the member themself; a pseudonym (p-…) for managers
    # and technicians: the same member always gets the same one, so visits can be counted.
    member: str | None
    mode: int | None
    detail: str | None


class AccessEventsPublic(SQLModel):
    data: list[AccessEventPublic]
    count: int  # all matching events, not only this page
    members_pseudonymized: bool


@dataclass(frozen=True, slots=True)
class AccessFilter:
    """Which decisions: ``since`` inclusive, ``until`` exclusive, the rest optional."""

    since: datetime
    until: datetime
    venue_id: str | None = None
    reason: str | None = None
    member_id: str | None = None


def members_hidden(principal: Principal) -> bool:
    """Whether ``principal`` sees pseudonyms instead of member ids."""
    return principal.pseudonymize_members and principal.role is not Role.MEMBER


def _data_field(name: str) -> Any:
    # JSON path -> text, portable: json_extract on SQLite, ->> on PostgreSQL.
    return col(DeviceEvent.data)[name].as_string()


def _query(principal: Principal, wanted: AccessFilter) -> SelectOfScalar[DeviceEvent]:
    query = select(DeviceEvent).where(
        DeviceEvent.type == DECISION_EVENT,
        col(DeviceEvent.ts) >= wanted.since,
        col(DeviceEvent.ts) < wanted.until,
    )
    if principal.role is Role.MEMBER:
        # Their own decisions, wherever they happened; none without a member id.
        query = query.where(_data_field("member") == (principal.member_id or ""))
    elif (scope := principal.venue_filter()) is not None:
        query = query.where(col(DeviceEvent.venue_id).in_(scope))
    if wanted.venue_id is not None:
        query = query.where(DeviceEvent.venue_id == wanted.venue_id)
    if wanted.reason is not None:
        query = query.where(_data_field("reason") == wanted.reason)
    if wanted.member_id is not None:
        query = query.where(_data_field("member") == wanted.member_id)
    return query


def _public(event: DeviceEvent, *, key: bytes | None) -> AccessEventPublic:
    data = event.data
    member = data.get("member")
    if member is not None and key is not None:
        member = pseudonymize(str(member), key=key)
    mode = data.get("mode")
    return AccessEventPublic(
        ts=event.ts,
        venue_id=event.venue_id,
        device_id=event.device_id,
        seq=event.seq,
        door=data.get("door"),
        reason=data.get("reason"),
        member=member,
        mode=mode if isinstance(mode, int) else None,
        detail=data.get("detail"),
    )


def access_events(
    *,
    session: Session,
    principal: Principal,
    wanted: AccessFilter,
    pseudonym_key: bytes,
    limit: int,
    offset: int = 0,
) -> AccessEventsPublic:
    """Newest first. Managers see only their venues, members only their own decisions."""
    hidden = members_hidden(principal)
    query = _query(principal, wanted)
    count = session.exec(select(func.count()).select_from(query.subquery())).one()
    order = (col(DeviceEvent.ts).desc(), col(DeviceEvent.device_id), col(DeviceEvent.seq))
    rows = session.exec(query.order_by(*order).offset(offset).limit(limit))
    key = pseudonym_key if hidden else None
    data = [_public(event, key=key) for event in rows]
    return AccessEventsPublic(data=data, count=count, members_pseudonymized=hidden)
