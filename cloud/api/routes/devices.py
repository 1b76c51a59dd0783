"""``/api/v1/devices``: the edge boxes a caller may see, with their state."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlmodel import Session, SQLModel, col, func, select

from cloud.api.csv import FormatQuery, csv_response
from cloud.api.deps import Offset, SessionDep
from cloud.api.errors import ApiError, ErrorResponse
from cloud.api.routes.venues import VENUE_READERS, VenueReader
from cloud.api.schemas import UtcDatetime
from cloud.auth.deps import require_roles
from cloud.auth.principal import Principal
from cloud.models import Device

router = APIRouter(
    prefix="/devices",
    tags=["devices"],
    dependencies=[Depends(require_roles(*VENUE_READERS))],
)
_COLUMNS = ("id", "venue_id", "online", "last_seen_at", "state_at", "software")


class DevicePublic(SQLModel):
    id: str
    venue_id: str
    online: bool
    software: str | None
    last_seen_at: UtcDatetime | None
    state_at: UtcDatetime | None


class DevicesPublic(SQLModel):
    data: list[DevicePublic]
    count: int


def scoped_device(*, session: Session, principal: Principal, device_id: str) -> Device:
    """The device if its venue is in ``principal``'s scope; 404 alike otherwise."""
    device = session.get(Device, device_id)
    if device is None or not principal.sees_venue(device.venue_id):
        raise ApiError(
            404,
            code="device_not_found",
            message=f"there is no device {device_id[:40]!r}; GET /api/v1/devices lists them",
        )
    return device


@router.get("", response_model=DevicesPublic, responses={200: {"content": {"text/csv": {}}}})
def list_devices(
    *,
    session: SessionDep,
    principal: VenueReader,
    venue_id: Annotated[str | None, Query(max_length=32)] = None,
    online: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
    output: FormatQuery = "json",
) -> DevicesPublic | Response:
    """Devices ordered by id, in the caller's venues; ``?format=csv`` for a spreadsheet."""
    query = select(Device)
    scope = principal.venue_filter()
    if scope is not None:
        query = query.where(col(Device.venue_id).in_(scope))
    if venue_id is not None:
        query = query.where(Device.venue_id == venue_id)
    if online is not None:
        query = query.where(Device.online == online)
    count = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(Device.id)).offset(offset).limit(limit))
    data = [DevicePublic.model_validate(d) for d in rows]
    if output == "csv":
        return csv_response(data, columns=_COLUMNS, filename="devices.csv")
    return DevicesPublic(data=data, count=count)


@router.get("/{device_id}", responses={404: {"model": ErrorResponse}})
def read_device(*, session: SessionDep, principal: VenueReader, device_id: str) -> DevicePublic:
    device = scoped_device(session=session, principal=principal, device_id=device_id)
    return DevicePublic.model_validate(device)
