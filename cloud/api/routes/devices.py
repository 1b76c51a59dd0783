"""``/api/v1/devices``: the boxes a caller may see, the boxes waiting to be claimed, claiming.

Commands, config and decommissioning of one device are in ``device_actions``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, func, select

from cloud.api.auth_deps import require_roles, scoped_device
from cloud.api.csv import FormatQuery, csv_response
from cloud.api.deps import NowDep, Offset, SessionDep, StateDep
from cloud.api.errors import ApiError, ErrorResponse
from cloud.api.routes.venues import VENUE_READERS, VenueReader
from cloud.auth.principal import Principal, Role
from cloud.devices.claims import ClaimRequest, claim_box
from cloud.devices.control import DeviceControl
from cloud.devices.errors import DeviceError
from cloud.devices.models import Device, PendingBox
from cloud.devices.views import (
    DeviceDetail,
    DevicesPublic,
    PendingBoxesPublic,
    device_detail,
    device_views,
    pending_list,
)
from protocol.ids import ID_PATTERN
from protocol.provisioning import ClaimCode, ClaimCodeError, SealedBundle

router = APIRouter(prefix="/devices", tags=["devices"])
_COLUMNS = (
    "id",
    "venue_id",
    "online",
    "last_seen_at",
    "state_at",
    "software",
    "role",
    "status",
    "serial",
)
# Who may claim a box: a manager for their own venues, technicians for theirs (or all).
CLAIMERS = (Role.ADMIN, Role.TECHNICIAN, Role.MANAGER)
Claimer = Annotated[Principal, Depends(require_roles(*CLAIMERS))]
_readers = [Depends(require_roles(*VENUE_READERS))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (404, 409, 410, 429, 503)
}


def api_error(exc: DeviceError) -> ApiError:
    """A refused device operation in the API's error shape."""
    headers = {}
    if exc.retry_at is not None:
        headers["Retry-After"] = exc.retry_at.strftime("%a, %d %b %Y %H:%M:%S GMT")
    details = [{"field": "settings", "message": d} for d in exc.details]
    return ApiError(
        exc.status, code=exc.code, message=exc.message, details=details, headers=headers
    )


class ClaimBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=120, description="The label's text or its QR code: YZC1-…")
    venue_id: str = Field(max_length=32)
    role: Literal["sensor-hub", "door", "kiosk"]
    device_id: str | None = Field(
        default=None,
        max_length=32,
        pattern=ID_PATTERN,
        description="Default: {venue}-{hub|door|kiosk}-{n}, the lowest free n.",
    )
    settings: dict[str, Any] | None = Field(
        default=None, description="The device's first desired config (version 1)."
    )


@router.get(
    "",
    response_model=DevicesPublic,
    dependencies=_readers,
    responses={200: {"content": {"text/csv": {}}}},
)
def list_devices(
    *,
    session: SessionDep,
    principal: VenueReader,
    venue_id: Annotated[str | None, Query(max_length=32)] = None,
    online: bool | None = None,
    status: Annotated[
        Literal["claimed", "active", "decommissioned"] | None,
        Query(description="Only devices in this lifecycle state."),
    ] = None,
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
    if status is not None:
        query = query.where(Device.status == status)
    count = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(Device.id)).offset(offset).limit(limit)).all()
    data = device_views(session=session, devices=rows)
    if output == "csv":
        return csv_response(data, columns=_COLUMNS, filename="devices.csv")
    return DevicesPublic(data=data, count=count)


@router.get("/pending", dependencies=[Depends(require_roles(Role.ADMIN, Role.TECHNICIAN))])
def list_pending_boxes(*, session: SessionDep, state: StateDep, now: NowDep) -> PendingBoxesPublic:
    """Unclaimed boxes that said hello within the claim window, the most recent first."""
    return pending_list(session=session, now=now, window=state.devices.policy.claim_window)


@router.post("/claim", status_code=201, responses=_ERRORS)
def claim_device(
    *, session: SessionDep, state: StateDep, principal: Claimer, now: NowDep, body: ClaimBody
) -> DeviceDetail:
    """Claim a box by its label: its device, broker account, API token and sealed bundle.

    Refusals change nothing (a wrong code only counts towards the lock): 422
    ``claim_code_invalid``, 404 ``venue_not_found`` / ``box_not_seen``, 403
    ``claim_code_wrong``, 429 ``claim_locked``, 410 ``claim_code_expired``, 409
    ``already_claimed`` / ``device_id_taken``, 422 ``config_invalid``, 503 ``broker_unavailable``.
    """
    try:
        code = ClaimCode.parse(body.code)
    except ClaimCodeError as exc:
        raise ApiError(422, code="claim_code_invalid", message=str(exc)) from None
    request = ClaimRequest(
        code=code,
        venue_id=body.venue_id,
        role=body.role,
        device_id=body.device_id,
        settings=body.settings,
    )
    devices = state.devices
    try:
        device = claim_box(
            session=session,
            admin=devices.admin,
            request=request,
            by=principal,
            now=now,
            policy=devices.policy,
        )
    except DeviceError as exc:
        raise api_error(exc) from None
    _deliver_now(session, devices.control, code.serial)
    return device_detail(session=session, device=device)


def _deliver_now(session: Session, control: DeviceControl | None, serial: str) -> None:
    """Hand the bundle to the box at once; it is also sent again at the box's next hello."""
    box = session.get(PendingBox, serial)
    if control is None or box is None or box.sealed_bundle is None:
        return
    control.deliver_bundle(serial, SealedBundle.model_validate_json(box.sealed_bundle))


@router.get("/{device_id}", dependencies=_readers, responses={404: {"model": ErrorResponse}})
def read_device(*, session: SessionDep, principal: VenueReader, device_id: str) -> DeviceDetail:
    """The device with its health, config versions and ten newest commands."""
    device = scoped_device(session=session, principal=principal, device_id=device_id)
    return device_detail(session=session, device=device)
