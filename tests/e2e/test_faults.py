"""Kill the broker or the edge mid-stream: every issued reading is still stored exactly once."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops.broker.process import BrokerProcess
from tests.e2e.conftest import TIMEOUT, VENUE, Cloud, EdgeFactory
from tests.helpers import wait_for

N = 3000
THIRD = N // 3


def test_broker_killed_mid_stream(cloud: Cloud, edge: EdgeFactory, broker: BrokerProcess) -> None:
    device = edge("d1", resend_after=2.0)
    device.append_readings(THIRD)
    wait_for(
        lambda: cloud.count_readings("d1") >= THIRD // 3,
        timeout=TIMEOUT,
        message="nothing stored before the broker was to be killed",
    )

    broker.kill()
    device.append_readings(THIRD)  # the box keeps sampling while the broker is gone
    broker.restart()
    device.append_readings(N - 2 * THIRD)

    wait_for(
        lambda: device.outbox.stats().depth == 0,
        timeout=TIMEOUT,
        message="the outbox never drained after the broker came back",
    )
    assert cloud.count_readings("d1") == cloud.count_distinct("d1") == N
    assert cloud.seqs("d1") == device.issued()
    assert device.outbox.stats().dropped == 0
    assert cloud.rejected() == []


@dataclass(frozen=True, slots=True)
class OutboxFile:
    """An edge agent's outbox, read straight from its SQLite file like another process would."""

    path: Path

    def _scalar(self, sql: str) -> int:
        with contextlib.closing(sqlite3.connect(self.path, timeout=TIMEOUT)) as db:
            return int(db.execute(sql).fetchone()[0])

    def depth(self) -> int:
        return self._scalar("SELECT count(*) FROM outbox")

    def seqs(self) -> set[int]:
        with contextlib.closing(sqlite3.connect(self.path, timeout=TIMEOUT)) as db:
            return {int(row[0]) for row in db.execute("SELECT seq FROM outbox")}

    def meta(self, key: str) -> int:
        return self._scalar(f"SELECT value FROM meta WHERE key = '{key}'")

    def issued(self) -> list[int]:
        return list(range(self.meta("first_seq"), self.meta("next_seq")))


EdgeRunner = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def run_edge(broker: BrokerProcess, tmp_path: Path) -> Iterator[EdgeRunner]:
    """Start `python -m yizhan edge run` as a child process; every child is reaped after."""
    children: list[subprocess.Popen[bytes]] = []

    def run(
        device: str, data_dir: Path, *, sample_interval: float = 0.05
    ) -> subprocess.Popen[bytes]:
        argv = [
            sys.executable, "-m", "yizhan", "edge", "run",
            "--venue", VENUE, "--device", device, "--data-dir", str(data_dir),
            "--mqtt-host", "127.0.0.1", "--mqtt-port", str(broker.port),
            "--sample-interval", str(sample_interval), "--resend-after", "2",
            "--sim-profile", "outdoor-station", "--sim-speed", "600",
        ]  # fmt: skip
        log = tmp_path / f"edge-{device}-{len(children)}.log"
        with log.open("wb") as out:
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        children.append(child)
        return child

    yield run
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()


def _stop(child: subprocess.Popen[bytes]) -> int:
    child.send_signal(signal.SIGTERM)
    return child.wait(timeout=TIMEOUT)


def test_edge_sigkilled_mid_send(cloud: Cloud, run_edge: EdgeRunner, tmp_path: Path) -> None:
    data_dir = tmp_path / "edge-data"
    outbox = OutboxFile(data_dir / "e1-outbox.db")

    first = run_edge("e1", data_dir)
    wait_for(
        # In flight is in the box's memory; rows still in its file are what it has not
        # had confirmed yet (sampling every 50 ms, some always are).
        lambda: cloud.count_readings("e1") >= 200 and outbox.depth() > 0,
        timeout=TIMEOUT,
        message="the edge never stored readings with more still queued",
    )
    first.kill()
    first.wait(timeout=TIMEOUT)
    stored_at_kill = cloud.count_readings("e1")

    second = run_edge("e1", data_dir)
    wait_for(
        lambda: cloud.count_readings("e1") >= stored_at_kill + 200,
        timeout=TIMEOUT,
        message="the restarted edge stored nothing more",
    )
    assert _stop(second) == 0, "the edge did not exit cleanly on SIGTERM"

    # Stopped, every issued seq is in exactly one place or both: stored or still queued.
    issued = outbox.issued()
    stored = cloud.all_seqs("e1")
    assert len(stored) == len(set(stored)), "a seq was stored twice"
    assert outbox.meta("dropped") == 0
    assert set(stored) | outbox.seqs() == set(issued)

    # A third run that samples once and then only sends drains what is left.
    drain = run_edge("e1", data_dir, sample_interval=3600)
    wait_for(
        lambda: outbox.meta("next_seq") > issued[-1] + 1 and outbox.depth() == 0,
        timeout=TIMEOUT,
        message="the edge never drained its outbox",
    )
    assert _stop(drain) == 0

    issued = outbox.issued()
    stored = cloud.all_seqs("e1")
    assert outbox.depth() == 0
    assert len(issued) - outbox.meta("dropped") == len(stored)
    assert stored == issued
    assert cloud.rejected() == []
