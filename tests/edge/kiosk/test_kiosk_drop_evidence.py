"""The drop sensor's evidence survives a power cut: recovery charges what fell, refunds the rest."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edge.hardware.kiosk import DispenseResult, KioskHardware
from edge.kiosk.cloud import Redemption
from edge.kiosk.journal import Journal, State
from edge.kiosk.recovery import Recovery
from edge.kiosk.settle import JAMMED_EVENT, OFFLINE_EVENT, REDEEMED_EVENT, REFUNDED_EVENT, Settler
from edge.outbox import NewEvent
from firmware_sim.kiosk import SimKiosk

from .conftest import PINS, edge_wait
from .fakes import Clock, FakeLedger

# The journal as it was before drop evidence was kept (a box updated in the field).
OLD_SCHEMA = """
CREATE TABLE txn (
    id INTEGER PRIMARY KEY AUTOINCREMENT, txn_id TEXT NOT NULL UNIQUE,
    member_id TEXT NOT NULL, slot TEXT NOT NULL, price INTEGER NOT NULL, state TEXT NOT NULL,
    cloud_touched INTEGER NOT NULL, offline INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, detail TEXT NOT NULL DEFAULT ''
);
INSERT INTO txn (txn_id, member_id, slot, price, state, cloud_touched, offline, created_at,
                 updated_at) VALUES ('old', 'M1', 'A1', 30, 'dispensing', 0, 1, 0, 0);
"""


class Parts:
    """A journal, the fake ledger and the settler over them, re-openable like after a cut."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.clock, self.cloud = folder, Clock(), FakeLedger()
        self.events: list[NewEvent] = []
        self.journal = self.open()

    def open(self) -> Journal:
        self.journal = Journal(self.folder / "journal.db", clock=self.clock)
        return self.journal

    def recover(self) -> None:
        settler = Settler(
            kiosk_id="kiosk-1", journal=self.journal, cloud=self.cloud,
            events=self.events.extend, clock=self.clock,
        )  # fmt: skip
        Recovery(journal=self.journal, settler=settler).run()

    def dispensing(self, txn_id: str, *, online: bool) -> None:
        """A row whose motor was running when the power went (reserved first if online)."""
        self.journal.start(txn_id, member_id="M1", slot="A1", price=30, cloud_touched=online)
        if online:
            self.cloud.reserve(Redemption(txn_id, "M1", "kiosk-1", "A1", 30))
            self.journal.advance(txn_id, State.RESERVED)
        else:
            self.journal.advance(txn_id, State.APPROVED_OFFLINE, offline=True)
        self.journal.advance(txn_id, State.DISPENSING)

    def kinds(self) -> list[str]:
        return [event.type for event in self.events]


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    made = Parts(tmp_path)
    yield made
    made.journal.close()


@pytest.mark.parametrize("online", [True, False], ids=["online", "offline"])
def test_a_drop_on_record_is_committed_after_the_cut(parts: Parts, online: bool) -> None:
    parts.dispensing("t1", online=online)
    assert parts.journal.record_drop() == "t1"
    parts.journal.close()  # the power goes before `dispensed` is written

    parts.open()
    parts.recover()

    [row] = parts.journal.all_rows()
    assert (row.state, row.drop_seen) == (State.COMMITTED, True)
    assert parts.cloud.holds["t1"].state == "committed"
    assert parts.cloud.balances["M1"] == 70
    assert JAMMED_EVENT not in parts.kinds()
    assert parts.kinds()[-1] == REDEEMED_EVENT
    assert (OFFLINE_EVENT in parts.kinds()) is not online


@pytest.mark.parametrize("online", [True, False], ids=["online", "offline"])
def test_no_drop_on_record_is_refunded_after_the_cut(parts: Parts, online: bool) -> None:
    parts.dispensing("t1", online=online)
    parts.journal.close()

    parts.open()
    parts.recover()

    [row] = parts.journal.all_rows()
    assert (row.state, row.drop_seen) == (State.REFUNDED, False)
    assert parts.cloud.balances["M1"] == 100
    assert parts.cloud.committed() == set()
    assert parts.kinds() == [JAMMED_EVENT, REFUNDED_EVENT]


def test_a_drop_waits_for_the_cloud_as_dispensed_and_is_never_refunded(parts: Parts) -> None:
    parts.dispensing("t1", online=True)
    parts.journal.record_drop()
    parts.cloud.reachable = False

    parts.recover()
    assert parts.journal.get("t1").state is State.DISPENSED  # local step only

    parts.cloud.reachable = True
    parts.recover()
    assert parts.journal.get("t1").state is State.COMMITTED
    assert parts.cloud.balances["M1"] == 70


def test_a_drop_marks_only_the_row_being_dispensed(parts: Parts) -> None:
    assert parts.journal.record_drop() is None  # nothing dispensing: a hand in the chute
    parts.journal.start("t1", member_id="M1", slot="A1", price=30, cloud_touched=False)
    assert parts.journal.record_drop() is None
    parts.dispensing("t2", online=False)

    assert parts.journal.record_drop() == "t2"
    assert [(r.txn_id, r.drop_seen) for r in parts.journal.all_rows()] == [
        ("t1", False),
        ("t2", True),
    ]


def test_an_old_journal_gains_the_column_in_place(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "journal.db") as db:
        db.executescript(OLD_SCHEMA)
    for _ in range(2):  # opening twice must not add it twice
        journal = Journal(tmp_path / "journal.db", clock=Clock())
        [row] = journal.open_rows()
        journal.close()
    assert (row.txn_id, row.state, row.drop_seen) == ("old", State.DISPENSING, False)

    parts = Parts(tmp_path)
    try:
        assert parts.journal.record_drop() == "old"
        parts.recover()
        assert parts.journal.get("old").state is State.COMMITTED
    finally:
        parts.journal.close()


def test_the_driver_records_the_drop_before_it_reports_it(pin_factory: MockFactory) -> None:
    sim = SimKiosk(pin_factory, PINS, rng=random.Random(1), stock={"A1": 5})
    calls: list[bool] = []  # per recorded drop: had dispense already been woken?
    hardware: KioskHardware | None = None

    def on_drop() -> None:
        assert hardware is not None
        calls.append(hardware._dropped.is_set())

    hardware = KioskHardware(PINS, pin_factory=pin_factory, wait=edge_wait, on_drop=on_drop)
    try:
        beam = pin_factory.pin(PINS.drop_sensor)
        beam.drive_high()  # an edge with no motor running records nothing
        beam.drive_low()
        assert calls == []

        assert hardware.dispense("A1", 8.0) is DispenseResult.DISPENSED
        assert calls == [False]

        sim.jam_next("A1")
        assert hardware.dispense("A1", 8.0) is DispenseResult.JAMMED
        assert calls == [False]
    finally:
        hardware.close()


def test_a_journal_that_cannot_write_does_not_hide_the_drop(
    pin_factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    SimKiosk(pin_factory, PINS, rng=random.Random(1), stock={"A1": 5})

    def failing() -> None:
        raise sqlite3.OperationalError("disk I/O error")

    hardware = KioskHardware(PINS, pin_factory=pin_factory, wait=edge_wait, on_drop=failing)
    try:
        assert hardware.dispense("A1", 8.0) is DispenseResult.DISPENSED
    finally:
        hardware.close()
    assert "could not record an item's drop" in caplog.text
