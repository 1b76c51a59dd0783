"""The kiosk campaign's world: a seeded cloud, its API on a loopback port, simulated kiosk boxes.

Shared by ``yizhan bench kiosk`` (:mod:`yizhan.bench.kiosk`) and the kiosk end-to-end tests:
the cloud is the real FastAPI app on a real migrated database; a box is the real kiosk
controller, journal, verifier and gpiozero driver on mock pins with
:class:`firmware_sim.kiosk.SimKiosk` behind them, wired as :mod:`edge.kiosk.runtime` wires a
box (the chute beam's edge reaches the journal before the controller hears of it). Faults
are injected at the seams a real failure would cut: a journal transition that reached the
disk, a cloud call that did or did not reach the cloud, the motor about to turn, an item
just fallen whose ``dispensed`` was never written.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from gpiozero.pins.mock import MockFactory
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.api.app import create_app
from cloud.auth import store
from cloud.auth.models import ApiTokenCreate
from cloud.auth.principal import Role
from cloud.auth.settings import AuthSettings
from cloud.devices.models import Device
from cloud.models import Venue
from cloud.points import ledger
from cloud.points.catalog_models import KioskSlot, Product
from cloud.settings import CloudSettings
from edge.access.keys import KeyRing
from edge.access.members import MemberCache
from edge.access.replay import ReplayCache
from edge.access.verifier import Verifier
from edge.hardware.kiosk import DispenseResult, KioskHardware
from edge.kiosk.cloud import CloudResult, KioskCloud, Menu, Redemption
from edge.kiosk.controller import KioskController, KioskParts
from edge.kiosk.journal import Journal, State, Txn
from edge.kiosk.limits import OfflineLimits
from edge.kiosk.menu import MenuCache
from edge.kiosk.settings import KioskPins
from edge.outbox import Outbox
from firmware_sim.kiosk import SimKiosk
from protocol.access import MemberRecord, MemberStatus
from protocol.membercode import IssuerKey, issue

# Slot -> price in points: three price points, so members run short at different times.
PRICES: Final = {"1": 10, "2": 25, "3": 40}
PINS: Final = KioskPins(motors={"1": 5, "2": 6, "3": 13}, drop_sensor=16)
ZONE: Final = ZoneInfo("Asia/Shanghai")
START_TIMEOUT_S: Final = 30.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def edge_wait(event: threading.Event, _timeout_s: float) -> bool:
    """The sim drops an item inside motor.on(): the edge has come by now, or never will."""
    return event.is_set()


class PowerCut(BaseException):
    """The kiosk box loses power here: nothing after this line runs."""


# --- the cloud ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CloudWorld:
    venue_id: str
    kiosk_ids: tuple[str, ...]
    members: dict[str, int]  # member id -> points granted
    stock: int  # items per slot, in the cloud's count and in the machine


def cloud_settings() -> CloudSettings:
    return CloudSettings(
        mode="development", auth=AuthSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32)))
    )


def seed_cloud(engine: Engine, world: CloudWorld, *, now: datetime) -> str:
    """The venue, its kiosks and their menus, the members' points; returns a service token."""
    with Session(engine) as session:
        session.add(Venue(id=world.venue_id, name="Kiosk campaign station"))
        session.commit()  # before the devices: the unit of work does not order by foreign key
        products = {slot: Product(name_zh=f"商品{slot}", name_en=f"Item {slot}", price=price)
                    for slot, price in PRICES.items()}  # fmt: skip
        session.add_all(products.values())
        for kiosk_id in world.kiosk_ids:
            session.add(Device(id=kiosk_id, venue_id=world.venue_id, online=True))
        session.flush()
        for kiosk_id in world.kiosk_ids:
            session.add_all(
                KioskSlot(kiosk_id=kiosk_id, slot=int(slot), venue_id=world.venue_id,
                          product_id=product.id, stock=world.stock, capacity=world.stock)
                for slot, product in products.items()
            )  # fmt: skip
        session.commit()
        for member, points in world.members.items():
            ledger.post(
                session=session,
                key=f"grant:{member}",
                kind="grant",
                lines=[(ledger.POOL, -points), (ledger.member_account(member), points)],
                at=now,
            )
        token_in = ApiTokenCreate(name="kiosks", role=Role.SERVICE, venue_ids=[world.venue_id])
        _, secret = store.create_api_token(session=session, token_in=token_in, created_by="bench")
    return secret


def cloud_app(engine: Engine) -> FastAPI:
    return create_app(settings=cloud_settings(), engine=engine, clock=utc_now)


class CloudServer:
    """The cloud API under uvicorn on a loopback port, in a thread; stop and start at will."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.app, self.port = app, port
        self.url = f"http://127.0.0.1:{port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="error",
            lifespan="off", access_log=False,
        )  # fmt: skip
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, name="bench-cloud", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the cloud API did not start on port {self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=START_TIMEOUT_S)
        self._server = self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None


# --- a kiosk box -------------------------------------------------------------------------


class CuttingJournal(Journal):
    """The kiosk's journal; the box may lose power right after a transition reaches disk."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime]) -> None:
        super().__init__(path, clock=clock)
        self.cut_at: State | None = None
        self.dispensing: str | None = None  # the transaction whose motor may turn now

    def _maybe_cut(self, state: State) -> None:
        if state is self.cut_at:
            self.cut_at = None
            raise PowerCut(str(state))

    def start(
        self, txn_id: str, *, member_id: str, slot: str, price: int, cloud_touched: bool
    ) -> Txn:
        txn = super().start(
            txn_id, member_id=member_id, slot=slot, price=price, cloud_touched=cloud_touched
        )
        self._maybe_cut(State.STARTED)
        return txn

    def advance(
        self, txn_id: str, to: State, *, detail: str | None = None, offline: bool | None = None
    ) -> Txn:
        txn = super().advance(txn_id, to, detail=detail, offline=offline)
        if to is State.DISPENSING:
            self.dispensing = txn_id
        self._maybe_cut(to)
        return txn


class CuttingCloud:
    """A :class:`KioskCloud` the box may lose power around: ``before:op`` or ``after:op``."""

    def __init__(self, inner: KioskCloud) -> None:
        self.inner = inner
        self.cut_at: str | None = None

    def _call(self, op: str, call: Callable[[], CloudResult]) -> CloudResult:
        if self.cut_at == f"before:{op}":
            self.cut_at = None
            raise PowerCut(f"before:{op}")
        result = call()
        if self.cut_at == f"after:{op}":  # the cloud did it; the kiosk never heard
            self.cut_at = None
            raise PowerCut(f"after:{op}")
        return result

    def reserve(self, redemption: Redemption) -> CloudResult:
        return self._call("reserve", lambda: self.inner.reserve(redemption))

    def commit(self, transaction_id: str) -> CloudResult:
        return self._call("commit", lambda: self.inner.commit(transaction_id))

    def cancel(self, transaction_id: str, *, reason: str) -> CloudResult:
        return self._call("cancel", lambda: self.inner.cancel(transaction_id, reason=reason))

    def status(self, transaction_id: str) -> CloudResult:
        return self.inner.status(transaction_id)

    def balance(self, member_id: str) -> CloudResult:
        return self.inner.balance(member_id)

    def menu(self, kiosk_id: str) -> Menu:
        return self.inner.menu(kiosk_id)


@dataclass(slots=True)
class Drops:
    """The physical truth: items that fell through the chute, per transaction."""

    by_txn: dict[str, int] = field(default_factory=dict)
    dispense_ms: list[float] = field(default_factory=list)  # scan to drop, per item
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, txn_id: str, elapsed_ms: float | None) -> None:
        with self.lock:
            self.by_txn[txn_id] = self.by_txn.get(txn_id, 0) + 1
            if elapsed_ms is not None:
                self.dispense_ms.append(elapsed_ms)


class CountingDispenser:
    """The box's motor driver, watched: which transaction each fallen item belongs to."""

    def __init__(self, box: Box) -> None:
        self._box = box
        self.cut_before_motor = False
        # The power goes once the item has fallen (and the driver has recorded it), before
        # the controller hears the result, so ``dispensed`` never reaches the journal. A
        # jammed spiral drops nothing, so the cut does not fire then.
        self.cut_after_drop = False

    def dispense(self, slot: str, timeout_s: float) -> DispenseResult:
        box = self._box
        if self.cut_before_motor:
            self.cut_before_motor = False
            raise PowerCut("mid-dispense, before the motor")
        before = box.sim.stats.dropped.get(slot, 0)
        result = box.hardware.dispense(slot, timeout_s)
        if box.sim.stats.dropped.get(slot, 0) > before:
            txn = box.journal.dispensing or "?"
            started = box.scan_started
            elapsed = None if started is None else (time.perf_counter() - started) * 1000
            box.drops.add(txn, elapsed)  # it fell: the member has it, whatever comes next
            if self.cut_after_drop:
                self.cut_after_drop = False
                raise PowerCut("mid-dispense, after the drop, before 'dispensed'")
        return result


@dataclass
class BoxSpec:
    kiosk_id: str
    folder: Path
    members: tuple[str, ...]
    stock: int
    jam_rate: float
    seed: int
    limits: OfflineLimits = field(default_factory=OfflineLimits)


class Box:
    """One simulated kiosk: the machine (sim, pins, caches) outlives its controller."""

    def __init__(self, spec: BoxSpec, *, key: IssuerKey, cloud: KioskCloud) -> None:
        self.spec, self.kiosk_id, self._key = spec, spec.kiosk_id, key
        spec.folder.mkdir(parents=True, exist_ok=True)
        self.factory = MockFactory()
        self.sim = SimKiosk(
            self.factory, PINS, rng=random.Random(spec.seed), jam_rate=spec.jam_rate,
            stock=dict.fromkeys(PINS.motors, spec.stock),
        )  # fmt: skip
        # As edge.kiosk.runtime wires it: the beam's edge is on disk before it is reported.
        self.hardware = KioskHardware(
            PINS, pin_factory=self.factory, wait=edge_wait, on_drop=self._record_drop
        )
        self.members = MemberCache(spec.folder / "members.db")
        self.members.apply_snapshot(
            1, [MemberRecord(m, MemberStatus.ACTIVE) for m in spec.members], synced_at=utc_now()
        )
        self.replay = ReplayCache(spec.folder / "replay.db")
        self.verifier = Verifier(
            KeyRing({key.kid: key.public_key()}, 1), self.members, self.replay, clock=utc_now
        )
        self.outbox = Outbox(spec.folder / "outbox.db", clock=utc_now)
        self.cloud = CuttingCloud(cloud)
        self.dispenser = CountingDispenser(self)
        self.drops = Drops()
        self.scan_started: float | None = None
        self.boots = 0
        self.journal = self._boot()

    def _record_drop(self) -> str | None:
        # The machine outlives its journal: each boot opens a new one, so look it up now.
        return self.journal.record_drop()

    def _boot(self) -> CuttingJournal:
        self.boots += 1
        journal = CuttingJournal(self.spec.folder / "journal.db", clock=utc_now)
        self.controller = KioskController(
            kiosk_id=self.kiosk_id,
            parts=KioskParts(
                verifier=self.verifier, cloud=self.cloud, journal=journal,
                dispenser=self.dispenser, menu_cache=MenuCache(self.spec.folder / "menu.json"),
            ),
            limits=self.spec.limits, zone=ZONE, events=self.outbox.append, clock=utc_now,
            new_txn_id=lambda: f"{self.kiosk_id}-{self.boots}-{secrets.token_hex(6)}",
        )  # fmt: skip
        return journal

    def restart(self) -> None:
        """After a power cut: a new controller on the same files, then its recovery pass."""
        self.journal.close()
        self.cloud.cut_at = None
        self.dispenser.cut_before_motor = self.dispenser.cut_after_drop = False
        self.journal = self._boot()
        self.hardware.stop_all()
        self.controller.recover()

    def code(self, member: str) -> str:
        return issue(member, key=self._key, now=utc_now())

    def close(self) -> None:
        for thing in (self.journal, self.outbox, self.replay, self.members, self.hardware):
            thing.close()
        self.factory.close()


def issuer_key(seed: int) -> IssuerKey:
    return IssuerKey("k1", Ed25519PrivateKey.from_private_bytes(random.Random(seed).randbytes(32)))


@contextmanager
def boxes(specs: list[BoxSpec], *, key: IssuerKey, clouds: list[KioskCloud]) -> Iterator[list[Box]]:
    made: list[Box] = []
    try:
        for spec, cloud in zip(specs, clouds, strict=True):
            made.append(Box(spec, key=key, cloud=cloud))
        yield made
    finally:
        for box in made:
            box.close()
