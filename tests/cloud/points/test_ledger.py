"""The ledger: double entry, idempotency keys, the balance cache, append-only storage."""

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from cloud.points import ledger
from cloud.points.errors import AppendOnlyError, InvalidPostingError
from cloud.points.models import AccountBalance, LedgerEntry, Posting
from tests.cloud.points.conftest import NOW, grant

MEMBERS = ("m1", "m2", "m3")
ACCOUNTS = (ledger.POOL, ledger.EXPIRED, "goods:kiosk-1", *(f"member:{m}" for m in MEMBERS))


def test_a_posting_moves_points_and_caches_the_balance(session: Session) -> None:
    grant(session, "m1", 30)

    assert ledger.balance(session=session, account="member:m1") == 30
    assert ledger.balance(session=session, account=ledger.POOL) == -30
    assert ledger.recompute(session=session, account="member:m1") == 30
    assert ledger.balance(session=session, account="member:nobody") == 0


def test_the_same_key_twice_is_one_posting(session: Session) -> None:
    lines = [(ledger.POOL, -5), ("member:m1", 5)]
    first = ledger.post(session=session, key="k", kind="grant", lines=lines, at=NOW)
    again = ledger.post(session=session, key="k", kind="grant", lines=lines[::-1], at=NOW)

    assert again.id == first.id
    assert len(session.exec(select(Posting)).all()) == 1
    assert ledger.balance(session=session, account="member:m1") == 5


def test_the_same_key_for_other_lines_is_a_conflict(session: Session) -> None:
    ledger.post(
        session=session, key="k", kind="grant", lines=[(ledger.POOL, -5), ("member:m1", 5)], at=NOW
    )

    with pytest.raises(ledger.IdempotencyConflict):
        ledger.post(
            session=session,
            key="k",
            kind="grant",
            lines=[(ledger.POOL, -6), ("member:m1", 6)],
            at=NOW,
        )
    assert ledger.balance(session=session, account="member:m1") == 5


def test_a_member_never_goes_negative(session: Session) -> None:
    grant(session, "m1", 10)

    with pytest.raises(ledger.InsufficientPoints) as caught:
        ledger.post(
            session=session,
            key="spend",
            kind="spend",
            lines=[("member:m1", -11), ("goods:kiosk-1", 11)],
            at=NOW,
        )

    assert (caught.value.balance, caught.value.needed) == (10, 11)
    assert ledger.balance(session=session, account="member:m1") == 10
    assert session.exec(select(Posting).where(Posting.idempotency_key == "spend")).first() is None


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [("member:m1", 5)],
        [(ledger.POOL, -5), ("member:m1", 4)],
        [(ledger.POOL, 0), ("member:m1", 0)],
        [(ledger.POOL, -5), ("member:m1", 5), ("member:m1", 0)],
        [("bank:x", -5), ("member:m1", 5)],
        [("member:a/b", -5), ("member:m1", 5)],
    ],
)
def test_invalid_lines_are_refused(session: Session, lines: list[tuple[str, int]]) -> None:
    with pytest.raises(InvalidPostingError):
        ledger.post(session=session, key="bad", kind="grant", lines=lines, at=NOW)


def test_orm_updates_and_deletes_are_refused(session: Session) -> None:
    grant(session, "m1", 10)
    entry = session.exec(select(LedgerEntry)).first()
    assert entry is not None

    entry.amount = 1000
    session.add(entry)
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()
    posting = session.exec(select(Posting)).one()
    session.delete(posting)
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()
    with pytest.raises(AppendOnlyError):
        session.execute(delete(LedgerEntry))
    with pytest.raises(AppendOnlyError):
        session.execute(update(Posting).values(memo="forged"))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entry SET amount = 1000",
        "DELETE FROM ledger_entry",
        "UPDATE posting SET memo = 'forged'",
        "DELETE FROM posting",
    ],
)
def test_raw_sql_updates_and_deletes_are_refused_by_the_database(
    engine: Engine, statement: str
) -> None:
    with Session(engine) as session:
        grant(session, "m1", 10)

    with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text(statement))

    with Session(engine) as session:
        assert ledger.recompute(session=session, account="member:m1") == 10


_step = st.tuples(
    st.sampled_from(ACCOUNTS), st.sampled_from(ACCOUNTS), st.integers(1, 50), st.integers(0, 8)
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(_step, min_size=1, max_size=25))
def test_random_postings_keep_the_books_balanced(
    engine: Engine, steps: list[tuple[str, str, int, int]]
) -> None:
    with Session(engine) as session:
        # Each example starts on books of its own: fresh member names per run.
        run = len(session.exec(select(Posting)).all())
        for source, target, amount, key in steps:
            if source == target:
                continue
            lines = [(source, -amount), (target, amount)]
            with contextlib.suppress(ledger.InsufficientPoints, ledger.IdempotencyConflict):
                ledger.post(session=session, key=f"r{run}:{key}", kind="t", lines=lines, at=NOW)
        _assert_books_balance(session)


def _assert_books_balance(session: Session) -> None:
    sums: dict[int, int] = {}
    for entry in session.exec(select(LedgerEntry)):
        sums[entry.posting_id] = sums.get(entry.posting_id, 0) + entry.amount
    assert set(sums.values()) <= {0}
    for cached in session.exec(select(AccountBalance)):
        assert cached.balance == ledger.recompute(session=session, account=cached.account)
        if cached.account.startswith(("member:", "hold:")):
            assert cached.balance >= 0
