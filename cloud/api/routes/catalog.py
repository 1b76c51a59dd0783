"""Products, kiosk slots and stock, kiosk menus; earning: rules, grants, activity attendance.

Admins own the catalog, the earning rules and manual grants. Managers (their venues'
kiosks) and technicians set slots and restock; managers record attendance at their venues'
activities. Any staff member and a kiosk's service token read products and menus.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlmodel import Session

from cloud.api.auth_deps import require_roles, scoped_venue
from cloud.api.deps import NowDep, Offset, RowId, SessionDep
from cloud.api.errors import ApiError, ErrorResponse
from cloud.auth.principal import Principal, Role
from cloud.devices.models import Device
from cloud.points import catalog, earning
from cloud.points.catalog_models import (
    MAX_SLOT,
    MovementPublic,
    MovementsPublic,
    ProductCreate,
    ProductPublic,
    ProductsPublic,
    ProductUpdate,
    RestockCreate,
    SlotPublic,
    SlotPut,
    SlotsPublic,
)
from cloud.points.earning_models import (
    ACTIVITY_ID_PATTERN,
    AttendanceCreate,
    AttendancePublic,
    EarningRulesPublic,
    EarningRulesUpdate,
    GrantCreate,
    GrantPublic,
)
from cloud.points.errors import IdempotencyConflict, InsufficientPoints, InvalidPostingError
from protocol.kiosk import ErrorCode, MenuItemPublic, MenuPublic

router = APIRouter(tags=["catalog"])

Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
CatalogReader = Annotated[
    Principal, Depends(require_roles(Role.ADMIN, Role.MANAGER, Role.TECHNICIAN, Role.SERVICE))
]
SlotKeeper = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.MANAGER, Role.TECHNICIAN))]
AttendanceRecorder = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.MANAGER))]
KioskId = Annotated[str, Path(max_length=32, description="The kiosk's device id.")]
SlotNumber = Annotated[int, Path(ge=0, le=MAX_SLOT, description="The slot number.")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
}

# (status, code) per error the points package raises; the message is the exception's own.
_TRANSLATED: tuple[tuple[type[Exception], int, str], ...] = (
    (catalog.ProductNotFoundError, 404, "product_not_found"),
    (catalog.SlotNotFoundError, 404, "slot_not_found"),
    (earning.MemberNotFoundError, 404, "member_not_found"),
    (catalog.ProductInUseError, 409, "product_in_use"),
    (catalog.InvalidStockError, 422, "invalid_stock"),
    (InsufficientPoints, 409, ErrorCode.INSUFFICIENT_POINTS),
    (IdempotencyConflict, 409, ErrorCode.IDEMPOTENCY_CONFLICT),
    (InvalidPostingError, 422, "invalid_posting"),
)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for kind, status, code in _TRANSLATED:
            if isinstance(exc, kind):
                raise ApiError(status, code=code, message=str(exc)) from exc
        raise


def _kiosk(session: Session, principal: Principal, kiosk_id: str) -> Device:
    """The kiosk if the caller may see its venue; 404 alike otherwise (ids stay hidden)."""
    device = session.get(Device, kiosk_id)
    if device is None or not principal.sees_venue(device.venue_id):
        raise ApiError(
            404,
            code=ErrorCode.KIOSK_NOT_FOUND,
            message=f"there is no kiosk {kiosk_id[:32]!r} you can see; "
            "GET /api/v1/devices lists the devices",
        )
    return device


# --- products ---


@router.get("/products")
def list_products(
    *,
    session: SessionDep,
    _principal: CatalogReader,
    active: Annotated[bool | None, Query(description="Only (in)active products.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> ProductsPublic:
    rows, count = catalog.list_products(session=session, active=active, limit=limit, offset=offset)
    return ProductsPublic(data=[ProductPublic.model_validate(p) for p in rows], count=count)


@router.post("/products", status_code=201)
def create_product(
    *, session: SessionDep, principal: Admin, now: NowDep, product_in: ProductCreate
) -> ProductPublic:
    product = catalog.create_product(
        session=session, product_in=product_in, by=principal.subject, now=now
    )
    return ProductPublic.model_validate(product)


@router.get("/products/{product_id}", responses=_ERRORS)
def read_product(
    *, session: SessionDep, _principal: CatalogReader, product_id: RowId
) -> ProductPublic:
    with _translated():
        product = catalog.get_product(session=session, product_id=product_id)
    return ProductPublic.model_validate(product)


@router.patch("/products/{product_id}", responses=_ERRORS)
def update_product(
    *,
    session: SessionDep,
    principal: Admin,
    now: NowDep,
    product_id: RowId,
    update: ProductUpdate,
) -> ProductPublic:
    with _translated():
        product = catalog.get_product(session=session, product_id=product_id)
    product = catalog.update_product(
        session=session, product=product, update=update, by=principal.subject, now=now
    )
    return ProductPublic.model_validate(product)


@router.delete("/products/{product_id}", status_code=204, responses=_ERRORS)
def delete_product(*, session: SessionDep, _principal: Admin, product_id: RowId) -> Response:
    """Only a product no slot holds; set ``active`` false to stop offering one."""
    with _translated():
        product = catalog.get_product(session=session, product_id=product_id)
        catalog.delete_product(session=session, product=product)
    return Response(status_code=204)


# --- kiosk slots and stock ---


@router.get("/kiosks/{kiosk_id}/slots", responses=_ERRORS)
def list_slots(*, session: SessionDep, principal: SlotKeeper, kiosk_id: KioskId) -> SlotsPublic:
    kiosk = _kiosk(session, principal, kiosk_id)
    rows = catalog.list_slots(session=session, kiosk_id=kiosk.id)
    return SlotsPublic(data=[SlotPublic.model_validate(r) for r in rows], count=len(rows))


@router.put("/kiosks/{kiosk_id}/slots/{slot}", responses=_ERRORS)
def put_slot(
    *,
    session: SessionDep,
    principal: SlotKeeper,
    now: NowDep,
    kiosk_id: KioskId,
    slot: SlotNumber,
    slot_in: SlotPut,
) -> SlotPublic:
    """Set what a slot holds; a ``stock`` different from the current one is logged as a count."""
    kiosk = _kiosk(session, principal, kiosk_id)
    setting = catalog.SlotSetting(
        product_id=slot_in.product_id,
        capacity=slot_in.capacity,
        low_stock_threshold=slot_in.low_stock_threshold,
        stock=slot_in.stock,
    )
    with _translated():
        row = catalog.set_slot(
            session=session, kiosk=kiosk, slot=slot, setting=setting, by=principal.subject, now=now
        )
    return SlotPublic.model_validate(row)


@router.post("/kiosks/{kiosk_id}/slots/{slot}/restock", status_code=201, responses=_ERRORS)
def restock_slot(
    *,
    session: SessionDep,
    principal: SlotKeeper,
    now: NowDep,
    kiosk_id: KioskId,
    slot: SlotNumber,
    restock_in: RestockCreate,
) -> MovementPublic:
    """Record items put into a slot, with who did it; resolves its low-stock alert."""
    kiosk = _kiosk(session, principal, kiosk_id)
    with _translated():
        movement = catalog.restock(
            session=session,
            kiosk_id=kiosk.id,
            slot=slot,
            quantity=restock_in.quantity,
            by=principal.subject,
            now=now,
            note=restock_in.note,
        )
    return MovementPublic.model_validate(movement)


@router.get("/kiosks/{kiosk_id}/stock-movements", responses=_ERRORS)
def list_stock_movements(
    *,
    session: SessionDep,
    principal: SlotKeeper,
    kiosk_id: KioskId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> MovementsPublic:
    """The kiosk's stock log, newest first: restocks, counts, takes and returns."""
    kiosk = _kiosk(session, principal, kiosk_id)
    rows, count = catalog.movements(session=session, kiosk_id=kiosk.id, limit=limit, offset=offset)
    return MovementsPublic(data=[MovementPublic.model_validate(r) for r in rows], count=count)


@router.get("/kiosks/{kiosk_id}/menu", responses=_ERRORS)
def read_menu(*, session: SessionDep, principal: CatalogReader, kiosk_id: KioskId) -> MenuPublic:
    """What the kiosk shows: each slot with an active product, its names, price, stock."""
    kiosk = _kiosk(session, principal, kiosk_id)
    items = [
        MenuItemPublic.model_validate(item, from_attributes=True)
        for item in catalog.menu(session=session, kiosk_id=kiosk.id)
    ]
    return MenuPublic(kiosk_id=kiosk.id, venue_id=kiosk.venue_id, items=items)


# --- earning ---


@router.get("/points/earning-rules")
def read_earning_rules(*, session: SessionDep, _principal: Admin) -> EarningRulesPublic:
    return EarningRulesPublic.model_validate(earning.current_rules(session))


@router.put("/points/earning-rules")
def put_earning_rules(
    *, session: SessionDep, principal: Admin, now: NowDep, update: EarningRulesUpdate
) -> EarningRulesPublic:
    rules = earning.put_rules(session=session, update=update, by=principal.subject, now=now)
    return EarningRulesPublic.model_validate(rules)


@router.post("/points/grants", status_code=201, responses=_ERRORS)
def create_grant(
    *, session: SessionDep, principal: Admin, now: NowDep, grant_in: GrantCreate
) -> GrantPublic:
    """Give a member points (negative: take them back) with a reason; ``key`` makes it safe
    to retry."""
    with _translated():
        result = earning.grant(session=session, grant_in=grant_in, by=principal.subject, now=now)
    assert result.posting.id is not None  # a stored posting
    return GrantPublic(
        key=result.key,
        posting_id=result.posting.id,
        member_id=grant_in.member_id,
        points=grant_in.points,
        reason=result.posting.memo,
        granted_by=result.posting.created_by,
        at=result.posting.at,
        balance=result.balance,
    )


@router.post("/activities/{activity_id}/attendance", status_code=201, responses=_ERRORS)
def record_attendance(
    *,
    session: SessionDep,
    principal: AttendanceRecorder,
    now: NowDep,
    response: Response,
    activity_id: Annotated[str, Path(max_length=32, pattern=ACTIVITY_ID_PATTERN)],
    attendance_in: AttendanceCreate,
) -> AttendancePublic:
    """Record a member's attendance and pay the activity's points once; a repeat is 200."""
    scoped_venue(session=session, principal=principal, venue_id=attendance_in.venue_id)
    with _translated():
        result = earning.record_attendance(
            session=session,
            activity_id=activity_id,
            attendance=attendance_in,
            by=principal.subject,
            now=now,
        )
    if not result.created:
        response.status_code = 200
    return AttendancePublic.model_validate(result.record)
