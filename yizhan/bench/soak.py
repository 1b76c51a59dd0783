"""`yizhan bench soak`: a simulated fleet against two ingest workers for minutes, then an audit.

Real Mosquitto, real database, two `yizhan cloud ingest --group` processes sharing the
stream, and real edge agents on firmware_sim hardware. While the fleet samples, each
worker's resident memory and stored count are read every few seconds. Then sampling
stops, the outboxes drain, everything stops cleanly, and the database is checked: every
sequence number each outbox issued is stored exactly once.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import bindparam, text
from sqlalchemy.engine import make_url

from ops.broker.process import BrokerOptions, BrokerProcess, free_port
from yizhan.bench.ingest import migrate
from yizhan.bench.soak_fleet import Fleet, FleetPlan, FleetReport
from yizhan.bench.soak_worker import IngestProcess, WorkerEndpoints, wait_subscribed
from yizhan.bench.storage import measure_storage

GROUP: Final = "soak"
WORKER_IDS: Final = ("yz-ingest-a", "yz-ingest-b")
MAX_GROWTH: Final = 0.10  # the bar: memory flat, no growth beyond 10 %
# Python's allocator and psycopg's caches settle in the first minute or so: the baseline is
# the median over _BASELINE_SHARE of the run starting after _WARM_UP_SHARE of it (and not
# before _WARM_UP_MIN_S, or half of a run shorter than that), the final figure the median
# over the last _FINAL_SHARE.
_WARM_UP_SHARE: Final = 0.2
_WARM_UP_MIN_S: Final = 60.0
_BASELINE_SHARE: Final = 0.1
_FINAL_SHARE: Final = 0.1
_SAMPLES: Final = 200  # memory samples over a run: every 3 s for ten minutes
_MIN_PERIOD_S: Final = 0.25
_MAX_PERIOD_S: Final = 3.0
_SERIES_POINTS: Final = 60  # what the JSON keeps of each series
_MIN_BIN_S: Final = 5.0  # a stored-rate bin spans many sampling ticks of every agent
_START_S: Final = 60.0  # workers connected and subscribed
_DRAIN_S: Final = 180.0  # outboxes empty after sampling stops


class SoakError(RuntimeError):
    """The soak could not run to the end (a worker died, the fleet never drained)."""


@dataclass(frozen=True, slots=True)
class SoakOptions:
    seconds: float
    database_url: str
    devices: int = 24
    # Each agent's sample_interval_s: 24 hubs every 0.5 s store ~430 items/s, which keeps
    # the fleet under half a core and each worker under a tenth of one on a 2-core machine.
    interval_s: float = 0.5
    devices_per_venue: int = 4


@dataclass(frozen=True, slots=True)
class _Sample:
    t: float  # seconds since the fleet started
    rss_kb: tuple[int | None, ...]  # per worker
    stored: tuple[float, ...]  # per worker, cumulative


def _wait(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()  # never set: the bounded pause between checks
    while not predicate():
        if time.monotonic() > deadline:
            raise SoakError(f"soak: {what} (waited {timeout:.0f}s)")
        pause.wait(0.2)


def _check_alive(workers: list[IngestProcess]) -> None:
    for worker in workers:
        if not worker.alive():
            raise SoakError(f"soak: ingest worker {worker.client_id} exited:\n{worker.tail()}")


def _observe(workers: list[IngestProcess], *, seconds: float) -> list[_Sample]:
    """Read each worker's RSS and stored count on a fixed period until ``seconds`` pass."""
    period = min(max(seconds / _SAMPLES, _MIN_PERIOD_S), _MAX_PERIOD_S)
    pause = threading.Event()  # never set: the pause until the next sample is due
    samples: list[_Sample] = []
    t0 = time.monotonic()
    while (elapsed := time.monotonic() - t0) < seconds:
        _check_alive(workers)
        samples.append(
            _Sample(
                elapsed,
                tuple(w.rss_kb() for w in workers),
                tuple(w.metrics().get("stored_total", 0.0) for w in workers),
            )
        )
        pause.wait(max(0.0, t0 + len(samples) * period - time.monotonic()))
    return samples


def _window_median(samples: list[_Sample], index: int, start: float, end: float) -> float | None:
    values = [s.rss_kb[index] for s in samples if start <= s.t <= end]
    present = [v for v in values if v is not None]
    return statistics.median(present) / 1024 if present else None


def _memory(samples: list[_Sample], index: int, seconds: float) -> dict[str, Any]:
    """Baseline after the warm-up, final over the last tenth, and the growth between them."""
    warm = max(_WARM_UP_SHARE * seconds, min(_WARM_UP_MIN_S, 0.5 * seconds))
    baseline = _window_median(samples, index, warm, warm + _BASELINE_SHARE * seconds)
    final = _window_median(samples, index, (1 - _FINAL_SHARE) * seconds, seconds)
    growth = final / baseline - 1 if baseline and final else None
    series = [s for s in _downsample(samples) if s.rss_kb[index] is not None]
    return {
        "baseline_mib": round(baseline, 1) if baseline else None,
        "final_mib": round(final, 1) if final else None,
        "growth": round(growth, 4) if growth is not None else None,
        "baseline_window_s": [round(warm), round(warm + _BASELINE_SHARE * seconds)],
        "rss_mib": [[round(s.t, 1), round((s.rss_kb[index] or 0) / 1024, 1)] for s in series],
    }


def _downsample(samples: list[_Sample]) -> list[_Sample]:
    step = max(1, len(samples) // _SERIES_POINTS)
    return samples[::step]


def _stored_rates(samples: list[_Sample], seconds: float) -> list[list[float]]:
    """Items stored per second by both workers, over bins long enough to span many ticks."""
    width = max(seconds / _SERIES_POINTS, _MIN_BIN_S)
    rates, start = [], samples[0] if samples else None
    for sample in samples[1:]:
        if start is not None and sample.t - start.t >= width:
            stored = sum(sample.stored) - sum(start.stored)
            rates.append([round(sample.t, 1), round(stored / (sample.t - start.t), 1)])
            start = sample
    return rates


# Readings and events share one sequence counter per device, so a seq is issued once
# across both tables.
_PER_DEVICE: Final = """
SELECT count(DISTINCT CASE WHEN seq >= :lo AND seq < :hi THEN seq END),
       count(CASE WHEN seq < :lo OR seq >= :hi THEN 1 END)
FROM (SELECT seq FROM reading WHERE device_id IN :ids
      UNION ALL SELECT seq FROM device_event WHERE device_id IN :ids) AS s
"""
_TWICE: Final = """
SELECT count(*) FROM (
    SELECT device_id, seq
    FROM (SELECT device_id, seq FROM reading WHERE device_id IN :ids
          UNION ALL SELECT device_id, seq FROM device_event WHERE device_id IN :ids) AS s
    GROUP BY device_id, seq HAVING count(*) > 1
) AS twice
"""
# Repeats of one refusal within a minute share a row and its count (issue 15).
_REFUSED: Final = "SELECT coalesce(sum(count), 0) FROM rejected_message WHERE device_id IN :ids"


def audit(database_url: str, report: FleetReport) -> dict[str, int]:
    """Issued vs stored per device, over both tables that one sequence counter feeds."""
    from cloud.core.db import make_engine  # noqa: PLC0415 - the bench imports the cloud lazily

    per_device = text(_PER_DEVICE).bindparams(bindparam("ids", expanding=True))
    twice = text(_TWICE).bindparams(bindparam("ids", expanding=True))
    refused = text(_REFUSED).bindparams(bindparam("ids", expanding=True))
    engine = make_engine(database_url)
    stored = stray = 0
    try:
        with engine.connect() as conn:
            for device, (first, end) in report.issued.items():
                inside, outside = conn.execute(
                    per_device, {"ids": [device], "lo": first, "hi": end}
                ).one()
                stored, stray = stored + inside, stray + outside
            devices = {"ids": list(report.issued)}
            duplicates = conn.execute(twice, devices).scalar_one()
            rejected = conn.execute(refused, devices).scalar_one()
    finally:
        engine.dispose()
    issued = sum(end - first for first, end in report.issued.values())
    return {
        "issued": issued,
        "stored": stored,
        "lost": issued - stored,  # outbox overflow drops (report.dropped) count here too
        "duplicates": duplicates,
        "outside_issued": stray,  # stored under a fleet device but never issued: a bug
        "rejected": rejected,
        "dropped": report.dropped,
        "unconfirmed_at_stop": report.unconfirmed_at_stop,
    }


@contextlib.contextmanager
def _workers(endpoints: WorkerEndpoints) -> Iterator[list[IngestProcess]]:
    workers: list[IngestProcess] = []
    try:
        workers.extend(IngestProcess(client_id, endpoints) for client_id in WORKER_IDS)
        yield workers
    finally:
        for worker in workers:
            worker.stop()


@dataclass(frozen=True, slots=True)
class _Observed:
    samples: list[_Sample]
    cpu_s: list[float]  # per worker, CPU seconds spent while the fleet sampled


def _observe_load(workers: list[IngestProcess], *, seconds: float) -> _Observed:
    before = [w.cpu_s() or 0.0 for w in workers]
    samples = _observe(workers, seconds=seconds)
    after = [w.cpu_s() or 0.0 for w in workers]
    return _Observed(samples, [b - a for a, b in zip(before, after, strict=True)])


def _worker_figures(
    workers: list[IngestProcess], observed: _Observed, *, seconds: float
) -> dict[str, Any]:
    """Per worker: what it says it stored when it stopped, its CPU share and its memory.

    The stored count is the one the worker printed on SIGTERM; should that line be missing,
    the last ``/metrics`` scrape stands in (it misses at most the drain).
    """
    scraped = observed.samples[-1].stored if observed.samples else (0.0,) * len(workers)
    return {
        worker.client_id: {
            "stored": (worker.final or {}).get("stored", int(scraped[index])),
            "duplicates": (worker.final or {}).get("duplicates"),
            "cpu_share_of_core": round(observed.cpu_s[index] / seconds, 3),
            **_memory(observed.samples, index, seconds),
        }
        for index, worker in enumerate(workers)
    }


def run_soak(options: SoakOptions) -> dict[str, Any]:
    """Run the soak (see the module docstring) and return its figures."""
    from cloud.core.db import normalize_url  # noqa: PLC0415

    url = normalize_url(options.database_url)
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="yz-soak-")))
        broker = BrokerProcess(
            BrokerOptions(port=free_port(), data_dir=work / "broker", prefer="mosquitto")
        )
        broker.start()
        stack.callback(broker.stop)
        migrate(url)
        workers = stack.enter_context(
            _workers(WorkerEndpoints(url, broker.host, broker.port, GROUP, work))
        )
        wait_subscribed(broker, workers, timeout=_START_S, check=lambda: _check_alive(workers))
        plan = FleetPlan(
            devices=options.devices,
            devices_per_venue=options.devices_per_venue,
            interval_s=options.interval_s,
            mqtt_port=broker.port,
            data_dir=work / "edge",
        )
        fleet = stack.enter_context(Fleet.started(plan))
        observed = _observe_load(workers, seconds=options.seconds)
        fleet.stop_sampling()
        _wait(fleet.drained, timeout=_DRAIN_S, what="the agents' outboxes never drained")
        report = fleet.stop()
        for worker in workers:
            worker.stop()  # SIGTERM: the worker commits, disconnects and prints its counters
        figures = audit(url, report)
        per_worker = _worker_figures(workers, observed, seconds=options.seconds)
        return {
            "seconds": options.seconds,
            "devices": options.devices,
            "venues": len({venue for venue, _device in report.devices}),
            "interval_s": options.interval_s,
            "broker": broker.kind,
            "database": make_url(url).get_backend_name(),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "readings_sent": sum(report.confirmed.values()),
            "confirmed_per_agent": report.confirmed,
            **figures,
            "stored_per_s": round(figures["stored"] / options.seconds, 1),
            "stored_rate_series": _stored_rates(observed.samples, options.seconds),
            "workers": per_worker,
            "both_workers_stored": all((w["stored"] or 0) > 0 for w in per_worker.values()),
            "storage": measure_storage(url),
        }
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow


def main(
    *,
    json: bool = False,
    seconds: float = 600.0,
    database_url: str,
    devices: int = 24,
    interval_s: float = 0.5,
) -> dict[str, Any]:
    """Print the figures for a person, then (with ``json``) one JSON line last."""
    result = run_soak(
        SoakOptions(
            seconds=seconds, database_url=database_url, devices=devices, interval_s=interval_s
        )
    )
    lines = [
        (
            f"soak: {result['devices']} devices in {result['venues']} venues every "
            f"{result['interval_s']:g}s for {result['seconds']:g}s, 2 ingest workers, "
            f"{result['database']} on {result['broker']}"
        ),
        (
            f"  issued {result['issued']:,}, stored {result['stored']:,} "
            f"({result['stored_per_s']:,}/s), lost {result['lost']}, "
            f"duplicates {result['duplicates']}"
        ),
    ]
    for client_id, worker in result["workers"].items():
        lines.append(
            f"  {client_id}: stored {worker['stored']}, RSS {worker['baseline_mib']} -> "
            f"{worker['final_mib']} MiB (growth {worker['growth']}), "
            f"{worker['cpu_share_of_core']:.0%} of a core"
        )
    out = "\n".join(lines)
    if json:
        out += "\n" + jsonlib.dumps(result)
    print(out)  # noqa: T201 - a benchmark's report is its output
    return result
