"""``/api/v1/venues``: the venues a caller may see; admins create, change and delete them,
and renew a venue's walk-in poster."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, func, select, update

from cloud.api.auth_deps import ScopedVenue, require_roles, venue_not_found
from cloud.api.deps import Offset, SessionDep
from cloud.api.errors import ApiError, ErrorResponse
from cloud.api.schemas import VenuesPublic
from cloud.auth.models import ApiTokenVenue, UserVenue
from cloud.auth.principal import Principal, Role
from cloud.devices.models import Device
from cloud.models import Venue, VenueCreate, VenuePublic, VenueUpdate

router = APIRouter(prefix="/venues", tags=["venues"])

# Who may read venue data at all; each then sees only the venues in their scope.
VENUE_READERS = (Role.ADMIN, Role.MANAGER, Role.TECHNICIAN, Role.SERVICE)
VenueReader = Annotated[Principal, Depends(require_roles(*VENUE_READERS))]
_admin = [Depends(require_roles(Role.ADMIN))]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}


def get_venue_or_404(session: Session, *, venue_id: str) -> Venue:
    """Any venue, unscoped: for callers that checked the principal's scope already."""
    venue = session.get(Venue, venue_id)
    if venue is None:
        raise venue_not_found(venue_id)
    return venue


@router.get("")
def list_venues(
    *,
    session: SessionDep,
    principal: VenueReader,
    limit: Annotated[int, Query(ge=1, le=1000, description="Venues per page.")] = 100,
    offset: Offset = 0,
) -> VenuesPublic:
    """The venues in the caller's scope; ``count`` is all of those, not only this page."""
    scope = principal.venue_filter()
    count_query = select(func.count()).select_from(Venue)
    query = select(Venue)
    if scope is not None:
        count_query = count_query.where(col(Venue.id).in_(scope))
        query = query.where(col(Venue.id).in_(scope))
    count = session.exec(count_query).one()
    venues = session.exec(query.order_by(col(Venue.id)).offset(offset).limit(limit))
    return VenuesPublic(data=[VenuePublic.model_validate(v) for v in venues], count=count)


@router.post("", status_code=201, dependencies=_admin, responses={409: {"model": ErrorResponse}})
def create_venue(*, session: SessionDep, venue_in: VenueCreate) -> VenuePublic:
    """A new venue, with its public profile if given (see ``PATCH /venues/{venue_id}``)."""
    if session.get(Venue, venue_in.id) is not None:
        raise ApiError(409, code="conflict", message=f"venue {venue_in.id!r} exists already")
    venue = Venue.model_validate(venue_in)
    session.add(venue)
    session.commit()
    session.refresh(venue)
    return VenuePublic.model_validate(venue)


@router.get(
    "/{venue_id}",
    dependencies=[Depends(require_roles(*VENUE_READERS))],
    responses=_NOT_FOUND,
)
def read_venue(*, venue: ScopedVenue) -> VenuePublic:
    return VenuePublic.model_validate(venue)


# What a venue's own manager may change in PATCH (the settings page's hours); the rest of
# the venue (names, district, location, update window) is the district admin's.
MANAGER_FIELDS = frozenset({"hours"})
VenueWriter = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.MANAGER))]


@router.patch("/{venue_id}", responses={**_NOT_FOUND, 403: {"model": ErrorResponse}})
def update_venue(
    *, session: SessionDep, principal: VenueWriter, venue: ScopedVenue, venue_in: VenueUpdate
) -> VenuePublic:
    """Change the fields given; the rest keep their values. Admins change any field; a
    venue's manager only ``hours`` (403 ``venue_field_admin_only`` names the others).

    The public profile (what the workers' phone app shows) is checked on its way in:
    ``amenities`` are words from a fixed list (water, microwave, fridge, charging, toilet,
    nursing_room, rest_area, wifi, first_aid, umbrella), each once; ``hours`` are door-policy
    lines (``"mon-fri 07:00-22:00"``, none: open 24 hours); ``address`` and ``description``
    are one line each (an empty one clears it); ``latitude`` and ``longitude`` come together.
    A refusal is a 422 naming the field and what to write instead.
    """
    others = sorted(venue_in.model_fields_set - MANAGER_FIELDS)
    if principal.role != Role.ADMIN and others:
        raise ApiError(
            403,
            code="venue_field_admin_only",
            message=f"a venue manager may change only {', '.join(sorted(MANAGER_FIELDS))}; "
            f"ask an admin to change {', '.join(others)}",
        )
    venue.sqlmodel_update(venue_in.model_dump(exclude_unset=True))
    session.add(venue)
    session.commit()
    session.refresh(venue)
    return VenuePublic.model_validate(venue)


@router.post("/{venue_id}/poster/renew", dependencies=_admin, responses=_NOT_FOUND)
def renew_poster(*, session: SessionDep, venue: ScopedVenue) -> VenuePublic:
    """Raise ``poster_edition`` by one: every walk-in poster printed before stops working
    (a phone scanning it is told the code is not valid), so print the new one from the
    dashboard (the venue page's walk-in poster). For a poster copied or stuck up elsewhere.
    """
    # In the database, not in Python: two renewals at once still make two editions.
    session.exec(
        update(Venue)
        .where(col(Venue.id) == venue.id)
        .values(poster_edition=col(Venue.poster_edition) + 1)
    )
    session.commit()
    session.refresh(venue)
    return VenuePublic.model_validate(venue)


@router.delete(
    "/{venue_id}",
    status_code=204,
    dependencies=_admin,
    responses={**_NOT_FOUND, 409: {"model": ErrorResponse}},
)
def delete_venue(*, session: SessionDep, venue: ScopedVenue) -> None:
    """Only a venue without devices or bookings: its history must not lose its venue."""
    in_use = ApiError(
        409,
        code="venue_in_use",
        message=f"venue {venue.id!r} has devices or bookings; move or remove them first",
    )
    if session.exec(select(Device.id).where(Device.venue_id == venue.id).limit(1)).first():
        raise in_use
    session.exec(delete(UserVenue).where(col(UserVenue.venue_id) == venue.id))
    session.exec(delete(ApiTokenVenue).where(col(ApiTokenVenue.venue_id) == venue.id))
    session.delete(venue)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise in_use from exc
