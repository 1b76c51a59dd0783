"""A power cut at every step of a redemption: after a restart each ends exactly once."""

from __future__ import annotations

import pytest

from edge.hardware.kiosk import DispenseResult
from edge.kiosk.journal import State
from edge.kiosk.settle import JAMMED_EVENT

from .conftest import Kiosk
from .fakes import PowerCut

# (where the power goes, jam?, offline?, how it must end)
CUTS = [
    ("journal:started", False, False, State.REFUNDED),
    ("cloud:reserve", False, False, State.REFUNDED),
    ("journal:reserved", False, False, State.REFUNDED),
    ("journal:dispensing", False, False, State.REFUNDED),
    ("motor:jammed", True, False, State.REFUNDED),  # the motor ran, nothing fell
    ("motor:dropped", False, False, State.COMMITTED),  # it fell; the journal has the drop
    ("journal:dispensed", False, False, State.COMMITTED),
    ("cloud:commit", False, False, State.COMMITTED),
    ("journal:committed", False, False, State.COMMITTED),
    ("journal:jammed", True, False, State.REFUNDED),
    ("cloud:cancel", True, False, State.REFUNDED),
    ("journal:refunded", True, False, State.REFUNDED),
    ("journal:started", False, True, State.REFUNDED),
    ("journal:approved_offline", False, True, State.REFUNDED),
    ("journal:dispensing", False, True, State.REFUNDED),
    ("motor:jammed", True, True, State.REFUNDED),
    ("motor:dropped", False, True, State.COMMITTED),
    ("journal:dispensed", False, True, State.COMMITTED),
    ("journal:jammed", True, True, State.REFUNDED),
]


def _arm(kiosk: Kiosk, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    kind, _, name = where.partition(":")
    if kind == "journal":
        kiosk.journal.cut_at = State(name)
    elif kind == "cloud":
        kiosk.cloud.cut_after = name
    else:
        real = kiosk.hardware.dispense

        def dispense_then_cut(slot: str, timeout_s: float) -> DispenseResult:
            real(slot, timeout_s)
            raise PowerCut(f"{where}, before the journal heard the result")

        monkeypatch.setattr(kiosk.hardware, "dispense", dispense_then_cut)


@pytest.mark.parametrize(
    ("where", "jam", "offline", "end"),
    CUTS,
    ids=[f"{w}{'-jam' if j else ''}{'-offline' if o else ''}" for w, j, o, _ in CUTS],
)
def test_a_power_cut_ends_in_exactly_one_of_committed_or_refunded(
    kiosk: Kiosk,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    jam: bool,
    offline: bool,
    end: State,
) -> None:
    kiosk.cloud.reachable = not offline
    if offline:
        kiosk.controller.tick()  # learns the cloud is away
        kiosk.controller._menu_cache.save(kiosk.cloud.items)  # as cached earlier
    assert kiosk.controller.present(kiosk.code("M1")).session is not None
    if jam:
        kiosk.sim.jam_next("A1")
    _arm(kiosk, monkeypatch, where)

    with pytest.raises(PowerCut):
        kiosk.controller.select("A1")

    monkeypatch.undo()
    kiosk.cloud.reachable = True
    kiosk.restart()

    [txn] = kiosk.journal.all_rows()
    assert txn.state is end
    hold = kiosk.cloud.holds.get(txn.txn_id)
    if end is State.COMMITTED:
        assert hold is not None
        assert hold.state == "committed"
        assert kiosk.cloud.balances["M1"] == 70
    else:
        assert hold is None or hold.state == "cancelled"
        assert kiosk.cloud.balances["M1"] == 100
    assert kiosk.cloud.applied.count(("commit", txn.txn_id)) <= 1
    assert kiosk.cloud.applied.count(("reserve", txn.txn_id)) <= 1
    # Only what fell is charged for: the sim's count is the physical truth.
    assert sum(kiosk.sim.stats.dropped.values()) == int(end is State.COMMITTED)
    if where in ("journal:dispensing", "motor:jammed"):
        assert JAMMED_EVENT in [e.type for e in kiosk.events()]

    # Running recovery again (another restart) changes nothing.
    applied = list(kiosk.cloud.applied)
    kiosk.restart()
    assert kiosk.cloud.applied == applied
    assert [t.state for t in kiosk.journal.all_rows()] == [end]


def test_a_restart_while_the_cloud_is_away_waits_and_then_settles(kiosk: Kiosk) -> None:
    kiosk.controller.present(kiosk.code("M1"))
    kiosk.journal.cut_at = State.DISPENSED
    with pytest.raises(PowerCut):
        kiosk.controller.select("A1")
    kiosk.cloud.reachable = False
    kiosk.restart()
    [txn] = kiosk.journal.open_rows()
    assert txn.state is State.DISPENSED  # the commit waits for the cloud, retried each tick
    kiosk.cloud.reachable = True
    kiosk.controller.tick()
    assert [t.state for t in kiosk.journal.all_rows()] == [State.COMMITTED]
    assert kiosk.cloud.balances["M1"] == 70
