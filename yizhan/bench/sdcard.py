"""`yizhan bench sdcard`: what a day of a box's outbox writes to its SD card, per sync mode.

The same simulated day runs through the real ``edge.outbox.Outbox`` once per contender,
each in its own child process so the kernel's per-process I/O counters (/proc/self/io) count
that contender alone: ``NORMAL`` (WAL, synchronous=NORMAL plus synced sequence
reservations: what boxes run) beside ``FULL`` (every commit synced: what they ran before).
A clock steps through the day, so a day takes seconds; every round makes the outbox calls
the sampler and the uplink make: append a round's readings, a heartbeat, the door's
decisions, then claim, mark sent, confirm (the cloud stored them at once). Where strace is
installed the child runs under it and the fsync/fdatasync calls are counted too: each one
makes the card program a page.
"""

from __future__ import annotations

import json as jsonlib
import logging
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from edge.outbox import NewEvent, NewReading, Outbox
from edge.storage import Synchronous
from edge.uplink import SendPolicy

CONTENDERS: Final[tuple[Synchronous, ...]] = ("NORMAL", "FULL")
_START: Final = datetime(2026, 11, 21, tzinfo=UTC)
# What a sensor hub's sampler stores each round at default settings: outbox depth and
# dropped, people in and out, the meter's kWh, W and V, two thermometers (fridge, room).
_ROUND_METRICS: Final = (
    "outbox_depth", "outbox_dropped", "people_in", "people_out",
    "energy_kwh", "power_w", "voltage_v", "temperature_c", "temperature_c",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Day:
    """The simulated load: the edge's defaults, and a busy station's door."""

    hours: float = 24.0
    sample_interval_s: float = 60.0  # EdgeSettings.sample_interval_s
    heartbeat_interval_s: float = 60.0  # EdgeSettings.heartbeat_interval_s
    entries: int = 600  # door decisions a day (each one an access event)

    @property
    def rounds(self) -> int:
        return int(self.hours * 3600 / self.sample_interval_s)


def _io() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/io").read_text().splitlines():
        key, value = line.split(":")
        fields[key] = int(value)
    return fields


def _round_readings(now: datetime, index: int) -> list[NewReading | NewEvent]:
    return [NewReading(now, metric, 20.0 + index % 7) for metric in _ROUND_METRICS]


def _heartbeats_due(day: Day, index: int) -> int:
    """Heartbeats in round ``index``: the control plane appends each on its own."""
    per_round = day.sample_interval_s / day.heartbeat_interval_s
    return int((index + 1) * per_round) - int(index * per_round)


def _entries_due(day: Day, index: int) -> int:
    """Door decisions in round ``index``, spread evenly over the day."""
    per_round = day.entries / day.rounds
    return int((index + 1) * per_round) - int(index * per_round)


def simulate(path: Path, *, synchronous: Synchronous, day: Day) -> dict[str, int]:
    """Run the day through one outbox; the process's I/O counters over it."""
    now = _START
    policy = SendPolicy()
    outbox = Outbox(path, clock=lambda: now, synchronous=synchronous, boot_id=lambda: "bench")
    before, items, commits = _io(), 0, 0
    for index in range(day.rounds):
        now = _START + timedelta(seconds=index * day.sample_interval_s)
        outbox.append(_round_readings(now, index))
        commits += 1
        for _ in range(_heartbeats_due(day, index)):
            outbox.append([NewEvent(now, "device.heartbeat", {"uptime_s": index})])
            commits += 1
        for _ in range(_entries_due(day, index)):
            outbox.append([NewEvent(now, "access.decision", {"door": "main", "allowed": True})])
            commits += 1
        while rows := outbox.claim(limit=policy.batch_size, window=policy.window):
            outbox.mark_sent(row.seq for row in rows)
            outbox.confirm([(rows[0].seq, rows[-1].seq)])
            items += len(rows)
            commits += 1  # the delete; claiming and PUBACKs stay in memory
    after = _io()
    outbox.close()
    counted = {key: after[key] - before[key] for key in ("wchar", "syscw", "write_bytes")}
    return counted | {"items": items, "commits": commits}


def _child_main(argv: list[str]) -> None:
    path, synchronous, day = Path(argv[0]), argv[1], Day(**jsonlib.loads(argv[2]))
    if synchronous not in CONTENDERS:
        raise SystemExit(f"unknown contender {synchronous!r}")
    logged = _LogBytes()
    logging.getLogger().addHandler(logged)
    logging.getLogger().setLevel(logging.WARNING)  # the service's level
    result = simulate(path, synchronous=synchronous, day=day)
    print(jsonlib.dumps(result | {"log_bytes": logged.bytes}))  # noqa: T201 - to the parent


class _LogBytes(logging.Handler):
    """What the agent would send to the journal: formatted bytes at the service's level."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.bytes += len(self.format(record).encode()) + 1


def _syncs(trace: Path) -> int | None:
    if not trace.exists():
        return None
    calls = 0
    for line in trace.read_text().splitlines():
        parts = line.split()
        if parts and parts[-1] in {"fsync", "fdatasync"}:
            calls += int(parts[3])  # % time, seconds, usecs/call, calls, [errors,] name
    return calls


def run_contender(folder: Path, *, synchronous: Synchronous, day: Day) -> dict[str, object]:
    """One contender in a fresh child process (under strace when there is one)."""
    folder.mkdir(parents=True)
    trace = folder / "strace.txt"
    code = "import sys; from yizhan.bench.sdcard import _child_main; _child_main(sys.argv[1:])"
    child = [sys.executable, "-c", code, str(folder / "outbox.db"), synchronous,
             jsonlib.dumps(asdict(day))]  # fmt: skip
    strace = shutil.which("strace")
    if strace is not None:
        child = [strace, "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(trace), *child]
    done = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        child, capture_output=True, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {synchronous} contender failed: {done.stderr[-2000:]}")
    counted: dict[str, int] = jsonlib.loads(done.stdout.strip().splitlines()[-1])
    scale = 24.0 / day.hours
    return {
        "synchronous": synchronous,
        "bytes_written_per_day": round(counted["wchar"] * scale),
        "block_bytes_per_day": round(counted["write_bytes"] * scale),
        "write_calls_per_day": round(counted["syscw"] * scale),
        "syncs_per_day": None if (s := _syncs(trace)) is None else round(s * scale),
        "commits_per_day": round(counted["commits"] * scale),
        "items_per_day": round(counted["items"] * scale),
        "log_bytes_per_day": round(counted["log_bytes"] * scale),
    }


def measure(day: Day) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="yz-sdcard-") as tmp:
        results = [
            run_contender(Path(tmp) / name.lower(), synchronous=name, day=day)
            for name in CONTENDERS
        ]
    normal, full = results
    ratios = {}
    for key in ("bytes_written_per_day", "syncs_per_day", "write_calls_per_day"):
        a, b = normal[key], full[key]
        if isinstance(a, int) and isinstance(b, int) and b:
            ratios[f"{key}_normal_vs_full"] = round(a / b, 3)
    return {"bench": "sdcard", "day": asdict(day), "contenders": results, "ratios": ratios}


def main(*, json: bool, day: Day) -> None:
    result = measure(day)
    lines = [jsonlib.dumps(row) for row in result["contenders"]]  # type: ignore[attr-defined]
    if not json:
        lines.append(jsonlib.dumps(result["ratios"]))
    lines.append(jsonlib.dumps(result))
    print("\n".join(lines if not json else lines[-1:]))  # noqa: T201 - a benchmark's report
