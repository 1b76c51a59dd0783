"""``/api/v1/kiosk/redemptions`` and ``/api/v1/members/{member_id}/balance|entries``.

Kiosks call the redemption routes over HTTPS with their own API token (or an integration's
SERVICE token) and retry every step with the same transaction id until they get an answer:
each step is idempotent (docs/protocol.md, "Points and redemption"). Insufficient points is
409 ``insufficient_points``, not 402: 402 is reserved by HTTP and the answer is a conflict
with the account's current state.

A box's own token acts only as that box (issue 15): only a kiosk's token redeems, only for
itself, and reads balances; no box's token reads a member's statement.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlmodel import Session

from cloud.api.auth_deps import device_forbidden, forbidden, require_roles
from cloud.api.deps import NowDep, Offset, SessionDep
from cloud.api.errors import ApiError, ErrorResponse, field_error
from cloud.auth.principal import KIOSK, Principal, Role
from cloud.devices.models import Device
from cloud.points import redemption, statement
from cloud.points.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidRedemptionError,
    InvalidTransitionError,
    ItemUnavailableError,
    LedgerError,
    RedemptionNotFoundError,
)
from cloud.points.statement import EntriesPublic
from protocol.kiosk import (
    MAX_NAME,
    NAME_PATTERN,
    BalancePublic,
    CancelIn,
    ErrorCode,
    RedemptionPublic,
    ReserveIn,
)

router = APIRouter(tags=["points"])

_Service = Annotated[Principal, Depends(require_roles(Role.SERVICE, Role.ADMIN))]
_Reader = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.SERVICE, Role.MEMBER))]


def _kiosk(principal: _Service) -> Principal:
    if not principal.acts_as(KIOSK):
        raise device_forbidden(principal, allowed=(KIOSK,), doing="redeem points")
    return principal


def _balance_reader(principal: _Reader) -> Principal:
    # A kiosk shows the balance of the member who scanned; no other box needs one.
    if not principal.acts_as(KIOSK):
        raise device_forbidden(principal, allowed=(KIOSK,), doing="read a member's balance")
    return principal


def _statement_reader(principal: _Reader) -> Principal:
    # A statement lists postings of every venue; no box shows one.
    if principal.is_device:
        raise device_forbidden(principal, allowed=(), doing="read a member's statement")
    return principal


Kiosk = Annotated[Principal, Depends(_kiosk)]
BalanceReader = Annotated[Principal, Depends(_balance_reader)]
StatementReader = Annotated[Principal, Depends(_statement_reader)]

TransactionId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_NAME,
        pattern=NAME_PATTERN,
        description="The transaction id the kiosk chose.",
    ),
]
MemberId = Annotated[str, Path(min_length=1, max_length=MAX_NAME, pattern=NAME_PATTERN)]
_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
}


# (status, code) of the ledger's errors that carry nothing but their message.
_PLAIN: tuple[tuple[type[LedgerError], int, str], ...] = (
    (IdempotencyConflict, 409, ErrorCode.IDEMPOTENCY_CONFLICT),
    (RedemptionNotFoundError, 404, ErrorCode.REDEMPTION_NOT_FOUND),
    (InvalidRedemptionError, 422, ErrorCode.INVALID_REQUEST),
)


def _ledger_error(exc: LedgerError) -> ApiError:
    """The one translation of the ledger's errors into HTTP answers."""
    if isinstance(exc, InsufficientPoints):
        detail = field_error("body.price", str(exc), balance=exc.balance, needed=exc.needed)
        poor = ErrorCode.INSUFFICIENT_POINTS
        return ApiError(409, code=poor, message=str(exc), details=[detail])
    if isinstance(exc, InvalidTransitionError):
        details = [field_error("state", "the redemption's current state", state=exc.state)]
        refused = ErrorCode.INVALID_TRANSITION
        return ApiError(409, code=refused, message=str(exc), details=details)
    if isinstance(exc, ItemUnavailableError):
        return ApiError(409, code=exc.code, message=str(exc))
    for kind, status, code in _PLAIN:
        if isinstance(exc, kind):
            return ApiError(status, code=code, message=str(exc))
    return ApiError(409, code=ErrorCode.LEDGER_REFUSED, message=str(exc))


def _own_kiosk(principal: Principal, kiosk_id: str) -> None:
    """A kiosk's own token redeems only as that kiosk (403 otherwise)."""
    if principal.device_id is None or principal.device_id == kiosk_id:
        return
    raise ApiError(
        403,
        code=ErrorCode.WRONG_KIOSK,
        message=f"this API token is kiosk {principal.device_id!r}'s and redeems only as that "
        f"kiosk, not as {kiosk_id[:32]!r}; send kiosk_id {principal.device_id!r}, or use the "
        "other kiosk's own token",
    )


def _check_kiosk(session: Session, principal: Principal, kiosk_id: str) -> None:
    """A venue-scoped token may act only for a registered kiosk of its venues (else 404)."""
    if principal.venue_filter() is None:
        return
    device = session.get(Device, kiosk_id)
    if device is None or not principal.sees_venue(device.venue_id):
        raise ApiError(
            404,
            code=ErrorCode.KIOSK_NOT_FOUND,
            message=f"there is no kiosk {kiosk_id!r} in your venues; check the device id",
        )


def _scoped(session: Session, principal: Principal, txn: str) -> redemption.RedemptionResult:
    try:
        found = redemption.get(session=session, transaction_id=txn)
    except LedgerError as exc:
        raise _ledger_error(exc) from exc
    if found.member_id == redemption.TOMBSTONE_MEMBER:
        return found  # a cancel that came first: no member, no kiosk, nothing to scope
    # Scope first: another venue's redemption is not found, as an unknown id, so the answer
    # names no kiosk of that venue; only within one's venues does the kiosk's own 403 apply.
    try:
        _check_kiosk(session, principal, found.kiosk_id)
    except ApiError:
        raise _ledger_error(RedemptionNotFoundError(f"there is no redemption {txn!r}")) from None
    _own_kiosk(principal, found.kiosk_id)
    return found


@router.post("/kiosk/redemptions", responses=_ERRORS)
def reserve(
    *, session: SessionDep, principal: Kiosk, now: NowDep, body: ReserveIn
) -> RedemptionPublic:
    """Hold the price of an item; the same transaction id again answers the same."""
    _own_kiosk(principal, body.kiosk_id)
    _check_kiosk(session, principal, body.kiosk_id)
    try:
        result = redemption.reserve(
            session=session,
            transaction_id=body.transaction_id,
            member_id=body.member_id,
            kiosk_id=body.kiosk_id,
            slot=body.slot,
            price=body.price,
            now=now,
            ttl=timedelta(seconds=body.ttl_s),
            dispensed=body.dispensed,
        )
    except LedgerError as exc:
        raise _ledger_error(exc) from exc
    return result


@router.post("/kiosk/redemptions/{txn}/commit", responses=_ERRORS)
def commit(
    *, session: SessionDep, principal: Kiosk, now: NowDep, txn: TransactionId
) -> RedemptionPublic:
    """The item was dispensed: settle it (also after expiry; see cloud.points.redemption)."""
    _scoped(session, principal, txn)
    try:
        result = redemption.commit(session=session, transaction_id=txn, now=now)
    except LedgerError as exc:
        raise _ledger_error(exc) from exc
    return result


@router.post("/kiosk/redemptions/{txn}/cancel", responses=_ERRORS)
def cancel(
    *,
    session: SessionDep,
    principal: Kiosk,
    now: NowDep,
    txn: TransactionId,
    body: CancelIn | None = None,
) -> RedemptionPublic:
    """Nothing was dispensed: give the points back.

    An unknown id is cancelled too (a tombstone): a reserve that arrives after its cancel
    is then refused instead of holding points for an item that never came out.
    """
    try:
        redemption.get(session=session, transaction_id=txn)
    except RedemptionNotFoundError:
        pass  # unknown: redemption.cancel leaves the tombstone
    else:
        _scoped(session, principal, txn)  # another venue's redemption is not found
    reason = "" if body is None else body.reason
    try:
        result = redemption.cancel(session=session, transaction_id=txn, now=now, reason=reason)
    except LedgerError as exc:
        raise _ledger_error(exc) from exc
    return result


@router.get("/kiosk/redemptions/{txn}", responses=_ERRORS)
def get_redemption(
    *, session: SessionDep, principal: Kiosk, txn: TransactionId
) -> RedemptionPublic:
    """Where a redemption stands: what a kiosk asks after a restart."""
    return _scoped(session, principal, txn)


def _own(principal: Principal, member_id: str) -> None:
    if principal.role == Role.MEMBER and principal.member_id != member_id:
        raise forbidden(principal)


@router.get("/members/{member_id}/balance")
def member_balance(
    *, session: SessionDep, principal: BalanceReader, member_id: MemberId
) -> BalancePublic:
    """An admin, a service (of boxes, a kiosk's own token), or the member themself."""
    _own(principal, member_id)
    return statement.member_balance(session=session, member_id=member_id)


@router.get("/members/{member_id}/entries")
def member_entries(
    *,
    session: SessionDep,
    principal: StatementReader,
    member_id: MemberId,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> EntriesPublic:
    """The member's statement, newest first (not for a box's own token)."""
    _own(principal, member_id)
    return statement.member_entries(
        session=session, member_id=member_id, limit=limit, offset=offset
    )
