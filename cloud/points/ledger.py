"""The authoritative points ledger: append-only, double-entry postings with idempotency keys.

Accounts are strings:

- ``member:{member_id}`` — a member's points; never below zero.
- ``pool:union`` — the union's pool; points are issued from it (it goes negative by the
  amount outstanding) and come back to it when they are spent or expire.
- ``hold:{transaction_id}`` — points reserved by one kiosk redemption; never below zero.
- ``goods:{kiosk_id}`` — what a kiosk's dispensed goods were paid with.
- ``expired:union`` — the union's write-offs: goods a kiosk dispensed that no points paid
  for (see cloud.points.redemption), and expired points.

The balance of an account is the sum of its entries. ``account_balance`` caches it and is
written in the same transaction as the entries, under a row lock, so it is always equal
to :func:`recompute`. Concurrency: :func:`post` first writes the balance rows of every
account it touches (which on SQLite takes the database's single write lock) and then reads
them ``FOR UPDATE`` in account order (which on PostgreSQL makes a second posting on the
same account wait for the first to commit, with no deadlock); the final balance update is
also conditional (``WHERE balance + amount >= 0``), so two postings can never spend the
same points even under a weaker isolation than assumed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CursorResult, Insert, Table, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cloud.points.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidPostingError,
    LedgerError,
)
from cloud.points.models import ACCOUNT_MAX, KEY_MAX, AccountBalance, LedgerEntry, Posting

__all__ = [
    "EXPIRED",
    "POOL",
    "IdempotencyConflict",
    "InsufficientPoints",
    "InvalidPostingError",
    "LedgerError",
    "Line",
    "balance",
    "goods_account",
    "hold_account",
    "lock_balance",
    "member_account",
    "post",
    "post_within",
    "posting_lines",
    "recompute",
    "statement",
]

POOL = "pool:union"
EXPIRED = "expired:union"
# Accounts whose owner can only spend what is there.
_FLOORED_PREFIXES = ("member:", "hold:")
_ACCOUNT_RE = re.compile(
    r"^(?:(?:member|hold|goods):[A-Za-z0-9][A-Za-z0-9._-]*|pool:union|expired:union)$"
)
# Far above any real price or award; keeps a typo (or an attack) from minting absurd amounts.
MAX_AMOUNT = 10_000_000

Line = tuple[str, int]


def member_account(member_id: str) -> str:
    return f"member:{member_id}"


def hold_account(transaction_id: str) -> str:
    return f"hold:{transaction_id}"


def goods_account(kiosk_id: str) -> str:
    return f"goods:{kiosk_id}"


def _check_account(account: str) -> str:
    if len(account) > ACCOUNT_MAX or not _ACCOUNT_RE.fullmatch(account):
        raise InvalidPostingError(
            f"account {account[:ACCOUNT_MAX]!r} is not valid: use member:<id>, hold:<txn>, "
            "goods:<kiosk>, pool:union or expired:union"
        )
    return account


def _check_lines(lines: Sequence[Line]) -> tuple[Line, ...]:
    """The lines in account order, or InvalidPostingError saying what is wrong with them."""
    if len(lines) < 2:
        raise InvalidPostingError("a posting needs at least two lines (a debit and a credit)")
    accounts = [_check_account(account) for account, _ in lines]
    if len(set(accounts)) != len(accounts):
        raise InvalidPostingError("each account may appear once in a posting; merge the lines")
    for account, amount in lines:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
            raise InvalidPostingError(f"the amount for {account} must be a non-zero integer")
        if abs(amount) > MAX_AMOUNT:
            raise InvalidPostingError(f"the amount for {account} is beyond {MAX_AMOUNT} points")
    total = sum(amount for _, amount in lines)
    if total != 0:
        raise InvalidPostingError(f"the lines of a posting must sum to 0, these sum to {total}")
    return tuple(sorted(lines))


def _balances() -> Table:
    table: Table = AccountBalance.__table__  # type: ignore[attr-defined]  # SQLModel's table
    return table


def _is_floored(account: str) -> bool:
    return account.startswith(_FLOORED_PREFIXES)


def _insert_missing_balances(session: Session, accounts: Sequence[str], at: datetime) -> None:
    rows = [{"account": account, "balance": 0, "updated_at": at} for account in accounts]
    table = _balances()
    statement: Insert
    if session.get_bind().dialect.name == "postgresql":
        statement = postgresql.insert(table).values(rows).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(table).values(rows).on_conflict_do_nothing()
    session.connection().execute(statement)


def _lock_balances(session: Session, accounts: Sequence[str]) -> dict[str, int]:
    query = (
        select(AccountBalance.account, AccountBalance.balance)
        .where(col(AccountBalance.account).in_(accounts))
        .order_by(col(AccountBalance.account))
        .with_for_update()  # rendered on PostgreSQL; SQLite already holds its write lock
    )
    rows = session.connection().execute(query).all()
    return {str(row[0]): int(row[1]) for row in rows}


def _apply(session: Session, account: str, amount: int, at: datetime) -> None:
    table = _balances()
    statement = (
        update(table)
        .where(table.c.account == account)
        .values(balance=table.c.balance + amount, updated_at=at)
    )
    if _is_floored(account):
        statement = statement.where(table.c.balance + amount >= 0)
    result = session.connection().execute(statement)
    if not isinstance(result, CursorResult) or result.rowcount != 1:
        raise InsufficientPoints(
            account, balance=balance(session=session, account=account), needed=-amount
        )


def posting_lines(*, session: Session, posting_id: int) -> tuple[Line, ...]:
    """The lines of a stored posting, in account order."""
    query = select(LedgerEntry.account, LedgerEntry.amount).where(
        LedgerEntry.posting_id == posting_id
    )
    return tuple(sorted((account, amount) for account, amount in session.exec(query)))


def _find(session: Session, key: str) -> Posting | None:
    return session.exec(select(Posting).where(Posting.idempotency_key == key)).first()


def _same_or_conflict(
    session: Session, existing: Posting, kind: str, lines: tuple[Line, ...]
) -> Posting:
    assert existing.id is not None  # a stored posting
    if existing.kind != kind or posting_lines(session=session, posting_id=existing.id) != lines:
        raise IdempotencyConflict(
            f"idempotency key {existing.idempotency_key!r} was used for a different posting; "
            "use a new key for a new transfer"
        )
    return existing


@dataclass(frozen=True, slots=True)
class _Request:
    key: str
    kind: str
    lines: tuple[Line, ...]
    memo: str
    created_by: str
    at: datetime


def _request(  # noqa: PLR0917  (private; mirrors post's keywords one to one)
    key: str, kind: str, lines: Sequence[Line], memo: str, created_by: str, at: datetime
) -> _Request:
    if not key or len(key) > KEY_MAX:
        raise InvalidPostingError(f"an idempotency key must be 1-{KEY_MAX} characters")
    if not kind or len(kind) > 40:
        raise InvalidPostingError("a posting kind must be 1-40 characters")
    if at.tzinfo is None:
        raise InvalidPostingError("a posting time must be timezone-aware (UTC)")
    return _Request(key, kind, _check_lines(lines), memo[:200], created_by[:120], at)


def lock_balance(*, session: Session, account: str, at: datetime) -> int:
    """The account's cached balance, its row locked until the session's transaction ends."""
    _insert_missing_balances(session, [_check_account(account)], at)
    return _lock_balances(session, [account])[account]


def post_within(
    *,
    session: Session,
    key: str,
    kind: str,
    lines: Sequence[tuple[str, int]],
    memo: str = "",
    created_by: str = "system",
    at: datetime,
) -> Posting:
    """:func:`post` inside the session's open transaction, without committing or rolling back.

    For callers that change other rows atomically with the posting (redemptions); the
    caller commits, or rolls back on any error.
    """
    return _write(session, _request(key, kind, lines, memo, created_by, at))


def _write(session: Session, request: _Request) -> Posting:
    accounts = [account for account, _ in request.lines]
    _insert_missing_balances(session, accounts, request.at)
    balances = _lock_balances(session, accounts)
    existing = _find(session, request.key)
    if existing is not None:
        return _same_or_conflict(session, existing, request.kind, request.lines)
    for account, amount in request.lines:
        if _is_floored(account) and balances[account] + amount < 0:
            raise InsufficientPoints(account, balance=balances[account], needed=-amount)
    posting = Posting(
        idempotency_key=request.key,
        kind=request.kind,
        memo=request.memo,
        at=request.at,
        created_by=request.created_by,
    )
    session.add(posting)
    session.flush()
    assert posting.id is not None  # flushed
    session.add_all(
        LedgerEntry(posting_id=posting.id, account=account, amount=amount)
        for account, amount in request.lines
    )
    session.flush()
    for account, amount in request.lines:
        _apply(session, account, amount, request.at)
    return posting


def post(
    *,
    session: Session,
    key: str,
    kind: str,
    lines: Sequence[tuple[str, int]],
    memo: str = "",
    created_by: str = "system",
    at: datetime,
) -> Posting:
    """Move points between accounts in one transaction, exactly once per ``key``.

    ``lines`` are (account, amount) pairs summing to 0: positive credits, negative debits.
    The same ``key`` again returns the first posting (IdempotencyConflict if its kind or
    lines differ). Commits ``session`` (anything else pending in it commits atomically with
    the posting) and rolls it back on any error. Raises InsufficientPoints when a member or
    hold account would go below zero, InvalidPostingError for lines that do not balance.
    """
    request = _request(key, kind, lines, memo, created_by, at)
    try:
        posting = _write(session, request)
        session.commit()
    except IntegrityError:
        # Another transaction stored the same key between our look-up and our insert
        # (PostgreSQL: it committed while we waited on the unique index).
        session.rollback()
        existing = _find(session, request.key)
        if existing is None:
            raise
        return _same_or_conflict(session, existing, request.kind, request.lines)
    except BaseException:
        session.rollback()
        raise
    return posting


def balance(*, session: Session, account: str) -> int:
    """The account's balance from the cache (0 for an account never posted to)."""
    query = select(AccountBalance.balance).where(AccountBalance.account == account)
    return session.exec(query).first() or 0


def recompute(*, session: Session, account: str) -> int:
    """The account's balance summed from its entries: the truth the cache must equal."""
    query = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.account == account
    )
    return int(session.exec(query).one())


def statement(
    *, session: Session, account: str, offset: int = 0, limit: int = 50
) -> list[tuple[Posting, int]]:
    """The account's postings, newest first, with the amount each moved on the account."""
    query = (
        select(Posting, LedgerEntry.amount)
        .join(LedgerEntry, col(LedgerEntry.posting_id) == col(Posting.id))
        .where(LedgerEntry.account == account)
        .order_by(col(Posting.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return [(posting, amount) for posting, amount in session.exec(query)]
