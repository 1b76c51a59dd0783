"""The kiosk flow online: scan, balance, select, dispense, commit; jams refund."""

from __future__ import annotations

import pytest

from edge.kiosk.journal import JournalError, State
from edge.kiosk.settle import JAMMED_EVENT, REDEEMED_EVENT, REFUNDED_EVENT

from .conftest import Kiosk


def test_a_member_redeems_one_item_exactly_once(kiosk: Kiosk) -> None:
    screen = kiosk.controller.present(kiosk.code("M1"))
    assert screen.session is not None
    assert screen.session.balance == 100
    assert screen.session.online
    assert [i.slot for i in screen.session.items] == ["A1", "A2", "B1"]

    done = kiosk.controller.select("A1")

    assert done.notice.code == "take_item"
    assert done.state is State.COMMITTED
    assert kiosk.cloud.balances["M1"] == 70
    assert kiosk.cloud.committed() == {done.txn_id}
    assert kiosk.sim.stock["A1"] == 19
    [event] = kiosk.events()
    assert event.type == REDEEMED_EVENT
    assert event.data["member"] == "M1"
    assert event.data["price"] == 30
    assert event.data["balance"] == 70
    # The session ended with the item: a second touch needs a new scan.
    assert kiosk.controller.select("A1").notice.code == "no_session"
    assert kiosk.sim.stock["A1"] == 19


def test_a_jam_refunds_and_raises_an_alert(kiosk: Kiosk) -> None:
    kiosk.controller.present(kiosk.code("M1"))
    kiosk.sim.jam_next("A1")

    screen = kiosk.controller.select("A1")

    assert screen.notice.code == "jammed"
    assert screen.state is State.REFUNDED
    assert kiosk.cloud.balances["M1"] == 100
    assert kiosk.cloud.holds[screen.txn_id or ""].state == "cancelled"
    assert [e.type for e in kiosk.events()] == [JAMMED_EVENT, REFUNDED_EVENT]
    assert kiosk.sim.stats.jammed == 1


def test_an_empty_slot_is_a_jam_too(kiosk: Kiosk) -> None:
    kiosk.sim.stock["A1"] = 0
    kiosk.controller.present(kiosk.code("M1"))
    assert kiosk.controller.select("A1").state is State.REFUNDED
    assert kiosk.cloud.balances["M1"] == 100


def test_the_ledger_refuses_what_the_balance_cannot_cover(kiosk: Kiosk) -> None:
    kiosk.cloud.balances["M1"] = 50
    kiosk.controller.present(kiosk.code("M1"))
    # Balance known: refused before asking the cloud, session kept for a cheaper item.
    screen = kiosk.controller.select("A2")
    assert screen.notice.code == "not_enough_points"
    assert screen.session is not None
    kiosk.cloud.balances["M1"] = 10  # spent elsewhere meanwhile: the ledger decides
    screen = kiosk.controller.select("A1")
    assert screen.notice.code == "not_enough_points"
    assert [t.state for t in kiosk.journal.all_rows()] == [State.DECLINED]
    assert kiosk.sim.stats.turns == 0


def test_sold_out_and_unknown_slots_are_refused_without_a_transaction(kiosk: Kiosk) -> None:
    kiosk.controller.present(kiosk.code("M1"))
    assert kiosk.controller.select("B1").notice.code == "sold_out"
    assert kiosk.controller.select("Z9").notice.code == "no_such_item"
    assert kiosk.journal.all_rows() == []


def test_a_code_spends_once_and_bad_codes_say_why(kiosk: Kiosk) -> None:
    code = kiosk.code("M1")
    assert kiosk.controller.present(code).session is not None
    again = kiosk.controller.present(code)
    assert again.session is None
    assert again.notice.code == "code_replayed"
    assert kiosk.controller.present("https://example.com").notice.code == "code_not_member_code"


def test_a_session_times_out(kiosk: Kiosk) -> None:
    kiosk.controller.present(kiosk.code("M1"))
    kiosk.clock.advance(61)
    assert kiosk.controller.screen().notice.code == "scan"
    assert kiosk.controller.select("A1").notice.code == "no_session"


def test_the_journal_refuses_a_transition_it_does_not_have(kiosk: Kiosk) -> None:
    kiosk.journal.start("t", member_id="M1", slot="A1", price=30, cloud_touched=True)
    kiosk.journal.advance("t", State.RESERVED)
    with pytest.raises(JournalError, match="reserved cannot become committed"):
        kiosk.journal.advance("t", State.COMMITTED)
