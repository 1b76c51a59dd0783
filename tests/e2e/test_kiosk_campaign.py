"""A small fault campaign (``yizhan bench kiosk``): points stay money through every fault."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from edge.hardware.kiosk import DispenseResult
from edge.kiosk.cloud import HttpKioskCloud
from edge.kiosk.journal import State
from yizhan.bench import kiosk
from yizhan.bench.kiosk_world import (
    Box,
    BoxSpec,
    CloudServer,
    CloudWorld,
    PowerCut,
    boxes,
    cloud_app,
    issuer_key,
    seed_cloud,
    utc_now,
)


def test_a_small_campaign_keeps_every_invariant(db_url: str) -> None:
    result = kiosk.run_kiosk_campaign(redemptions=100, seed=5, database_url=db_url)

    assert (result["overspent"], result["lost_points"], result["double_commits"]) == (0, 0, 0)
    detail = result["detail"]
    assert detail["cached_balance_mismatches"] == 0
    assert detail["stock_mismatches"] == 0
    assert (detail["holds_left"], detail["journal_open"], detail["expired_after_settle"]) == (
        0,
        0,
        0,
    )
    assert detail["dispensed"] == detail["committed_in_ledger"] == detail["journal"]["committed"]
    # Which faults strike depends on timing (a cloud that is down refuses before a kiosk
    # reaches a kill point), so the test asks for faults, not a particular kind; the
    # 1,000-redemption bench reports each kind.
    assert result["faults_injected"] > 0
    assert sum(detail["faults"].values()) == result["faults_injected"]
    assert result["redemptions"] == 100


def test_main_prints_the_json_last(capsys: pytest.CaptureFixture[str]) -> None:
    kiosk.main(True, 12, 2, None)

    last = capsys.readouterr().out.strip().splitlines()[-1]
    fields = {"redemptions", "faults_injected", "overspent", "lost_points", "double_commits",
              "refunded", "p99_scan_to_dispense_ms"}  # fmt: skip
    assert fields <= set(json.loads(last))


# --- power cuts around the drop, one at a time, against the real cloud ----------------------

# The random campaign above cuts after journal transitions and around cloud calls; these
# are the cuts around the item's fall, where only the drop sensor knows what happened:
# (where the power goes, spiral jams?, how the row must end, items fallen).
DROP_CUTS = [
    ("before-motor", False, State.REFUNDED, 0),  # the motor never ran
    ("after-jam", True, State.REFUNDED, 0),  # the motor ran, nothing fell
    ("after-drop", False, State.COMMITTED, 1),  # it fell; `dispensed` never reached the disk
]


@dataclass
class CloudAndBox:
    engine: Engine
    box: Box
    tag: str


@pytest.fixture
def cloud_and_box(cloud_engine: Engine, tmp_path: Path) -> Iterator[CloudAndBox]:
    tag = "drop"
    world = CloudWorld(
        venue_id=f"bv-{tag}", kiosk_ids=(f"bk-{tag}-0",), members={f"bm-{tag}-0": 500}, stock=9
    )
    token = seed_cloud(cloud_engine, world, now=utc_now())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = CloudServer(cloud_app(cloud_engine), port)
    server.start()
    http = httpx.Client(timeout=10.0)
    spec = BoxSpec(
        kiosk_id=world.kiosk_ids[0], folder=tmp_path / "box", members=tuple(world.members),
        stock=world.stock, jam_rate=0.0, seed=1,
    )  # fmt: skip
    try:
        cloud = HttpKioskCloud(server.url, token, http=http, sleep=lambda _s: None)
        with boxes([spec], key=issuer_key(1), clouds=[cloud]) as [box]:
            yield CloudAndBox(cloud_engine, box, tag)
    finally:
        server.stop()
        http.close()


def _arm_around_the_drop(box: Box, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if where == "before-motor":
        box.dispenser.cut_before_motor = True
        return
    if where == "after-jam":
        box.sim.jam_next("1")
    counting = box.dispenser.dispense

    def dispense_then_cut(slot: str, timeout_s: float) -> DispenseResult:
        counting(slot, timeout_s)
        raise PowerCut(f"{where}, before the journal heard the result")

    monkeypatch.setattr(box.dispenser, "dispense", dispense_then_cut)


@pytest.mark.parametrize(
    ("where", "jam", "end", "fallen"), DROP_CUTS, ids=[cut[0] for cut in DROP_CUTS]
)
def test_a_cut_around_the_drop_charges_exactly_the_items_that_fell(
    cloud_and_box: CloudAndBox,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    jam: bool,
    end: State,
    fallen: int,
) -> None:
    box = cloud_and_box.box
    member = box.spec.members[0]
    assert box.controller.present(box.code(member)).session is not None
    _arm_around_the_drop(box, where, monkeypatch)
    assert box.sim.stats.jammed == 0

    with pytest.raises(PowerCut):
        box.controller.select("1")
    monkeypatch.undo()
    box.restart()

    assert sum(box.sim.stats.dropped.values()) == sum(box.drops.by_txn.values()) == fallen
    assert box.sim.stats.jammed == int(jam)
    report = kiosk.audit(cloud_and_box.engine, [box], cloud_and_box.tag)
    assert (report["overspent"], report["lost_points"], report["double_commits"]) == (0, 0, 0)
    assert report["detail"]["committed_in_ledger"] == report["detail"]["dispensed"] == fallen
    assert report["detail"]["holds_left"] == report["detail"]["stock_mismatches"] == 0
    assert report["refunded"] == 1 - fallen
    [row] = box.journal.all_rows()
    assert row.state is end
    assert row.drop_seen is (fallen == 1)
