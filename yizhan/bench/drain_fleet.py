"""The fleet of `yizhan bench drain`: hundreds of boxes, each a real outbox and uplink with its
own connection, reconnecting at once after an outage, spread over a few child processes."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any, Final

from edge.outbox import Outbox
from edge.uplink import BrokerEndpoint, Uplink
from yizhan.bench.drain_backlog import HUB_ROUND, DrainBenchError, fill
from yizhan.bench.members_world import cpu_s

BOXES_PER_VENUE: Final = 10
_POLL_S: Final = 0.02


def utc_now() -> datetime:
    return datetime.now(UTC)


def fleet_device(index: int) -> tuple[str, str]:
    """(venue, device) of the fleet's ``index``-th box."""
    return f"fleet-{index // BOXES_PER_VENUE:03d}", f"hub-{index:04d}"


@dataclass(frozen=True, slots=True)
class Shard:
    """The boxes one child process runs, and where their broker and files are."""

    host: str
    port: int
    folder: Path
    boxes: tuple[int, ...]  # fleet indexes
    backlog: int  # readings in each box's outbox
    timeout_s: float


@dataclass(frozen=True, slots=True)
class ShardReport:
    issued: dict[str, tuple[int, int]]  # device -> [first_seq, next_seq) of its outbox
    left: int  # rows still in the outboxes when the shard gave up (0 when drained)
    drained_at: float  # time.monotonic() when the shard's last outbox was empty
    cpu_s: float  # this process's CPU from the reconnect to the last empty outbox


def _outboxes(shard: Shard) -> dict[int, Outbox]:
    """One outbox file per box, each holding its backlog."""
    outboxes = {}
    for index in shard.boxes:
        outbox = Outbox(shard.folder / f"{fleet_device(index)[1]}-outbox.db", clock=utc_now)
        span = timedelta(minutes=shard.backlog / len(HUB_ROUND))  # a round a minute
        fill(outbox, shard.backlog, round_=HUB_ROUND, span=span, end=utc_now())
        outboxes[index] = outbox
    return outboxes


def run_shard(shard: Shard, go: MpEvent, reports: mp.Queue[Any]) -> None:
    """Child: fill the outboxes, say so, then at ``go`` connect every box; report when empty."""
    outboxes = _outboxes(shard)
    reports.put("ready")
    go.wait()
    cpu = time.process_time()
    uplinks = []
    for index, outbox in outboxes.items():
        venue, device = fleet_device(index)
        endpoint = BrokerEndpoint(shard.host, shard.port)
        uplinks.append(Uplink(outbox, venue=venue, device=device, endpoint=endpoint, clock=utc_now))
    for uplink in uplinks:
        uplink.start()
    deadline = time.monotonic() + shard.timeout_s
    # Each outbox holds its backlog alone, so it is empty once its uplink has had every row
    # confirmed: a counter to watch, where asking fifty outboxes for their depth fifty times
    # a second was most of this process's CPU.
    waiting = uplinks
    while waiting and time.monotonic() < deadline:
        waiting = [uplink for uplink in waiting if uplink.confirmed < shard.backlog]
        if waiting:
            time.sleep(_POLL_S)
    drained_at, cpu = time.monotonic(), time.process_time() - cpu
    for uplink in uplinks:
        uplink.stop()
    stats = {fleet_device(i)[1]: outbox.stats() for i, outbox in outboxes.items()}
    for outbox in outboxes.values():
        outbox.close()
    reports.put(
        ShardReport(
            issued={device: (s.first_seq, s.next_seq) for device, s in stats.items()},
            left=sum(s.depth for s in stats.values()),
            drained_at=drained_at,
            cpu_s=cpu,
        )
    )


def _receive(reports: mp.Queue[Any], children: list[Any], timeout_s: float) -> Any:
    """The next report; a child that died instead of reporting ends the bench with a line."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return reports.get(timeout=0.2)
        except queue.Empty:
            failed = [c.exitcode for c in children if c.exitcode not in {None, 0}]
            if failed:
                raise DrainBenchError(
                    f"drain bench: a fleet process failed (exit code {failed[0]}); see above"
                ) from None
    raise DrainBenchError(f"drain bench: the fleet did not report within {timeout_s:.0f} s")


@dataclass(frozen=True, slots=True)
class FleetRun:
    boxes: int
    readings: int
    drain_s: float  # every box reconnecting -> every outbox empty
    report: ShardReport  # the shards' reports merged
    cloud_cpu_s: float  # the ingest workers' CPU during the drain


def run_fleet(
    ctx: Any, *, host: str, port: int, folder: Path, boxes: int, backlog: int, processes: int,
    timeout_s: float, cloud_pids: tuple[int, ...] = (),
) -> FleetRun:  # fmt: skip
    """Fill every box's outbox in ``processes`` children, then reconnect them all at once."""
    go = ctx.Event()
    reports: mp.Queue[Any] = ctx.Queue()
    shards = [
        Shard(host, port, folder, tuple(range(p, boxes, processes)), backlog, timeout_s)
        for p in range(min(processes, boxes))
    ]
    children = [ctx.Process(target=run_shard, args=(s, go, reports)) for s in shards]
    for child in children:
        child.start()
    done: list[ShardReport] = []
    try:
        for _ in children:
            _receive(reports, children, timeout_s)  # "ready"
        started, cloud_cpu = time.monotonic(), sum(map(cpu_s, cloud_pids))
        go.set()
        done = [_receive(reports, children, timeout_s + 60) for _ in children]
        cloud_cpu = sum(map(cpu_s, cloud_pids)) - cloud_cpu  # a little past the drain
    finally:
        for child in children:  # after a failure, the others are not waited for
            child.join(timeout=60 if len(done) == len(children) else 0)
            if child.is_alive():
                child.kill()
    merged = ShardReport(
        issued={device: seqs for r in done for device, seqs in r.issued.items()},
        left=sum(r.left for r in done),
        drained_at=max(r.drained_at for r in done),
        cpu_s=sum(r.cpu_s for r in done),
    )
    return FleetRun(boxes, boxes * backlog, merged.drained_at - started, merged, cloud_cpu)
