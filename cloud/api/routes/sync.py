"""``/api/v1/sync/…``: what doors pull to decide offline: members, issuer keys, bookings.

Bodies are the wire models of protocol/access.py and protocol/sync.py, written by the one
codec and gzipped when the door accepts it: a page of 10 000 members is ~0.6 MB of JSON and
a tenth of that compressed, which matters on a 4G uplink.

A box's own token reads only what its role verifies with: doors and kiosks (which check
member codes with the door's verifier, edge/kiosk/runtime.py) read members and issuer keys,
only doors read bookings, and a sensor hub reads nothing here.
"""

from __future__ import annotations

import gzip
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from cloud.access import store as access_store
from cloud.api.auth_deps import ScopedVenue, require_device_roles, require_roles
from cloud.api.deps import NowDep, SessionDep
from cloud.api.errors import ApiError, ErrorResponse
from cloud.auth.principal import DOOR, KIOSK, Role
from protocol.access import MAX_DELTA_CHANGES, KeySet, MemberDelta
from protocol.codec import encode
from protocol.sync import MAX_BOOKING_CHANGES, MAX_SNAPSHOT_PAGE, BookingSet, MemberSnapshotPage

# Doors and kiosks (SERVICE tokens), and people who set doors up or debug them.
SYNC_ROLES = (Role.SERVICE, Role.ADMIN, Role.TECHNICIAN)
router = APIRouter(
    prefix="/sync",
    tags=["sync"],
    dependencies=[
        Depends(require_roles(*SYNC_ROLES)),
        Depends(require_device_roles(DOOR, KIOSK, doing="sync members and issuer keys")),
    ],
)
_DOORS_ONLY = [Depends(require_device_roles(DOOR, doing="sync a venue's bookings"))]

# Below this, gzip's header and the CPU cost outweigh the bytes saved.
_GZIP_MIN_BYTES: Final = 1024
# Level 5 compresses a member page nearly as well as 9 at a fraction of the CPU.
_GZIP_LEVEL: Final = 5
_GONE: Final[dict[int | str, dict[str, Any]]] = {
    410: {"model": ErrorResponse, "description": "Fetch the full set instead"}
}


def _json(request: Request, message: BaseModel) -> Response:
    body = encode(message)
    accepts = request.headers.get("accept-encoding", "")
    if len(body) < _GZIP_MIN_BYTES or "gzip" not in accepts.lower():
        return Response(body, media_type="application/json", headers={"Vary": "Accept-Encoding"})
    return Response(
        gzip.compress(body, compresslevel=_GZIP_LEVEL, mtime=0),
        media_type="application/json",
        headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
    )


def _snapshot_required(reason: str, *, fetch: str) -> ApiError:
    return ApiError(410, code="snapshot_required", message=f"{reason}; fetch {fetch} instead")


@router.get(
    "/members/snapshot",
    response_model=MemberSnapshotPage,
    responses={422: {"model": ErrorResponse}},
)
def member_snapshot(
    *,
    request: Request,
    session: SessionDep,
    now: NowDep,
    after: Annotated[
        str | None,
        Query(max_length=24, description="The previous page's next_after; omit for page one."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SNAPSHOT_PAGE)] = MAX_SNAPSHOT_PAGE,
) -> Response:
    """One page of all members (active and revoked) ordered by id.

    Keep the first page's ``version``; after the last page (``next_after`` null) pull
    ``/members/delta?from_version=<that version>``.
    """
    page = access_store.snapshot(session=session, after_member_id=after, limit=limit, now=now)
    return _json(request, page)


@router.get(
    "/members/delta",
    response_model=MemberDelta,
    responses={**_GONE, 422: {"model": ErrorResponse}},
)
def member_delta(
    *,
    request: Request,
    session: SessionDep,
    now: NowDep,
    from_version: Annotated[int, Query(ge=0, le=2**62)],
    limit: Annotated[int, Query(ge=1, le=MAX_DELTA_CHANGES)] = MAX_DELTA_CHANGES,
) -> Response:
    """Member changes after ``from_version``; fewer than ``limit`` means you are current."""
    result = access_store.delta(session=session, from_version=from_version, limit=limit, now=now)
    if isinstance(result, access_store.SnapshotRequired):
        raise _snapshot_required(result.reason, fetch="/api/v1/sync/members/snapshot")
    return _json(request, result)


@router.get("/keys", response_model=KeySet)
def issuer_keys(*, request: Request, session: SessionDep, now: NowDep) -> Response:
    """The issuer public keys doors should trust now (small: always the whole set)."""
    return _json(request, access_store.keyset(session=session, now=now))


@router.get(
    "/venues/{venue_id}/bookings",
    response_model=BookingSet,
    responses={**_GONE, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
    dependencies=_DOORS_ONLY,
)
def venue_bookings(
    *,
    request: Request,
    session: SessionDep,
    now: NowDep,
    venue: ScopedVenue,
    from_version: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_BOOKING_CHANGES)] = MAX_BOOKING_CHANGES,
) -> Response:
    """Bookings of the venue changed after ``from_version``; 0 gives the current ones."""
    result = access_store.bookings(
        session=session, venue_id=venue.id, from_version=from_version, limit=limit, now=now
    )
    if isinstance(result, access_store.SnapshotRequired):
        raise _snapshot_required(
            result.reason, fetch=f"/api/v1/sync/venues/{venue.id}/bookings?from_version=0"
        )
    return _json(request, result)
