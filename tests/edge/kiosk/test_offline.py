"""Offline redemptions: within limits, refused past each one, overspends flagged."""

from __future__ import annotations

from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge.kiosk.journal import State
from edge.kiosk.limits import OfflineLimits, local_day
from edge.kiosk.settle import OFFLINE_EVENT, OVERSPEND_EVENT, REDEEMED_EVENT

from .conftest import LIMITS, ZONE, Kiosk, make_kiosk
from .fakes import FakeLedger


def _go_offline(kiosk: Kiosk) -> None:
    kiosk.controller.present(kiosk.code("M2"))  # an earlier online scan cached the menu
    kiosk.cloud.reachable = False
    kiosk.controller.tick()


def _redeem(kiosk: Kiosk, slot: str, member: str = "M1") -> str:
    kiosk.clock.advance(1)
    screen = kiosk.controller.present(kiosk.code(member))
    assert screen.session is not None
    return kiosk.controller.select(slot).notice.code


def test_offline_within_limits_dispenses_and_records(kiosk: Kiosk) -> None:
    _go_offline(kiosk)
    screen = kiosk.controller.present(kiosk.code("M1"))
    assert screen.notice.code == "choose_offline"
    assert screen.session is not None
    assert screen.session.balance is None
    assert not screen.session.online

    done = kiosk.controller.select("A1")

    assert done.notice.code == "take_item_offline"
    assert done.state is State.DISPENSED
    assert kiosk.sim.stock["A1"] == 19
    assert [e.type for e in kiosk.events()] == [OFFLINE_EVENT]
    assert ("reserve", done.txn_id) not in kiosk.cloud.calls


@pytest.mark.parametrize(
    ("limits", "slots", "refusal"),
    [
        (OfflineLimits(), ["A1"], "offline_offline_disabled"),
        (LIMITS, ["A2"], "offline_over_redemption_max"),  # 60 > 50 per item
        (LIMITS.model_copy(update={"max_consecutive": 9}), ["A1"] * 4, "offline_over_daily_max"),
        (LIMITS, ["A1", "A1", "A1"], "offline_over_consecutive_max"),  # 2 in a row
    ],
)
def test_offline_beyond_each_limit_is_refused_with_a_reason(
    kiosk: Kiosk, limits: OfflineLimits, slots: list[str], refusal: str
) -> None:
    kiosk.limits = limits
    kiosk.start()
    _go_offline(kiosk)
    codes = [_redeem(kiosk, slot) for slot in slots]
    assert codes[:-1] == ["take_item_offline"] * (len(slots) - 1)
    assert codes[-1] == refusal
    screen = kiosk.controller.screen()
    assert screen.notice.code == refusal
    assert "离线" in screen.notice.zh or "网络中断" in screen.notice.zh
    assert "ffline" in screen.notice.en
    assert kiosk.journal.all_rows()[-1].state is State.DECLINED
    assert kiosk.sim.stats.turns == len(slots) - 1


def test_reconcile_on_reconnect_charges_each_offline_redemption_once(kiosk: Kiosk) -> None:
    _go_offline(kiosk)
    assert _redeem(kiosk, "A1") == "take_item_offline"
    assert _redeem(kiosk, "A1") == "take_item_offline"
    day = local_day(kiosk.clock(), ZONE)
    assert kiosk.journal.offline_usage("M1", day=day).consecutive == 2

    kiosk.cloud.reachable = True
    kiosk.controller.tick()
    kiosk.controller.tick()
    kiosk.restart()

    rows = kiosk.journal.all_rows()
    assert [r.state for r in rows] == [State.COMMITTED, State.COMMITTED]
    assert kiosk.cloud.balances["M1"] == 40
    for row in rows:
        assert kiosk.cloud.applied.count(("reserve", row.txn_id)) == 1
        assert kiosk.cloud.applied.count(("commit", row.txn_id)) == 1
    usage = kiosk.journal.offline_usage("M1", day=day)
    assert usage.consecutive == 0  # reset by the reconciliation
    assert usage.spent_today == 60  # the daily limit does not reset
    assert [e.type for e in kiosk.events()].count(REDEEMED_EVENT) == 2


def test_overspend_is_flagged_to_the_manager_never_silently_accepted(kiosk: Kiosk) -> None:
    kiosk.cloud.balances["M1"] = 10
    _go_offline(kiosk)
    assert _redeem(kiosk, "A1") == "take_item_offline"
    kiosk.events()

    kiosk.cloud.reachable = True
    kiosk.controller.tick()

    [row] = kiosk.journal.all_rows()
    assert row.state is State.OVERSPENT
    assert kiosk.cloud.balances["M1"] == 10
    [event] = kiosk.events()
    assert event.type == OVERSPEND_EVENT
    assert event.data["reason"] == "insufficient_points"
    assert event.data["member"] == "M1"
    assert event.data["price"] == 30


def test_a_lost_reserve_reply_goes_offline_under_the_same_id_and_charges_once(
    kiosk: Kiosk,
) -> None:
    kiosk.controller.present(kiosk.code("M1"))
    kiosk.cloud.lose_reply = {"reserve"}  # the cloud held the points; the kiosk never heard

    done = kiosk.controller.select("A1")

    assert done.notice.code == "take_item_offline"
    assert kiosk.cloud.balances["M1"] == 70  # held once
    kiosk.cloud.lose_reply = set()
    kiosk.controller.tick()
    assert [r.state for r in kiosk.journal.all_rows()] == [State.COMMITTED]
    assert kiosk.cloud.balances["M1"] == 70
    assert kiosk.cloud.applied.count(("reserve", done.txn_id or "")) == 1


def test_a_lost_reserve_refused_offline_is_cancelled_when_the_cloud_returns(
    kiosk: Kiosk,
) -> None:
    kiosk.controller.present(kiosk.code("M1"))
    kiosk.cloud.lose_reply = {"reserve", "cancel"}
    assert kiosk.controller.select("A2").notice.code == "offline_over_redemption_max"
    # The cancel landed but its answer did not: the row waits, open, for the next tick.
    assert [r.state for r in kiosk.journal.open_rows()] == [State.STARTED]
    kiosk.cloud.lose_reply = set()
    kiosk.controller.tick()
    assert [r.state for r in kiosk.journal.all_rows()] == [State.REFUNDED]
    assert kiosk.cloud.balances["M1"] == 100
    assert kiosk.sim.stats.turns == 0


BY_COUNT = OfflineLimits(enabled=True, max_per_redemption=30, max_per_member_day=90,
                         max_consecutive=2)  # fmt: skip
BY_DAY = OfflineLimits(enabled=True, max_per_redemption=30, max_per_member_day=60,
                       max_consecutive=5)  # fmt: skip


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("limits", [BY_COUNT, BY_DAY], ids=["consecutive-binds", "daily-binds"])
def test_the_overspend_bound_across_k_offline_kiosks(
    tmp_path: Path, pin_factory: MockFactory, k: int, limits: OfflineLimits
) -> None:
    """One member with no points tries every offline kiosk until each refuses: the 30-point
    item makes both bounds exact, min(k × D, k × C × P) = k × 60."""
    ledger = FakeLedger(balances={"M1": 0, "M2": 100})
    kiosks = [
        make_kiosk(
            tmp_path / f"k{i}",
            MockFactory() if i else pin_factory,
            cloud=ledger,
            kiosk_id=f"kiosk-{i}",
        )
        for i in range(k)
    ]
    try:
        for box in kiosks:
            box.limits = limits
            box.start()
            box.controller.present(box.code("M2"))  # caches the menu
        ledger.reachable = False
        taken = 0
        for box in kiosks:
            box.controller.tick()
            while _redeem(box, "A1") == "take_item_offline":
                taken += 30
        bound = min(k * limits.max_per_member_day,
                    k * limits.max_consecutive * limits.max_per_redemption)  # fmt: skip
        assert taken == limits.worst_case_overspend(k) == bound == k * 60

        ledger.reachable = True
        flagged = 0
        for box in kiosks:
            box.controller.tick()
            flagged += sum(r.state is State.OVERSPENT for r in box.journal.all_rows())
        assert flagged * 30 == taken
        assert ledger.balances["M1"] == 0
    finally:
        for box in kiosks:
            box.close()
            if box.factory is not pin_factory:
                box.factory.close()
