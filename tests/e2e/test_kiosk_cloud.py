"""The kiosk's real runtime on simulated pins against the real cloud app and database."""

from __future__ import annotations

import random
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.exceptions import StarletteDeprecationWarning

from cloud.core.db import make_engine
from cloud.points import catalog, ledger
from edge.access.keys import KeyRing
from edge.kiosk.cloud import HttpKioskCloud, Outcome, Redemption
from edge.kiosk.controller import Screen
from edge.kiosk.journal import State
from edge.kiosk.messages import Say
from edge.kiosk.runtime import KioskBoxParts, KioskRuntime
from edge.kiosk.settings import KioskSettings
from edge.outbox import NewEvent
from firmware_sim.camera import VirtualCamera
from firmware_sim.kiosk import SimKiosk
from protocol.access import MemberRecord, MemberStatus
from protocol.kiosk import (
    BalancePublic,
    ErrorCode,
    ErrorResponse,
    MenuPublic,
    RedemptionPublic,
    RedemptionState,
)
from protocol.membercode import IssuerKey, issue
from yizhan.bench.kiosk_world import (
    PINS,
    PRICES,
    CloudWorld,
    cloud_app,
    edge_wait,
    issuer_key,
    seed_cloud,
    utc_now,
)

with warnings.catch_warnings():
    # Starlette prefers the httpx2 fork and warns when it falls back to httpx (see
    # tests/cloud/auth_world.py); the fallback works the same here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

WORLD = CloudWorld(
    venue_id="v-kiosk", kiosk_ids=("kiosk-a", "kiosk-b"), members={"M1": 10, "M2": 100}, stock=5
)
KEY = issuer_key(3)


@dataclass
class Site:
    engine: Engine
    client: TestClient
    token: str


@dataclass(frozen=True)
class BoxSettings:
    device: str
    data_dir: Path
    kiosk: KioskSettings
    api_ca_file: Path | None = None


@dataclass
class Kiosk:
    runtime: KioskRuntime
    sim: SimKiosk
    factory: MockFactory
    events: list[NewEvent] = field(default_factory=list)

    def scan(self, member: str) -> Screen:
        return self.runtime.controller.present(issue(member, key=KEY, now=utc_now()))

    def buy(self, member: str, slot: str) -> Screen:
        assert self.scan(member).session is not None
        return self.runtime.controller.select(slot)

    def close(self) -> None:
        self.runtime.close()
        self.factory.close()


@pytest.fixture
def site(migrated_db_url: str) -> Iterator[Site]:
    engine = make_engine(migrated_db_url)
    token = seed_cloud(engine, WORLD, now=utc_now())
    with TestClient(cloud_app(engine)) as client:
        yield Site(engine, client, token)
    engine.dispose()


def make_kiosk(site: Site, folder: Path, kiosk_id: str, key: IssuerKey = KEY) -> Kiosk:
    factory = MockFactory()
    sim = SimKiosk(factory, PINS, rng=random.Random(1), stock=dict.fromkeys(PINS.motors, 5))
    settings = KioskSettings.model_validate(
        {"kiosk_id": kiosk_id, "pins": PINS.model_dump(), "screen_port": 0}
    )
    keys = folder / f"{kiosk_id}-kiosk" / "keys.json"
    keys.parent.mkdir(parents=True)
    KeyRing({key.kid: key.public_key()}, 1).save(keys)
    cloud = HttpKioskCloud("http://testserver", site.token, http=site.client, sleep=lambda _s: None)
    events: list[NewEvent] = []
    runtime = KioskRuntime(
        BoxSettings(kiosk_id, folder, settings),
        parts=KioskBoxParts(
            frame_source=VirtualCamera(np.random.default_rng(0)),
            pin_factory=factory,
            cloud=cloud,
            wait=edge_wait,
        ),
        events=events.extend,
        clock=utc_now,
    )
    members = [MemberRecord(m, MemberStatus.ACTIVE) for m in WORLD.members]
    runtime.members.apply_snapshot(1, members, synced_at=utc_now())
    return Kiosk(runtime, sim, factory, events)


@pytest.fixture
def kiosk(site: Site, tmp_path: Path) -> Iterator[Kiosk]:
    box = make_kiosk(site, tmp_path, "kiosk-a")
    yield box
    box.close()


def balance(site: Site, account: str) -> int:
    with Session(site.engine) as session:
        cached = ledger.balance(session=session, account=account)
        assert cached == ledger.recompute(session=session, account=account)
        return cached


def stock(site: Site, kiosk_id: str, slot: str) -> int:
    with Session(site.engine) as session:
        return catalog.get_slot(session=session, kiosk_id=kiosk_id, slot=slot).stock


def redemption_state(site: Site, txn: str) -> str:
    response = site.client.get(
        f"/api/v1/kiosk/redemptions/{txn}", headers={"Authorization": f"Bearer {site.token}"}
    )
    assert response.status_code == 200, response.text
    state: str = response.json()["state"]
    return state


def test_scan_reserve_dispense_commit(site: Site, kiosk: Kiosk) -> None:
    session = kiosk.scan("M2").session
    assert session is not None
    assert (session.online, session.balance) == (True, 100)
    assert {(i.slot, i.price) for i in session.items} == set(PRICES.items())

    done = kiosk.runtime.controller.select("2")

    assert done.notice.code == Say.TAKE_ITEM
    assert done.state is State.COMMITTED
    assert done.txn_id is not None
    assert redemption_state(site, done.txn_id) == "committed"
    assert kiosk.sim.stats.dropped == {"2": 1}
    assert balance(site, "member:M2") == 100 - PRICES["2"]
    assert balance(site, "goods:kiosk-a") == PRICES["2"]
    assert stock(site, "kiosk-a", "2") == WORLD.stock - 1
    assert [e.type for e in kiosk.events] == ["kiosk.redeemed"]


def test_a_jam_refunds_and_takes_no_stock(site: Site, kiosk: Kiosk) -> None:
    kiosk.sim.jam_next("1")

    jammed = kiosk.buy("M2", "1")

    assert jammed.notice.code == Say.JAMMED
    assert jammed.state is State.REFUNDED
    assert jammed.txn_id is not None
    assert redemption_state(site, jammed.txn_id) == "cancelled"
    assert kiosk.sim.stats.dropped == {}
    assert balance(site, "member:M2") == 100
    assert balance(site, f"hold:{jammed.txn_id}") == 0
    assert stock(site, "kiosk-a", "1") == WORLD.stock


def test_two_kiosks_racing_for_one_members_last_points(
    site: Site, kiosk: Kiosk, tmp_path: Path
) -> None:
    other = make_kiosk(site, tmp_path, "kiosk-b")
    try:
        boxes = [kiosk, other]
        for box in boxes:  # M1's 10 points cover one item at slot 1; both screens say so
            session = box.scan("M1").session
            assert session is not None
            assert session.balance == PRICES["1"]
        barrier = threading.Barrier(2)
        screens: list[Screen | None] = [None, None]

        def press(index: int) -> None:
            barrier.wait(timeout=30)
            screens[index] = boxes[index].runtime.controller.select("1")

        threads = [threading.Thread(target=press, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        other.close()

    codes = sorted(str(s.notice.code) for s in screens if s is not None)
    assert codes == [Say.NOT_ENOUGH_POINTS, Say.TAKE_ITEM]
    assert sum(sum(box.sim.stats.dropped.values()) for box in boxes) == 1
    assert balance(site, "member:M1") == 0
    assert balance(site, "goods:kiosk-a") + balance(site, "goods:kiosk-b") == PRICES["1"]


def test_a_cancel_that_overtakes_its_reserve_wins(site: Site) -> None:
    cloud = HttpKioskCloud("http://testserver", site.token, http=site.client, sleep=lambda _s: 0)

    assert cloud.cancel("slow-1", reason="timeout").ok
    late = cloud.reserve(Redemption("slow-1", "M2", "kiosk-a", "1", PRICES["1"]))

    assert (late.outcome, late.reason) == (Outcome.REFUSED, "invalid_transition")
    assert cloud.status("slow-1").status == "cancelled"
    assert balance(site, "member:M2") == 100
    stale = cloud.reserve(Redemption("t-2", "M2", "kiosk-a", "1", PRICES["1"] + 1))
    assert (stale.outcome, stale.reason) == (Outcome.REFUSED, "price_changed")


_ANSWER_MODELS: dict[str, type[BaseModel]] = {
    "/menu": MenuPublic,
    "/balance": BalancePublic,
    "/kiosk/redemptions": RedemptionPublic,
}


def _answer_model(response: httpx.Response) -> type[BaseModel]:
    if response.status_code >= 400:
        return ErrorResponse
    path = response.request.url.path
    return next(model for part, model in _ANSWER_MODELS.items() if part in path)


def test_the_kiosk_reads_exactly_what_the_cloud_routes_answer(site: Site) -> None:
    answers: list[httpx.Response] = []

    def keep(response: httpx.Response) -> None:
        response.read()
        answers.append(response)

    site.client.event_hooks["response"].append(keep)
    cloud = HttpKioskCloud("http://testserver", site.token, http=site.client, sleep=lambda _s: 0)
    try:
        menu = cloud.menu("kiosk-a")
        member = cloud.balance("M2")
        reserved = cloud.reserve(Redemption("wire-1", "M2", "kiosk-a", "2", PRICES["2"]))
        asked = cloud.status("wire-1")
        committed = cloud.commit("wire-1")
        cancelled = cloud.cancel("wire-2", reason="jammed")
        poor = cloud.reserve(Redemption("wire-3", "M1", "kiosk-a", "3", PRICES["3"]))
    finally:
        site.client.event_hooks["response"].remove(keep)

    # Every field the cloud sends is a field of the protocol model, with the same JSON: the
    # kiosk drops nothing and the cloud's answer is exactly the model's.
    assert len(answers) == 7
    for response in answers:
        model = _answer_model(response)
        assert model.model_validate_json(response.content).model_dump(mode="json") == (
            response.json()
        ), response.request.url.path
    assert [(i.slot, i.name_en, i.price, i.in_stock) for i in menu.items] == [
        (slot, f"Item {slot}", price, True) for slot, price in PRICES.items()
    ]
    assert (member.outcome, member.balance) == (Outcome.OK, 100)
    left = 100 - PRICES["2"]
    assert (reserved.status, reserved.balance) == (RedemptionState.RESERVED, left)
    assert (asked.status, asked.balance) == (RedemptionState.RESERVED, left)
    assert (committed.status, committed.balance) == (RedemptionState.COMMITTED, left)
    assert cancelled.status == RedemptionState.CANCELLED
    assert (poor.outcome, poor.reason) == (Outcome.REFUSED, ErrorCode.INSUFFICIENT_POINTS)
    error = ErrorResponse.model_validate_json(answers[-1].content).error
    assert error.details[0]["balance"] == WORLD.members["M1"]
