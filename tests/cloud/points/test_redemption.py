"""Redemption: reserve → commit or cancel, expiry, late commits, and two kiosks racing."""

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.points import catalog, ledger, redemption
from cloud.points.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidRedemptionError,
    InvalidTransitionError,
    ItemUnavailableError,
    LedgerError,
    RedemptionNotFoundError,
)
from cloud.points.models import RedemptionState, Settlement
from tests.cloud.points.conftest import NOW, SLOT, grant, sell

TTL = timedelta(minutes=2)


def reserve(
    session: Session,
    txn: str = "t1",
    *,
    member: str = "m1",
    price: int = 10,
    kiosk: str = "kiosk-1",
    dispensed: bool = False,
) -> redemption.RedemptionResult:
    return redemption.reserve(
        session=session,
        transaction_id=txn,
        member_id=member,
        kiosk_id=kiosk,
        slot=SLOT,
        price=price,
        now=NOW,
        ttl=TTL,
        dispensed=dispensed,
    )


def balances(session: Session, *accounts: str) -> list[int]:
    for account in accounts:
        assert ledger.balance(session=session, account=account) == ledger.recompute(
            session=session, account=account
        )
    return [ledger.balance(session=session, account=a) for a in accounts]


def test_reserve_holds_the_price_and_commit_pays_the_kiosk(session: Session) -> None:
    grant(session, "m1", 25)

    held = reserve(session)
    assert (held.state, held.balance, held.expires_at) == (RedemptionState.RESERVED, 15, NOW + TTL)
    assert balances(session, "member:m1", "hold:t1") == [15, 10]

    done = redemption.commit(session=session, transaction_id="t1", now=NOW)
    assert (done.state, done.settlement, done.balance) == (
        RedemptionState.COMMITTED,
        Settlement.HOLD,
        15,
    )
    assert balances(session, "member:m1", "hold:t1", "goods:kiosk-1") == [15, 0, 10]


def test_every_step_is_idempotent(session: Session) -> None:
    grant(session, "m1", 25)

    assert reserve(session) == reserve(session)
    first = redemption.commit(session=session, transaction_id="t1", now=NOW)
    again = redemption.commit(session=session, transaction_id="t1", now=NOW + timedelta(seconds=5))

    assert again == first
    assert reserve(session).state == RedemptionState.COMMITTED
    assert balances(session, "member:m1", "goods:kiosk-1") == [15, 10]


def test_cancel_gives_the_points_back_once(session: Session) -> None:
    grant(session, "m1", 25)
    reserve(session)

    first = redemption.cancel(session=session, transaction_id="t1", now=NOW, reason="jammed")
    again = redemption.cancel(session=session, transaction_id="t1", now=NOW)

    assert first == again
    assert first.state == RedemptionState.CANCELLED
    assert balances(session, "member:m1", "hold:t1") == [25, 0]


def test_same_id_with_other_parameters_is_a_conflict(session: Session) -> None:
    grant(session, "m1", 25)
    reserve(session)

    with pytest.raises(IdempotencyConflict):
        reserve(session, price=11)
    with pytest.raises(IdempotencyConflict):
        reserve(session, kiosk="kiosk-2")
    assert balances(session, "member:m1") == [15]


def test_refused_transitions(session: Session) -> None:
    grant(session, "m1", 25)
    reserve(session, "paid")
    redemption.commit(session=session, transaction_id="paid", now=NOW)
    reserve(session, "void")
    redemption.cancel(session=session, transaction_id="void", now=NOW)

    with pytest.raises(InvalidTransitionError):
        redemption.cancel(session=session, transaction_id="paid", now=NOW)
    with pytest.raises(InvalidTransitionError):
        redemption.commit(session=session, transaction_id="void", now=NOW)
    with pytest.raises(RedemptionNotFoundError):
        redemption.commit(session=session, transaction_id="nope", now=NOW)
    assert balances(session, "member:m1", "goods:kiosk-1") == [15, 10]


def test_insufficient_points_store_nothing(session: Session) -> None:
    grant(session, "m1", 5)

    with pytest.raises(InsufficientPoints):
        reserve(session)
    with pytest.raises(RedemptionNotFoundError):
        redemption.get(session=session, transaction_id="t1")
    grant(session, "m1", 5, key="top-up")
    assert reserve(session).state == RedemptionState.RESERVED  # the same id, now affordable


@pytest.mark.parametrize(
    ("field", "value"),
    [("transaction_id", "a b"), ("kiosk_id", "Kiosk_1"), ("price", 0), ("slot", "")],
)
def test_invalid_reservations_are_refused(session: Session, field: str, value: object) -> None:
    args: dict[str, object] = {
        "transaction_id": "t1",
        "member_id": "m1",
        "kiosk_id": "k1",
        "slot": SLOT,
        "price": 1,
    }
    args[field] = value
    with pytest.raises(InvalidRedemptionError):
        redemption.reserve(session=session, now=NOW, **args)  # type: ignore[arg-type]


def test_expiry_releases_only_what_is_due(session: Session) -> None:
    grant(session, "m1", 30)
    reserve(session, "old")
    redemption.reserve(
        session=session,
        transaction_id="new",
        member_id="m1",
        kiosk_id="kiosk-1",
        slot=SLOT,
        price=10,
        now=NOW + timedelta(minutes=1),
        ttl=TTL,
    )

    assert redemption.expire_due(session=session, now=NOW + TTL - timedelta(seconds=1)) == 0
    assert redemption.expire_due(session=session, now=NOW + TTL) == 1
    assert redemption.expire_due(session=session, now=NOW + TTL) == 0

    assert redemption.get(session=session, transaction_id="old").state == RedemptionState.EXPIRED
    assert redemption.get(session=session, transaction_id="new").state == RedemptionState.RESERVED
    assert balances(session, "member:m1", "hold:old", "hold:new") == [20, 0, 10]
    cancelled = redemption.cancel(session=session, transaction_id="old", now=NOW + TTL)
    assert cancelled.state == RedemptionState.EXPIRED  # the points are back already
    assert balances(session, "member:m1") == [20]


def test_expire_job_runs_on_an_engine(engine: Engine) -> None:
    with Session(engine) as session:
        grant(session, "m1", 10)
        reserve(session)

    assert redemption.expire_job(engine, NOW + TTL) == 1


def test_commit_after_ttl_before_the_job_is_ordinary(session: Session) -> None:
    grant(session, "m1", 10)
    reserve(session)

    done = redemption.commit(session=session, transaction_id="t1", now=NOW + TTL * 3)

    assert done.settlement == Settlement.HOLD
    assert redemption.expire_due(session=session, now=NOW + TTL * 3) == 0
    assert balances(session, "member:m1", "goods:kiosk-1") == [0, 10]


def test_late_commit_re_debits_a_member_who_can_pay(session: Session) -> None:
    grant(session, "m1", 10)
    reserve(session)
    redemption.expire_due(session=session, now=NOW + TTL)

    done = redemption.commit(session=session, transaction_id="t1", now=NOW + TTL * 2)
    again = redemption.commit(session=session, transaction_id="t1", now=NOW + TTL * 3)

    assert (done.state, done.settlement, done.needs_review) == (
        RedemptionState.COMMITTED,
        Settlement.LATE_DEBIT,
        False,
    )
    assert again == done
    assert balances(session, "member:m1", "goods:kiosk-1", ledger.EXPIRED) == [0, 10, 0]


def test_late_commit_without_points_is_a_flagged_goods_loss(session: Session) -> None:
    grant(session, "m1", 10)
    reserve(session)
    redemption.expire_due(session=session, now=NOW + TTL)
    # The member spends the released points elsewhere before the late commit arrives.
    reserve(session, "t2", kiosk="kiosk-2")
    redemption.commit(session=session, transaction_id="t2", now=NOW + TTL)

    done = redemption.commit(session=session, transaction_id="t1", now=NOW + TTL * 2)
    redemption.commit(session=session, transaction_id="t1", now=NOW + TTL * 2)

    assert (done.settlement, done.needs_review) == (Settlement.GOODS_LOSS, True)
    assert balances(session, "member:m1", "goods:kiosk-1", ledger.EXPIRED) == [0, 10, -10]


def _race(engine: Engine, attempts: list[Callable[[Session], object]]) -> list[object]:
    """Run each attempt on its own thread and connection, released together by a barrier."""
    barrier = threading.Barrier(len(attempts))
    outcomes: list[object] = [None] * len(attempts)

    def run(index: int) -> None:
        with Session(engine) as session:
            session.connection()  # check out a connection before the start line
            barrier.wait(timeout=30)
            try:
                outcomes[index] = attempts[index](session)
            except LedgerError as exc:
                outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@pytest.mark.parametrize("round_", range(3))
def test_two_kiosks_racing_for_one_member_exactly_one_wins(engine: Engine, round_: int) -> None:
    with Session(engine) as session:
        grant(session, "m1", 10)

    outcomes = _race(
        engine,
        [
            lambda s: reserve(s, f"a{round_}", kiosk="kiosk-1"),
            lambda s: reserve(s, f"b{round_}", kiosk="kiosk-2"),
        ],
    )

    won = [o for o in outcomes if isinstance(o, redemption.RedemptionResult)]
    lost = [o for o in outcomes if isinstance(o, InsufficientPoints)]
    assert (len(won), len(lost)) == (1, 1), outcomes
    with Session(engine) as session:
        assert balances(session, "member:m1", f"hold:a{round_}", f"hold:b{round_}").count(10) == 1
        assert balances(session, "member:m1") == [0]


def test_a_retry_racing_itself_reserves_once(engine: Engine) -> None:
    with Session(engine) as session:
        grant(session, "m1", 10)

    outcomes = _race(engine, [reserve, reserve])

    assert outcomes[0] == outcomes[1]
    with Session(engine) as session:
        assert balances(session, "member:m1", "hold:t1") == [0, 10]


def test_commit_racing_cancel_settles_once(engine: Engine) -> None:
    with Session(engine) as session:
        grant(session, "m1", 10)
        reserve(session)

    outcomes = _race(
        engine,
        [
            lambda s: redemption.commit(session=s, transaction_id="t1", now=NOW),
            lambda s: redemption.cancel(session=s, transaction_id="t1", now=NOW),
        ],
    )

    assert sum(isinstance(o, InvalidTransitionError) for o in outcomes) == 1, outcomes
    with Session(engine) as session:
        member, hold, goods = balances(session, "member:m1", "hold:t1", "goods:kiosk-1")
        assert (hold, member + goods) == (0, 10)


def test_a_cancel_before_its_reserve_wins(session: Session) -> None:
    grant(session, "m1", 10)

    first = redemption.cancel(session=session, transaction_id="t1", now=NOW, reason="timeout")
    again = redemption.cancel(session=session, transaction_id="t1", now=NOW)

    assert first == again
    assert (first.state, first.price, first.member_id) == (RedemptionState.CANCELLED, 0, "")
    with pytest.raises(InvalidTransitionError):
        reserve(session)  # the reserve delayed in the network arrives after its cancel
    with pytest.raises(InvalidTransitionError):
        redemption.commit(session=session, transaction_id="t1", now=NOW)
    assert balances(session, "member:m1", "hold:t1") == [10, 0]


def test_a_reservation_must_match_the_menu(session: Session) -> None:
    grant(session, "m1", 100)

    for slot, price, code in [("2", 10, "not_on_menu"), (SLOT, 9, "price_changed")]:
        with pytest.raises(ItemUnavailableError) as refused:
            redemption.reserve(
                session=session, transaction_id="t1", member_id="m1", kiosk_id="kiosk-1",
                slot=slot, price=price, now=NOW,
            )  # fmt: skip
        assert refused.value.code == code
    offline = redemption.reserve(
        session=session, transaction_id="t1", member_id="m1", kiosk_id="kiosk-1",
        slot=SLOT, price=9, now=NOW, dispensed=True,
    )  # fmt: skip
    assert offline.state == RedemptionState.RESERVED  # the item is gone: it is paid as sold
    assert balances(session, "member:m1") == [91]


def test_commit_takes_the_item_from_the_slot_once(engine: Engine) -> None:
    sell(engine, "kiosk-3", stock=1)
    with Session(engine) as session:
        grant(session, "m1", 30)
        reserve(session, "t1", kiosk="kiosk-3")
        redemption.commit(session=session, transaction_id="t1", now=NOW)
        redemption.commit(session=session, transaction_id="t1", now=NOW)
        assert catalog.get_slot(session=session, kiosk_id="kiosk-3", slot=SLOT).stock == 0

        with pytest.raises(ItemUnavailableError) as sold_out:
            reserve(session, "t2", kiosk="kiosk-3")
        assert sold_out.value.code == "out_of_stock"
        # A miscounted slot: the item came out, so the commit stands and a person recounts.
        reserve(session, "t3", kiosk="kiosk-3", dispensed=True)
        done = redemption.commit(session=session, transaction_id="t3", now=NOW)
        assert (done.state, done.needs_review) == (RedemptionState.COMMITTED, True)
        assert balances(session, "member:m1", "goods:kiosk-3") == [10, 20]
