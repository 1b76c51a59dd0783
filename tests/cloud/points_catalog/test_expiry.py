"""The expiry job: first in, first out by earning date, once per local day."""

from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from cloud.points import ledger
from cloud.points.earning import put_rules
from cloud.points.earning_models import EarningRulesUpdate
from cloud.points.expiry import expire_points
from tests.cloud.points_catalog.factories import MEMBER, balance, grant, transfer, utc

ACCOUNT = ledger.member_account(MEMBER)


def expire_after(engine: Engine, days: int | None) -> None:
    with Session(engine) as session:
        update = EarningRulesUpdate(expiry_days=days)
        put_rules(session=session, update=update, by="ada", now=utc(2025, 1, 1))


def spend(engine: Engine, points: int, *, at: datetime, key: str) -> None:
    transfer(engine, key=key, lines=[(ACCOUNT, -points), ("goods:kiosk-1", points)], at=at)


def expired_total(engine: Engine) -> int:
    with Session(engine) as session:
        return ledger.balance(session=session, account=ledger.EXPIRED)


def test_the_oldest_points_expire_first_and_spending_uses_them_first(engine: Engine) -> None:
    expire_after(engine, 30)
    grant(engine, 100, at=utc(2025, 1, 1, 2), key="g1")  # 1 Jan, Shanghai time
    spend(engine, 30, at=utc(2025, 1, 6, 2), key="s1")  # out of the January 1 points
    grant(engine, 50, at=utc(2025, 1, 11, 2), key="g2")

    # 1 Feb in Shanghai: the 1 Jan points (30 of them spent) are past 30 days.
    first = expire_points(engine, utc(2025, 2, 1, 1))
    # 12 Feb: the 11 Jan points are too.
    second = expire_points(engine, utc(2025, 2, 12, 1))

    assert first.expired == {ACCOUNT: 70}
    assert second.expired == {ACCOUNT: 50}
    assert balance(engine) == 0
    assert expired_total(engine) == 120


def test_a_rerun_expires_nothing_more(engine: Engine) -> None:
    expire_after(engine, 30)
    grant(engine, 100, at=utc(2025, 1, 1, 2), key="g1")
    expire_points(engine, utc(2025, 2, 1, 1))

    again = expire_points(engine, utc(2025, 2, 1, 9))
    next_day = expire_points(engine, utc(2025, 2, 2, 1))

    assert again.expired == next_day.expired == {}
    assert again.skipped == []
    assert expired_total(engine) == 100


def test_points_last_n_full_local_days_after_the_day_they_were_earned(engine: Engine) -> None:
    expire_after(engine, 1)
    grant(engine, 40, at=utc(2025, 1, 1, 15, 30), key="g1")  # 23:30 on 1 Jan in Shanghai

    on_2_jan = expire_points(engine, utc(2025, 1, 2, 15, 59))  # 23:59 on 2 Jan
    on_3_jan = expire_points(engine, utc(2025, 1, 2, 16, 1))  # 00:01 on 3 Jan

    assert on_2_jan.expired == {}
    assert on_3_jan.expired == {ACCOUNT: 40}


def test_points_refunded_from_a_kiosk_hold_keep_their_earning_date(engine: Engine) -> None:
    expire_after(engine, 30)
    grant(engine, 100, at=utc(2025, 1, 1, 2), key="g1")
    hold = ledger.hold_account("txn-1")
    at = utc(2025, 1, 20, 2)
    transfer(engine, key="reserve", lines=[(ACCOUNT, -100), (hold, 100)], at=at)
    transfer(engine, key="release", lines=[(hold, -100), (ACCOUNT, 100)], at=at)

    result = expire_points(engine, utc(2025, 2, 1, 1))

    assert result.expired == {ACCOUNT: 100}


def test_nothing_expires_when_the_rules_say_never(engine: Engine) -> None:
    grant(engine, 100, at=utc(2020, 1, 1), key="g1")

    result = expire_points(engine, utc(2025, 2, 1))

    assert result.expired == {}
    assert result.day is None
    assert balance(engine) == 100
