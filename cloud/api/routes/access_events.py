"""``/api/v1/access-events``: door decisions, with member ids pseudonymized for managers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from cloud.access.events import AccessEventsPublic, AccessFilter, access_events, members_hidden
from cloud.api.auth_deps import require_roles
from cloud.api.csv import FormatQuery, csv_response
from cloud.api.deps import NowDep, Offset, SessionDep, StateDep
from cloud.api.errors import ApiError
from cloud.api.timewindow import EXAMPLE, resolve_window
from cloud.auth.principal import Principal, Role

# Technicians debug doors, so they see decisions, but with pseudonyms like managers.
ACCESS_EVENT_READERS = (Role.ADMIN, Role.MANAGER, Role.TECHNICIAN, Role.SERVICE, Role.MEMBER)
AccessReader = Annotated[Principal, Depends(require_roles(*ACCESS_EVENT_READERS))]
_COLUMNS = ("ts", "venue_id", "device_id", "seq", "door", "reason", "member", "mode", "detail")
_TIME_HELP = f"ISO 8601 with a timezone, e.g. {EXAMPLE}; the window defaults to the last 24 h."

router = APIRouter(prefix="/access-events", tags=["access-events"])


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
    if member_id is not None and members_hidden(principal):
        raise ApiError(
            403,
            code="forbidden",
            message="filtering by member id would reveal who a pseudonym is; admins only",
        )
    window = resolve_window(since=since, until=until, now=now)
    wanted = AccessFilter(
        window.since, window.until, venue_id=venue_id, reason=reason, member_id=member_id
    )
    found = access_events(
        session=session,
        principal=principal,
        wanted=wanted,
        pseudonym_key=state.auth.pseudonym_key,
        limit=limit,
        offset=offset,
    )
    if output == "csv":
        return csv_response(found.data, columns=_COLUMNS, filename="access-events.csv")
    return found
