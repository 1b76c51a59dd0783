"""Two ingest workers share the stream ($share/…, MQTT 5); SIGKILL one mid-run, lose nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from cloud.core.db import make_engine
from cloud.migrate import upgrade
from ops.broker.process import BrokerProcess
from tests.e2e.conftest import TIMEOUT, EdgeFactory
from tests.helpers import wait_for

pytestmark = [pytest.mark.mosquitto, pytest.mark.postgres]

GROUP = "e2e"
DEVICES = 4
PER_DEVICE = 1500

# A worker child: the real IngestWorker in its own process, reporting its stats to stdout
# so the test can tell that both members are subscribed and both are storing.
_WORKER = """
import sys, threading, signal
from datetime import UTC, datetime
from cloud.core.db import make_engine
from cloud.ingest.store import IngestStore
from cloud.ingest.worker import IngestWorker, MqttEndpoint
port, url, client_id, group = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
clock = lambda: datetime.now(UTC)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
worker = IngestWorker(
    IngestStore(make_engine(url), clock=clock),
    endpoint=MqttEndpoint("127.0.0.1", port, client_id, group=group),
    clock=clock,
)
worker.start()
while not stop.wait(0.1):
    s = worker.stats
    print(f"subscribed={int(s.subscribed)} stored={s.stored}", flush=True)
worker.stop()
"""


class WorkerProcess:
    def __init__(self, broker: BrokerProcess, url: str, client_id: str, log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _WORKER, str(broker.port), url, client_id, GROUP],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def _last(self) -> dict[str, int]:
        lines = [
            line
            for line in self.log.read_text(errors="replace").splitlines()
            if line.startswith("subscribed=")
        ]
        if not lines:
            return {}
        return {k: int(v) for k, v in (part.split("=") for part in lines[-1].split())}

    def subscribed(self) -> bool:
        return self._last().get("subscribed") == 1

    def stored(self) -> int:
        return self._last().get("stored", 0)


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def start_worker(
    broker: BrokerProcess, pg_url: str, tmp_path: Path
) -> Iterator[Callable[[str], WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(client_id: str) -> WorkerProcess:
        worker = WorkerProcess(broker, pg_url, client_id, tmp_path / f"{client_id}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
            try:
                worker.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()


def _stored_seqs(engine: Engine, device: str) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT seq FROM reading WHERE device_id = :d ORDER BY seq"), {"d": device}
        )
        return [int(seq) for seq in rows.scalars()]


@pytest.mark.slow
def test_sigkill_one_of_two_workers_loses_nothing_and_stores_nothing_twice(
    engine: Engine,
    broker: BrokerProcess,
    edge: EdgeFactory,
    start_worker: Callable[[str], WorkerProcess],
) -> None:
    assert broker.kind == "mosquitto"
    first, second = start_worker("yz-ingest-a"), start_worker("yz-ingest-b")
    wait_for(
        lambda: first.subscribed() and second.subscribed(),
        timeout=TIMEOUT,
        message="the two workers never both subscribed",
    )
    # Short resend_after: what the killed member held unacked comes back from the devices.
    devices = [edge(f"s{i}", resend_after=1.0) for i in range(DEVICES)]
    for device in devices:
        device.append_readings(PER_DEVICE // 3, chunk=50)
    wait_for(
        lambda: first.stored() > 0 and second.stored() > 0,
        timeout=TIMEOUT,
        message="the shared subscription never gave both workers work",
    )

    first.process.kill()  # SIGKILL mid-run: no clean disconnect, unacked messages in flight
    first.process.wait(timeout=TIMEOUT)
    for device in devices:
        device.append_readings(PER_DEVICE - PER_DEVICE // 3, chunk=50)

    wait_for(
        lambda: all(d.outbox.stats().depth == 0 for d in devices),
        timeout=TIMEOUT * 2,
        interval=0.2,
        message="the devices' outboxes never drained through the surviving worker",
    )
    for device in devices:
        stored = _stored_seqs(engine, device.device)
        assert len(stored) == len(set(stored)), f"{device.device}: a seq was stored twice"
        assert stored == device.issued(), f"{device.device}: stored differs from issued"
        assert len(stored) == PER_DEVICE
        assert device.outbox.stats().dropped == 0
