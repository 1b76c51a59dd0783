"""Kiosk redemption on the ledger: reserve → dispense → commit, or cancel; stale holds expire.

Every step is one database transaction and idempotent on the transaction id the kiosk
chose, so a kiosk retries any step until it gets an answer:

- ``reserve`` moves the price ``member:<m>`` → ``hold:<txn>`` and stores the redemption
  (state ``reserved``, ``expires_at = now + ttl``). The same id again with the same member,
  kiosk, slot and price returns the stored result; with anything different it is an
  IdempotencyConflict. Two kiosks reserving for one member race on the member's balance
  row (see cloud.points.ledger): exactly one of them gets the points.
- ``commit`` (after the dispense was confirmed) moves ``hold:<txn>`` → ``goods:<kiosk>``.
- ``cancel`` (the dispense failed) moves ``hold:<txn>`` → ``member:<m>``.
- ``expire_due`` (a scheduled job) does what cancel does for every reservation past its
  ``expires_at``: a kiosk that crashed or lost its uplink never keeps points locked.

State changes are conditional updates (``… WHERE state = 'reserved'``), and a redemption's
postings have fixed keys (``redeem:<txn>:reserve|commit|release``), so a commit racing a
cancel or the expiry job ends in exactly one of them, and the unique key index makes a
second commit or release posting impossible even if the state logic were wrong.

Late commits. The TTL bounds how long points stay held; it is not a deadline for the
kiosk. A commit that arrives while the redemption is still ``reserved`` (even past its
``expires_at``, before the job ran) is an ordinary commit. A commit that arrives after the
expiry job already gave the points back means the item left the machine but was not paid
for, so it must still be recorded — never silently lost, never charged twice:

- if the member's balance covers the price now, the member is debited again
  (``member`` → ``goods:<kiosk>``, settlement ``late_debit``);
- otherwise the union absorbs it (``expired:union`` → ``goods:<kiosk>``, settlement
  ``goods_loss``) and the redemption is flagged ``needs_review`` for the venue manager.

All or nothing: a partial debit would leave both the member and the manager a puzzle. Both
use the single commit key ``redeem:<txn>:commit``, so a redemption is paid at most once.
Committing a *cancelled* redemption is refused (the kiosk itself said nothing was
dispensed); cancelling an expired one answers with the expired state (the points are back
already); cancelling a committed one is refused.

Cancel before reserve. A kiosk that timed out on a reserve cancels the id, and that cancel
may overtake the reserve in the network. The cancel must win, or a delayed reserve would
hold (and a later commit spend) points for an item never dispensed: cancelling an unknown
id stores a *tombstone* (state ``cancelled``, no member, price 0), and a reserve that
arrives later with that id is refused as ``invalid_transition``.

The catalog. A new reservation must match the kiosk's menu (cloud.points.catalog): the slot
sells an active product at exactly ``price`` and has stock. A reservation for an item the
kiosk already dispensed offline (``dispensed``) skips the stock (the goods are gone; the
count may be wrong) and is paid at the price the member saw on the kiosk's cached menu,
but the slot must still sell an active product on that kiosk's menu and the price may not
exceed what it costs now: a token cannot name any slot and any price and call it dispensed.
One that does not match is refused with nothing spent; the kiosk then reports an overspend
for the venue manager (edge/kiosk/settle.py). A commit takes the item from the slot's stock
in the same transaction as its commit posting; if the counted stock says the slot is empty
(or has no such slot), the points are still taken and the redemption is flagged
``needs_review`` so a person recounts the slot.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import CursorResult, Engine, Table, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cloud.core.time import as_utc
from cloud.points import catalog, ledger
from cloud.points.errors import (
    IdempotencyConflict,
    InvalidRedemptionError,
    InvalidTransitionError,
    ItemUnavailableError,
    RedemptionNotFoundError,
)
from cloud.points.models import Redemption, RedemptionState, Settlement
from protocol.ids import ID_PATTERN
from protocol.kiosk import (
    DEFAULT_TTL_S,
    MAX_PRICE,
    MAX_SLOT_NAME,
    MAX_TTL_S,
    MIN_TTL_S,
    ErrorCode,
    RedemptionPublic,
    is_name,
)

_T = TypeVar("_T")

# The bounds a kiosk may ask for are part of the wire contract (protocol.kiosk says why).
DEFAULT_TTL = timedelta(seconds=DEFAULT_TTL_S)
MIN_TTL = timedelta(seconds=MIN_TTL_S)
MAX_TTL = timedelta(seconds=MAX_TTL_S)
# Reservations the expiry job releases per transaction batch; keeps one run's reads small.
EXPIRE_BATCH = 200
_KIOSK_RE = re.compile(ID_PATTERN)
# A tombstone (a cancel that came before its reserve) has no member: no reserve makes one.
TOMBSTONE_MEMBER = ""
# A redemption as the kiosk sees it, with the member's balance after it: what every step
# returns is exactly what the API answers, so the kiosk's model is the ledger's.
RedemptionResult = RedemptionPublic


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise InvalidRedemptionError("the time of a redemption step must be timezone-aware")
    return now.astimezone(UTC)


def _redemptions() -> Table:
    table: Table = Redemption.__table__  # type: ignore[attr-defined]  # SQLModel's table
    return table


def _result(session: Session, row: Redemption) -> RedemptionResult:
    account = ledger.member_account(row.member_id)
    return RedemptionResult(
        transaction_id=row.transaction_id,
        member_id=row.member_id,
        kiosk_id=row.kiosk_id,
        slot=row.slot,
        price=row.price,
        state=RedemptionState(row.state),
        reserved_at=as_utc(row.reserved_at),
        expires_at=as_utc(row.expires_at),
        settled_at=None if row.settled_at is None else as_utc(row.settled_at),
        settlement=None if row.settlement is None else Settlement(row.settlement),
        needs_review=row.needs_review,
        balance=ledger.balance(session=session, account=account),
    )


def _find(session: Session, transaction_id: str) -> Redemption | None:
    query = (
        select(Redemption)
        .where(Redemption.transaction_id == transaction_id)
        .execution_options(populate_existing=True)  # state may have changed under us
    )
    return session.exec(query).first()


def _get(session: Session, transaction_id: str) -> Redemption:
    row = _find(session, transaction_id)
    if row is None:
        raise RedemptionNotFoundError(
            f"there is no redemption {transaction_id[:64]!r}; reserve it first"
        )
    return row


def get(*, session: Session, transaction_id: str) -> RedemptionResult:
    """The redemption's current state, or RedemptionNotFoundError."""
    return _result(session, _get(session, transaction_id))


@dataclass(frozen=True, slots=True)
class _Outcome:
    state: RedemptionState
    now: datetime
    settlement: Settlement | None = None
    reason: str | None = None
    needs_review: bool = False


def _transition(
    session: Session, transaction_id: str, *, source: RedemptionState, outcome: _Outcome
) -> bool:
    """Move the redemption from ``source`` to the outcome; False if it was not in ``source``."""
    table = _redemptions()
    statement = (
        update(table)
        .where(table.c.transaction_id == transaction_id, table.c.state == source.value)
        .values(
            state=outcome.state.value,
            settled_at=outcome.now,
            settlement=None if outcome.settlement is None else outcome.settlement.value,
            reason=outcome.reason,
            needs_review=outcome.needs_review,
        )
    )
    result = session.connection().execute(statement)
    return isinstance(result, CursorResult) and result.rowcount == 1


def _in_one_transaction(session: Session, step: Callable[[], _T]) -> _T:
    try:
        value = step()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return value


def _check_reservation(
    transaction_id: str, member_id: str, kiosk_id: str, slot: str, price: int
) -> None:
    if not is_name(transaction_id):
        raise InvalidRedemptionError(
            "a transaction id is 1-64 letters, digits, dots, dashes or underscores"
        )
    if not is_name(member_id):
        raise InvalidRedemptionError(
            "a member id is 1-64 letters, digits, dots, dashes or underscores"
        )
    if not _KIOSK_RE.fullmatch(kiosk_id):
        raise InvalidRedemptionError("a kiosk id is 1-32 lowercase letters, digits or dashes")
    if not is_name(slot, max_length=MAX_SLOT_NAME):
        raise InvalidRedemptionError("a slot is 1-32 letters, digits, dots, dashes or underscores")
    if isinstance(price, bool) or not 1 <= price <= MAX_PRICE:
        raise InvalidRedemptionError(f"a price is 1-{MAX_PRICE} points")


def _same_reservation(existing: Redemption, wanted: Redemption) -> None:
    if existing.member_id == TOMBSTONE_MEMBER:
        raise InvalidTransitionError(
            f"transaction {existing.transaction_id!r} was cancelled before its reservation "
            "arrived; a new purchase needs a new transaction id",
            state=existing.state,
        )
    fields: Sequence[str] = ("member_id", "kiosk_id", "slot", "price")
    if any(getattr(existing, name) != getattr(wanted, name) for name in fields):
        raise IdempotencyConflict(
            f"transaction {existing.transaction_id!r} was reserved with a different member, "
            "kiosk, slot or price; a new purchase needs a new transaction id"
        )


def _menu_item(session: Session, wanted: Redemption, *, fix: str) -> catalog.MenuItem:
    try:
        item = catalog.menu_item(session=session, kiosk_id=wanted.kiosk_id, slot=wanted.slot)
    except catalog.SlotNotFoundError:
        item = None
    if item is None:
        raise ItemUnavailableError(
            f"kiosk {wanted.kiosk_id!r} sells nothing in slot {wanted.slot!r}; {fix}",
            code=ErrorCode.NOT_ON_MENU,
        )
    return item


def _check_dispensed(session: Session, wanted: Redemption) -> None:
    """An item dispensed offline: on this kiosk's menu, at no more than today's price."""
    fix = "nothing was charged; the venue manager should check the kiosk and its menu"
    item = _menu_item(session, wanted, fix=fix)
    if wanted.price > item.price:
        raise ItemUnavailableError(
            f"slot {wanted.slot!r} of kiosk {wanted.kiosk_id!r} costs {item.price} points now, "
            f"and an item dispensed offline is charged at most that, not {wanted.price}; {fix}",
            code=ErrorCode.PRICE_CHANGED,
        )


def _check_menu(session: Session, wanted: Redemption) -> None:
    """The slot sells an active product at exactly the price, and has stock (as counted)."""
    item = _menu_item(session, wanted, fix="refresh the menu")
    if item.price != wanted.price:
        raise ItemUnavailableError(
            f"slot {wanted.slot!r} costs {item.price} points now, not {wanted.price}; "
            "refresh the menu",
            code=ErrorCode.PRICE_CHANGED,
        )
    if not item.in_stock:
        raise ItemUnavailableError(
            f"kiosk {wanted.kiosk_id!r} slot {wanted.slot!r} is sold out; pick another item",
            code=ErrorCode.OUT_OF_STOCK,
        )


def _reserve_step(session: Session, wanted: Redemption, *, dispensed: bool) -> Redemption:
    existing = _find(session, wanted.transaction_id)
    if existing is not None:
        _same_reservation(existing, wanted)
        return existing
    if dispensed:
        _check_dispensed(session, wanted)
    else:
        _check_menu(session, wanted)
    session.add(wanted)
    session.flush()  # the first write: SQLite's write lock, and the unique transaction id
    ledger.post_within(
        session=session,
        key=f"redeem:{wanted.transaction_id}:reserve",
        kind="redeem_reserve",
        lines=[
            (ledger.member_account(wanted.member_id), -wanted.price),
            (ledger.hold_account(wanted.transaction_id), wanted.price),
        ],
        memo=f"{wanted.kiosk_id} slot {wanted.slot}",
        created_by=f"kiosk:{wanted.kiosk_id}",
        at=wanted.reserved_at,
    )
    return wanted


def reserve(
    *,
    session: Session,
    transaction_id: str,
    member_id: str,
    kiosk_id: str,
    slot: str,
    price: int,
    now: datetime,
    ttl: timedelta = DEFAULT_TTL,
    dispensed: bool = False,
) -> RedemptionResult:
    """Hold ``price`` of the member's points for ``transaction_id``; idempotent on the id.

    ``dispensed``: the kiosk already gave the item (offline): the stock is not checked and
    the price may be below today's (the kiosk's cached menu), never above it.
    Raises InsufficientPoints (nothing is stored: a retry after earning may succeed),
    ItemUnavailableError (the menu does not match), IdempotencyConflict,
    InvalidTransitionError (the id was cancelled first), InvalidRedemptionError.
    """
    _check_reservation(transaction_id, member_id, kiosk_id, slot, price)
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise InvalidRedemptionError(f"a TTL is {MIN_TTL} to {MAX_TTL}")
    now = _aware(now)
    wanted = Redemption(
        transaction_id=transaction_id,
        member_id=member_id,
        kiosk_id=kiosk_id,
        slot=slot,
        price=price,
        state=RedemptionState.RESERVED.value,
        reserved_at=now,
        expires_at=now + ttl,
    )
    try:
        row = _in_one_transaction(
            session, lambda: _reserve_step(session, wanted, dispensed=dispensed)
        )
    except IntegrityError:
        # The same id reserved by a concurrent retry that committed first.
        existing = _get(session, transaction_id)
        _same_reservation(existing, wanted)
        row = existing
    return _result(session, _get(session, row.transaction_id))


def _take_stock(session: Session, row: Redemption, at: datetime) -> None:
    """The item leaves the slot's counted stock with the commit; a miscount is flagged."""
    try:
        catalog.take_from_slot(
            session=session,
            kiosk_id=row.kiosk_id,
            slot=row.slot,
            transaction_id=row.transaction_id,
            at=at,
            by=f"kiosk:{row.kiosk_id}",
        )
    except catalog.CatalogError as exc:
        # The item did leave the machine: the points are taken all the same, and a person
        # recounts the slot. take_from_slot refuses before it changes anything.
        table = _redemptions()
        session.connection().execute(
            update(table)
            .where(table.c.transaction_id == row.transaction_id)
            .values(needs_review=True, reason=f"stock not taken: {exc}"[:200])
        )


def _post_commit(session: Session, row: Redemption, source: str, at: datetime) -> None:
    _take_stock(session, row, at)
    ledger.post_within(
        session=session,
        key=f"redeem:{row.transaction_id}:commit",
        kind="redeem_commit",
        lines=[(source, -row.price), (ledger.goods_account(row.kiosk_id), row.price)],
        memo=f"{row.kiosk_id} slot {row.slot}",
        created_by=f"kiosk:{row.kiosk_id}",
        at=at,
    )


def _late_commit(session: Session, row: Redemption, now: datetime) -> Redemption:
    member = ledger.member_account(row.member_id)
    # Locked before deciding, so the balance cannot change between the check and the debit.
    if ledger.lock_balance(session=session, account=member, at=now) >= row.price:
        outcome = _Outcome(RedemptionState.COMMITTED, now, Settlement.LATE_DEBIT)
        source = member
    else:
        outcome = _Outcome(
            RedemptionState.COMMITTED,
            now,
            Settlement.GOODS_LOSS,
            reason="dispensed after the reservation expired; the member could not pay",
            needs_review=True,
        )
        source = ledger.EXPIRED
    if _transition(session, row.transaction_id, source=RedemptionState.EXPIRED, outcome=outcome):
        _post_commit(session, row, source, now)
    return _get(session, row.transaction_id)


def _commit_step(session: Session, transaction_id: str, now: datetime) -> Redemption:
    outcome = _Outcome(RedemptionState.COMMITTED, now, Settlement.HOLD)
    if _transition(session, transaction_id, source=RedemptionState.RESERVED, outcome=outcome):
        row = _get(session, transaction_id)
        _post_commit(session, row, ledger.hold_account(transaction_id), now)
        return row
    row = _get(session, transaction_id)
    if row.state == RedemptionState.EXPIRED:
        return _late_commit(session, row, now)
    if row.state == RedemptionState.CANCELLED:
        raise InvalidTransitionError(
            f"transaction {transaction_id!r} was cancelled, so nothing may be dispensed for "
            "it; if the item did come out, report the kiosk to the venue manager",
            state=row.state,
        )
    return row  # committed already: the answer to a retried commit


def commit(*, session: Session, transaction_id: str, now: datetime) -> RedemptionResult:
    """Settle a dispensed redemption; idempotent. See the module docstring on late commits.

    Raises RedemptionNotFoundError, InvalidTransitionError (it was cancelled).
    """
    now = _aware(now)
    row = _in_one_transaction(session, lambda: _commit_step(session, transaction_id, now))
    return _result(session, row)


def _release(session: Session, transaction_id: str, outcome: _Outcome) -> bool:
    """Give a reserved redemption's points back; False if it was not reserved."""
    if not _transition(session, transaction_id, source=RedemptionState.RESERVED, outcome=outcome):
        return False
    row = _get(session, transaction_id)
    ledger.post_within(
        session=session,
        key=f"redeem:{transaction_id}:release",
        kind=f"redeem_{outcome.state.value}",
        lines=[
            (ledger.hold_account(transaction_id), -row.price),
            (ledger.member_account(row.member_id), row.price),
        ],
        memo=outcome.reason or "",
        created_by=f"kiosk:{row.kiosk_id}",
        at=outcome.now,
    )
    return True


def _tombstone(session: Session, transaction_id: str, outcome: _Outcome) -> Redemption:
    if not is_name(transaction_id):
        raise InvalidRedemptionError(
            "a transaction id is 1-64 letters, digits, dots, dashes or underscores"
        )
    row = Redemption(
        transaction_id=transaction_id,
        member_id=TOMBSTONE_MEMBER,
        kiosk_id="",
        slot="",
        price=0,
        state=RedemptionState.CANCELLED.value,
        reserved_at=outcome.now,
        expires_at=outcome.now,
        settled_at=outcome.now,
        reason=outcome.reason or "cancelled before it was reserved",
    )
    session.add(row)
    session.flush()  # the unique transaction id: a reserve that got in first wins here
    return row


def _cancel_step(session: Session, transaction_id: str, outcome: _Outcome) -> Redemption:
    _release(session, transaction_id, outcome)
    row = _find(session, transaction_id) or _tombstone(session, transaction_id, outcome)
    if row.state == RedemptionState.COMMITTED:
        raise InvalidTransitionError(
            f"transaction {transaction_id!r} is committed: the item was dispensed and paid "
            "for; a refund is a correction by a venue manager",
            state=row.state,
        )
    return row  # cancelled (now or before) or expired: the points are back either way


def cancel(
    *, session: Session, transaction_id: str, now: datetime, reason: str = ""
) -> RedemptionResult:
    """Give the held points back (nothing was dispensed); idempotent.

    An unknown id leaves a tombstone, so its reserve, should it still arrive, is refused.
    Raises InvalidTransitionError (it was committed), InvalidRedemptionError (a bad id).
    """
    outcome = _Outcome(RedemptionState.CANCELLED, _aware(now), reason=reason[:200] or None)
    step = functools.partial(_cancel_step, session, transaction_id, outcome)
    try:
        row = _in_one_transaction(session, step)
    except IntegrityError:
        # The reserve stored the id between our look-up and the tombstone: cancel that.
        row = _in_one_transaction(session, step)
    return _result(session, row)


def expire_due(*, session: Session, now: datetime) -> int:
    """Release every reservation past its TTL back to its member; returns how many."""
    now = _aware(now)
    outcome = _Outcome(
        RedemptionState.EXPIRED, now, reason="not committed or cancelled within the TTL"
    )
    released = 0
    while True:
        query = (
            select(Redemption.transaction_id)
            .where(Redemption.state == RedemptionState.RESERVED.value)
            .where(col(Redemption.expires_at) <= now)
            .order_by(col(Redemption.expires_at))
            .limit(EXPIRE_BATCH)
        )
        due = list(session.exec(query))
        for transaction_id in due:
            # One transaction each: a kiosk's commit racing the job loses only its own row.
            step = functools.partial(_release, session, transaction_id, outcome)
            released += _in_one_transaction(session, step)
        if len(due) < EXPIRE_BATCH:
            return released


def expire_job(engine: Engine, now: datetime) -> int:
    """The scheduler's entry point: :func:`expire_due` on a session of its own."""
    with Session(engine) as session:
        return expire_due(session=session, now=now)
