"""``/api/v1/access-events``: door decisions, with member ids pseudonymized for managers."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Response
from sqlmodel import SQLModel, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from cloud.api.csv import FormatQuery, csv_response
from cloud.api.deps import NowDep, Offset, SessionDep, StateDep
from cloud.api.errors import ApiError
from cloud.api.timewindow import EXAMPLE, TimeWindow, resolve_window
from cloud.auth.deps import require_roles
from cloud.auth.principal import Principal, Role
from cloud.auth.pseudonym import pseudonymize
from cloud.core.time import UtcDatetime
from cloud.models import DeviceEvent

DECISION_EVENT: Final = "access.decision"
# Technicians debug doors, so they see decisions, but with pseudonyms like managers.
ACCESS_EVENT_READERS = (Role.ADMIN, Role.MANAGER, Role.TECHNICIAN, Role.SERVICE, Role.MEMBER)
AccessReader = Annotated[Principal, Depends(require_roles(*ACCESS_EVENT_READERS))]
_COLUMNS = ("ts", "venue_id", "device_id", "seq", "door", "reason", "member", "mode", "detail")
_TIME_HELP = f"ISO 8601 with a timezone, e.g. {EXAMPLE}; the window defaults to the last 24 h."

router = APIRouter(prefix="/access-events", tags=["access-events"])


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


def _data_field(name: str) -> Any:
    # JSON path -> text, portable: json_extract on SQLite, ->> on PostgreSQL.
    return col(DeviceEvent.data)[name].as_string()


def _query(
    principal: Principal,
    *,
    window: TimeWindow,
    venue_id: str | None,
    reason: str | None,
    member_id: str | None,
) -> SelectOfScalar[DeviceEvent]:
    query = select(DeviceEvent).where(
        DeviceEvent.type == DECISION_EVENT,
        col(DeviceEvent.ts) >= window.since,
        col(DeviceEvent.ts) < window.until,
    )
    if principal.role is Role.MEMBER:
        # Their own decisions, wherever they happened; none without a member id.
        query = query.where(_data_field("member") == (principal.member_id or ""))
    elif (scope := principal.venue_filter()) is not None:
        query = query.where(col(DeviceEvent.venue_id).in_(scope))
    if venue_id is not None:
        query = query.where(DeviceEvent.venue_id == venue_id)
    if reason is not None:
        query = query.where(_data_field("reason") == reason)
    if member_id is not None:
        query = query.where(_data_field("member") == member_id)
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


@router.get("", response_model=AccessEventsPublic, responses={200: {"content": {"text/csv": {}}}})
def list_access_events(
    *,
    session: SessionDep,
    state: StateDep,
    now: NowDep,
    principal: AccessReader,
    venue_id: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[str | None, Query(description=f"Start, inclusive. {_TIME_HELP}")] = None,
    until: Annotated[str | None, Query(description=f"End, exclusive. {_TIME_HELP}")] = None,
    reason: Annotated[str | None, Query(max_length=32, description="e.g. accepted")] = None,
    member_id: Annotated[
        str | None, Query(max_length=24, description="Admins only: one member's decisions.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Offset = 0,
    output: FormatQuery = "json",
) -> AccessEventsPublic | Response:
    """Newest first. Managers see only their venues, members only their own decisions."""
    hidden = principal.pseudonymize_members and principal.role is not Role.MEMBER
    if member_id is not None and hidden:
        raise ApiError(
            403,
            code="forbidden",
            message="filtering by member id would reveal who a pseudonym is; admins only",
        )
    window = resolve_window(since=since, until=until, now=now)
    query = _query(principal, window=window, venue_id=venue_id, reason=reason, member_id=member_id)
    count = session.exec(select(func.count()).select_from(query.subquery())).one()
    order = (col(DeviceEvent.ts).desc(), col(DeviceEvent.device_id), col(DeviceEvent.seq))
    rows = session.exec(query.order_by(*order).offset(offset).limit(limit))
    key = state.auth.pseudonym_key if hidden else None
    data = [_public(event, key=key) for event in rows]
    if output == "csv":
        return csv_response(data, columns=_COLUMNS, filename="access-events.csv")
    return AccessEventsPublic(data=data, count=count, members_pseudonymized=hidden)
