"""``yizhan bench kiosk``'s kill points: each lands where it says, and the audit is exact.

The campaign (tests/e2e/test_kiosk_campaign.py) picks kill points at random; these tests
drive the bench's own path (``_redeem_once``, ``_restart``, ``_settle``, ``audit``) through
one chosen point against the real cloud, so a point that stops firing, or a box wired
differently from the runtime, shows up here and not as a lucky seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from cloud.core.db import make_engine
from edge.hardware.kiosk import KioskHardware
from edge.kiosk.cloud import HttpKioskCloud
from edge.kiosk.journal import State
from yizhan.bench import kiosk
from yizhan.bench.kiosk_world import (
    PINS,
    Box,
    BoxSpec,
    CloudServer,
    CloudWorld,
    boxes,
    cloud_app,
    edge_wait,
    issuer_key,
    seed_cloud,
    utc_now,
)

TAG = "kb"


class Chooses(random.Random):
    """The campaign's dice, loaded: always a kill, at ``point``; the first member and slot."""

    def __init__(self, point: str) -> None:
        super().__init__(0)
        self.point = point

    def random(self) -> float:
        return 0.0  # below KILL_RATE: this redemption loses power

    def choice(self, seq: Any) -> Any:  # KILL_POINTS, members, slots
        return self.point if self.point in seq else seq[0]


@dataclass
class Bench:
    engine: Engine
    server: CloudServer
    box: Box
    plan: kiosk.Plan


@pytest.fixture
def bench(migrated_db_url: str, tmp_path: Path) -> Iterator[Bench]:
    engine = make_engine(migrated_db_url)
    world = CloudWorld(
        venue_id=f"bv-{TAG}", kiosk_ids=(f"bk-{TAG}-0",), members={f"bm-{TAG}-0": 500}, stock=9
    )
    token = seed_cloud(engine, world, now=utc_now())
    server = CloudServer(cloud_app(engine), kiosk._free_port())
    server.start()
    http = httpx.Client(timeout=10.0)
    spec = BoxSpec(
        kiosk_id=world.kiosk_ids[0], folder=tmp_path / "box", members=tuple(world.members),
        stock=world.stock, jam_rate=0.0, seed=1,
    )  # fmt: skip
    try:
        cloud = HttpKioskCloud(server.url, token, http=http, sleep=lambda _s: None)
        with boxes([spec], key=issuer_key(1), clouds=[cloud]) as [box]:
            yield Bench(engine, server, box, kiosk.Plan(1, 1, tuple(world.members)))
    finally:
        server.stop()
        http.close()
        engine.dispose()


def _redeem_killed_at(bench: Bench, point: str) -> tuple[dict[str, int], dict[str, object]]:
    """One bench redemption that loses power at ``point``, then recovery and calm weather."""
    faults = kiosk.Counters()
    kiosk._redeem_once(bench.box, Chooses(point), bench.plan, faults)
    kiosk._settle([bench.box], bench.server, [])
    return faults.counts, kiosk.audit(bench.engine, [bench.box], TAG)


def test_the_cut_after_the_drop_is_a_kill_point() -> None:
    assert "drop" in kiosk.KILL_POINTS
    assert len(set(kiosk.KILL_POINTS)) == len(kiosk.KILL_POINTS)


def test_a_cut_after_the_drop_charges_the_member_for_the_item(bench: Bench) -> None:
    counts, report = _redeem_killed_at(bench, "drop")

    assert counts == {"kiosk_killed": 1}  # the point fired: the item fell, then the power went
    assert bench.box.boots == 2
    assert (report["overspent"], report["lost_points"], report["double_commits"]) == (0, 0, 0)
    detail = report["detail"]
    assert isinstance(detail, dict)
    assert detail["dispensed"] == detail["committed_in_ledger"] == 1
    assert detail["holds_left"] == detail["stock_mismatches"] == detail["journal_open"] == 0
    assert report["refunded"] == 0
    [row] = bench.box.journal.all_rows()
    assert (row.state, row.drop_seen, row.detail) == (
        State.COMMITTED,
        True,
        "power cut after the drop",
    )
    assert not bench.box.dispenser.cut_after_drop
    assert not bench.box.dispenser.cut_before_motor


def test_the_audit_flags_a_box_that_forgets_the_drop(bench: Bench) -> None:
    # A driver without on_drop (the bench's box before it was wired as the runtime wires
    # it): the fallen item is refunded, and the audit must say the member was not charged.
    box = bench.box
    box.hardware.close()
    box.hardware = KioskHardware(PINS, pin_factory=box.factory, wait=edge_wait)

    counts, report = _redeem_killed_at(bench, "drop")

    assert counts == {"kiosk_killed": 1}
    assert report["overspent"] == 1  # one item fell that no commit pays for
    assert report["refunded"] == 1
    detail = report["detail"]
    assert isinstance(detail, dict)
    assert (detail["dispensed"], detail["committed_in_ledger"]) == (1, 0)


def test_a_jammed_spiral_drops_nothing_so_the_drop_cut_waits(bench: Bench) -> None:
    bench.box.sim.jam_next("1")

    counts, report = _redeem_killed_at(bench, "drop")

    assert counts == {}  # nothing fell: no power cut, the jam is refunded as usual
    assert (report["overspent"], report["lost_points"], report["refunded"]) == (0, 0, 1)
    assert not bench.box.dispenser.cut_after_drop  # _redeem_once disarmed it
