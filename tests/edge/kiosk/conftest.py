"""A kiosk on its real parts: the door's verifier, journal, drivers on mock pins, outbox."""

from __future__ import annotations

import itertools
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero.pins.mock import MockFactory

from edge.access.keys import KeyRing
from edge.access.members import MemberCache
from edge.access.replay import ReplayCache
from edge.access.verifier import Verifier
from edge.hardware.kiosk import KioskHardware
from edge.kiosk.controller import KioskController, KioskParts
from edge.kiosk.limits import OfflineLimits
from edge.kiosk.menu import MenuCache
from edge.kiosk.settings import KioskPins
from edge.outbox import NewEvent, Outbox
from firmware_sim.kiosk import SimKiosk
from protocol.access import MemberRecord, MemberStatus
from protocol.membercode import IssuerKey, issue

from .fakes import Clock, CuttingJournal, FakeLedger

PINS = KioskPins(motors={"A1": 5, "A2": 6, "B1": 13}, drop_sensor=16)
LIMITS = OfflineLimits(
    enabled=True, max_per_redemption=50, max_per_member_day=90, max_consecutive=2
)
ZONE = ZoneInfo("Asia/Shanghai")
T = TypeVar("T")


def edge_wait(event: threading.Event, _timeout_s: float) -> bool:
    """The sim drops items synchronously inside motor.on(): the edge is there or never comes."""
    return event.is_set()


@dataclass
class Kiosk:
    folder: Path
    clock: Clock
    cloud: FakeLedger
    key: IssuerKey
    factory: MockFactory
    sim: SimKiosk
    limits: OfflineLimits = LIMITS
    kiosk_id: str = "kiosk-1"
    closing: list[object] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.members = self._closing(MemberCache(self.folder / "members.db"))
        self.members.apply_snapshot(
            1,
            [MemberRecord("M1", MemberStatus.ACTIVE), MemberRecord("M2", MemberStatus.ACTIVE)],
            synced_at=self.clock(),
        )
        self.replay = self._closing(ReplayCache(self.folder / "replay.db"))
        self.verifier = Verifier(
            KeyRing({"k1": self.key.public_key()}, 1), self.members, self.replay, clock=self.clock
        )
        # As the runtime wires it: the beam's edge reaches the journal before the controller.
        self.hardware = self._closing(
            KioskHardware(PINS, pin_factory=self.factory, wait=edge_wait, on_drop=self._drop)
        )
        self.outbox = self._closing(Outbox(self.folder / "outbox.db", clock=self.clock))
        self.start()

    def _drop(self) -> object:
        # The machine outlives its journal: each restart opens a new one, record there.
        return self.journal.record_drop()

    def _closing(self, thing: T) -> T:
        self.closing.append(thing)
        return thing

    def start(self) -> None:
        """(Re)build journal and controller from the files, as after a restart."""
        self.journal = CuttingJournal(self.folder / "journal.db", clock=self.clock)
        self.closing.append(self.journal)
        self.controller = KioskController(
            kiosk_id=self.kiosk_id,
            parts=KioskParts(
                verifier=self.verifier,
                cloud=self.cloud,
                journal=self.journal,
                dispenser=self.hardware,
                menu_cache=MenuCache(self.folder / "menu.json"),
            ),
            limits=self.limits,
            zone=ZONE,
            events=self.outbox.append,
            clock=self.clock,
            new_txn_id=lambda: f"{self.kiosk_id}-t{next(self.ids)}",
        )

    def restart(self) -> None:
        self.journal.close()
        self.start()
        self.controller.recover()

    def code(self, member: str = "M1") -> str:
        return issue(member, key=self.key, now=self.clock())

    def events(self) -> list[NewEvent]:
        rows = self.outbox.claim(limit=1000, window=100_000)
        self.outbox.confirm([(r.seq, r.seq) for r in rows])
        return [
            NewEvent(self.clock(), json.loads(r.body)["type"], json.loads(r.body)["data"])
            for r in rows
        ]

    def close(self) -> None:
        for thing in reversed(self.closing):
            thing.close()  # type: ignore[attr-defined]


def make_kiosk(
    folder: Path,
    factory: MockFactory,
    *,
    cloud: FakeLedger | None = None,
    kiosk_id: str = "kiosk-1",
) -> Kiosk:
    folder.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    key = IssuerKey("k1", Ed25519PrivateKey.from_private_bytes(bytes([3]) * 32))
    sim = SimKiosk(factory, PINS, rng=random.Random(7), stock={"A1": 20, "A2": 20, "B1": 0})
    return Kiosk(folder, clock, cloud or FakeLedger(), key, factory, sim, kiosk_id=kiosk_id)


@pytest.fixture
def pin_factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.close()


@pytest.fixture
def kiosk(tmp_path: Path, pin_factory: MockFactory) -> Iterator[Kiosk]:
    box = make_kiosk(tmp_path, pin_factory)
    yield box
    box.close()
