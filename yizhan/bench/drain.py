"""`yizhan bench drain`: how long a backlog takes to reach the cloud once an outage ends.

First one door box (a real ``EdgeAgent``: its door, outbox and uplink in one process, as on
a box) reconnects with a day of readings in its outbox while members keep showing codes at
its door; the drain is timed from its connection to its empty outbox, every row confirmed
by the cloud's storage ack. Then a fleet of boxes reconnects at once, each a real outbox and
uplink with its own connection, spread over child processes. Both drain through a real
Mosquitto into real ingest workers (child processes, one shared subscription) on a fresh
database, and every seq the boxes issued is checked to be stored exactly once.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import multiprocessing as mp
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import make_url

from edge.access.reasons import Reason
from ops.broker.process import BrokerOptions, BrokerProcess, free_port
from yizhan.bench.drain_box import DEVICE, BoxPlan, BoxRun, run_box
from yizhan.bench.drain_fleet import FleetRun, run_fleet
from yizhan.bench.ingest import _READY, _bench_database, _ingest, _wait, migrate

# The target: a day of a door box's readings (100,000) stored within 20 s of its
# reconnecting, on PostgreSQL as in production.
TARGET_READINGS: Final = 100_000
TARGET_S: Final = 20.0


@dataclass(frozen=True, slots=True)
class DrainOptions:
    readings: int = 100_000  # in the door box's outbox, spread over the past 24 h
    door_rate: float = 10.0  # member codes shown to its door per second during the drain
    door_baseline_s: float = 5.0  # the door deciding before the box starts, for comparison
    fleet_boxes: int = 200  # 0: no fleet run
    fleet_backlog: int = 540  # readings per fleet box: an hour of a sensor hub
    fleet_processes: int = 4
    workers: int = 2
    timeout_s: float = 600.0  # for each drain


@contextlib.contextmanager
def _ingest_workers(
    ctx: Any, broker: BrokerProcess, url: str, workers: int
) -> Iterator[tuple[int, ...]]:
    """The real ingest workers in child processes, subscribed before the boxes connect."""
    stop = ctx.Event()
    shared = [ctx.Array("d", 3, lock=False) for _ in range(workers)]
    children = [
        ctx.Process(
            target=_ingest,
            args=(broker.host, broker.port, url, f"yz-bench-drain-{n}", stop, slots),
            daemon=True,
        )
        for n, slots in enumerate(shared)
    ]
    for child in children:
        child.start()
    try:
        _wait(
            lambda: all(s[_READY] == 1.0 for s in shared),
            timeout=60,
            what="an ingest worker never subscribed",
        )
        yield tuple(child.pid for child in children)
    finally:
        stop.set()
        for child in children:
            child.join(timeout=60)
            if child.is_alive():
                child.kill()


def _audit(url: str, issued: dict[str, tuple[int, int]]) -> tuple[int, int, int]:
    """(rows stored, duplicates stored, issued seqs missing), readings and events alike."""
    from cloud.core.db import make_engine  # noqa: PLC0415 - the cloud loads only for the audit

    query = text(
        "SELECT device_id, count(*), count(DISTINCT seq), min(seq), max(seq) FROM"
        " (SELECT device_id, seq FROM reading UNION ALL SELECT device_id, seq FROM device_event)"
        " AS stored GROUP BY device_id"
    )
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = {row[0]: row[1:] for row in conn.execute(query).all()}
    finally:
        engine.dispose()
    total = duplicates = lost = 0
    for device, (first, after) in issued.items():
        count, distinct, low, high = found.get(device, (0, 0, None, None))
        total += count
        duplicates += count - distinct
        inside = low is None or (low >= first and high < after)
        lost += (after - first) - distinct if inside else after - first  # strays: all lost
    return total, duplicates, lost


def _ms(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def _box_figures(box: BoxRun, options: DrainOptions) -> dict[str, Any]:
    during = [d.ms for d in box.during]
    return {
        "readings": options.readings,
        "fill_s": round(box.fill_s, 2),
        "connect_s": round(box.connect_s, 3),
        "drain_s": round(box.drain_s, 2),
        "readings_per_s": round(options.readings / max(box.drain_s, 1e-9)),
        "box_cpu_s": round(box.box_cpu_s, 2),
        "ingest_cpu_s": round(box.cloud_cpu_s, 2),
        "door_rate_per_s": options.door_rate,
        "door_decisions": len(during),
        "door_refused": sum(d.reason is not Reason.ACCEPTED for d in box.during),
        "door_p50_ms": _ms(during, 50),
        "door_p99_ms": _ms(during, 99),
        "door_max_ms": round(max(during), 2) if during else None,
        "door_cpu_p99_ms": _ms([d.cpu_ms for d in box.during], 99),
        "door_before_decisions": len(box.before),
        "door_before_p50_ms": _ms([d.ms for d in box.before], 50),
        "door_before_p99_ms": _ms([d.ms for d in box.before], 99),
    }


def _fleet_figures(fleet: FleetRun | None, options: DrainOptions) -> dict[str, Any]:
    if fleet is None:
        return {"boxes": 0, "fleet_readings": 0, "fleet_drain_s": None}
    return {
        "boxes": fleet.boxes,
        "fleet_backlog_per_box": options.fleet_backlog,
        "fleet_processes": min(options.fleet_processes, fleet.boxes),
        "fleet_readings": fleet.readings,
        "fleet_drain_s": round(fleet.drain_s, 2),
        "fleet_readings_per_s": round(fleet.readings / max(fleet.drain_s, 1e-9)),
        "fleet_cpu_s": round(fleet.report.cpu_s, 2),
        "fleet_ingest_cpu_s": round(fleet.cloud_cpu_s, 2),
    }


def _verdict(database: str, options: DrainOptions, drain_s: float) -> bool | None:
    """Whether the target is met; None when this run cannot say (SQLite, a smaller backlog)."""
    if database != "postgresql" or options.readings < TARGET_READINGS:
        return None
    return drain_s <= TARGET_S


def run_drain_bench(
    options: DrainOptions = DrainOptions(), *, database_url: str | None = None
) -> dict[str, Any]:
    """Run the door box's drain, then the fleet's, on one broker and database; audit both."""
    ctx = mp.get_context("spawn")
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="yz-drain-")))
        url = stack.enter_context(_bench_database(database_url, work))
        migrate(url)
        broker = BrokerProcess(
            BrokerOptions(port=free_port(), data_dir=work / "broker", prefer="mosquitto")
        )
        broker.start()
        stack.callback(broker.stop)
        pids = stack.enter_context(_ingest_workers(ctx, broker, url, options.workers))
        box = run_box(
            BoxPlan(broker.host, broker.port, work / "box", options.readings, options.door_rate,
                    options.door_baseline_s, options.timeout_s, pids)
        )  # fmt: skip
        fleet = None
        if options.fleet_boxes:
            (work / "fleet").mkdir()
            fleet = run_fleet(
                ctx, host=broker.host, port=broker.port, folder=work / "fleet",
                boxes=options.fleet_boxes, backlog=options.fleet_backlog,
                processes=options.fleet_processes, timeout_s=options.timeout_s, cloud_pids=pids,
            )  # fmt: skip
        issued = {} if fleet is None else dict(fleet.report.issued)
        left = 0 if fleet is None else fleet.report.left
        if box.outbox is not None:
            issued[DEVICE] = (box.outbox.first_seq, box.outbox.next_seq)
            left += box.outbox.depth
        stored, duplicates, lost = _audit(url, issued)
        database = make_url(url).get_backend_name()
        return {
            "database": database,
            "broker": broker.kind,
            "ingest_workers": options.workers,
            **_box_figures(box, options),
            **_fleet_figures(fleet, options),
            "stored": stored,
            "left": left,  # rows still in an outbox at the end (0: every outbox emptied)
            "lost": lost,
            "duplicates_stored": duplicates,
            "target_s": TARGET_S,
            "meets_target": _verdict(database, options, box.drain_s),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
        }
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow


def _human(result: dict[str, Any]) -> list[str]:
    lines = [
        (
            f"drain bench: {result['database']} on {result['broker']}, "
            f"{result['ingest_workers']} ingest workers (load average {result['load_avg_1m']} "
            f"on {result['cpus']} CPUs at the end)"
        ),
        (
            f"  door box  {result['readings']:,} readings of 24 h drained in "
            f"{result['drain_s']:.2f} s after connecting ({result['readings_per_s']:,} readings/s)"
        ),
        (
            f"            CPU during the drain: the box {result['box_cpu_s']} s, "
            f"the ingest workers {result['ingest_cpu_s']} s"
        ),
        (
            f"  its door  {result['door_decisions']} decisions during the drain "
            f"({result['door_rate_per_s']:g}/s shown): p50 {result['door_p50_ms']} ms, "
            f"p99 {result['door_p99_ms']} ms (CPU {result['door_cpu_p99_ms']} ms), "
            f"max {result['door_max_ms']} ms; {result['door_refused']} valid codes refused"
        ),
        (
            f"            before the box started: {result['door_before_decisions']} decisions, "
            f"p50 {result['door_before_p50_ms']} ms, p99 {result['door_before_p99_ms']} ms"
        ),
    ]
    if result["boxes"]:
        lines.append(
            f"  fleet     {result['boxes']} boxes x {result['fleet_backlog_per_box']:,} readings "
            f"= {result['fleet_readings']:,} drained in {result['fleet_drain_s']:.2f} s after "
            f"reconnecting at once ({result['fleet_readings_per_s']:,} readings/s)"
        )
        lines.append(
            f"            CPU during the drain: the boxes {result['fleet_cpu_s']} s, "
            f"the ingest workers {result['fleet_ingest_cpu_s']} s"
        )
    lines.append(
        f"  audit     {result['stored']:,} rows stored, lost {result['lost']}, "
        f"duplicates stored {result['duplicates_stored']}, left in outboxes {result['left']}"
    )
    verdict = {True: "met", False: "NOT met", None: "not judged by this run"}
    lines.append(
        f"  target    <= {TARGET_S:g} s for {TARGET_READINGS:,} readings on PostgreSQL: "
        f"{verdict[result['meets_target']]}"
    )
    return lines


def main(
    *, json: bool = False, options: DrainOptions = DrainOptions(), database_url: str | None = None
) -> dict[str, Any]:
    """Print the figures for a person, then (with ``json``) one JSON line last."""
    result = run_drain_bench(options, database_url=database_url)
    out = "\n".join(_human(result))
    if json:
        out += "\n" + jsonlib.dumps(result)
    print(out)  # noqa: T201 - a benchmark's report is its output
    return result
