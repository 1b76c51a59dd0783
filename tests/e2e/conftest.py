"""End-to-end wiring: a real broker, a migrated cloud database with ingest, and edge devices."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, text

from cloud.core.db import make_engine
from cloud.ingest.store import IngestStore
from cloud.ingest.worker import IngestStats, IngestWorker, MqttEndpoint
from edge.clock import utc_now
from edge.outbox import NewReading, Outbox
from edge.uplink import BrokerEndpoint, SendPolicy, Uplink
from ops.broker.process import BrokerProcess
from tests.helpers import wait_for

# Machines running the suite are slow and shared: deadlines are generous, never sleeps.
TIMEOUT = 60.0
VENUE = "v1"
_INGEST_CLIENT_ID = "yz-ingest-e2e"
_PROBE_TOPIC = "yz/v1/probe/probe/state"


def reading_items(first_seq: int, count: int, *, value: float = 4.5) -> list[dict[str, Any]]:
    """Wire-format readings with consecutive seqs, as a device would put them in a batch."""
    ts = datetime.now(UTC).isoformat()
    return [
        {"seq": seq, "ts": ts, "metric": "temperature_c", "value": value, "sensor": "fridge"}
        for seq in range(first_seq, first_seq + count)
    ]


def batch_payload(device: str, items: list[dict[str, Any]], *, v: int = 1) -> bytes:
    return json.dumps({"v": v, "device": device, "items": items}).encode()


@dataclass(frozen=True, slots=True)
class RejectedRow:
    topic: str
    device_id: str | None
    seq: int | None
    field_path: str
    reason: str


class RawClient:
    """A bare paho client on the test broker: publishes anything, records what it receives."""

    def __init__(self, broker: BrokerProcess, client_id: str) -> None:
        self.received: list[mqtt.MQTTMessage] = []
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        self._client.on_message = lambda _c, _u, message: self.received.append(message)
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published(), f"the broker did not PUBACK a publish on {topic}"

    def subscribe(self, topic_filter: str) -> None:
        subscribed: list[bool] = []
        self._client.on_subscribe = lambda *_args: subscribed.append(True)
        self._client.subscribe(topic_filter, qos=1)
        wait_for(lambda: subscribed, timeout=TIMEOUT, message=f"no SUBACK for {topic_filter}")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@dataclass(slots=True)
class Cloud:
    """The cloud side of a test: one database and the ingest worker that fills it."""

    engine: Engine
    broker: BrokerProcess
    raw: RawClient
    worker: IngestWorker | None = None
    _probes: Iterator[int] = field(default_factory=itertools.count)

    @property
    def stats(self) -> IngestStats:
        assert self.worker is not None, "ingest is not running"
        return self.worker.stats

    def start(self) -> IngestWorker:
        """Start ingest (again, with the same client id) and return once it is subscribed."""
        assert self.worker is None, "ingest is already running"
        clock = lambda: datetime.now(UTC)  # noqa: E731
        self.worker = IngestWorker(
            IngestStore(self.engine, clock=clock),
            endpoint=MqttEndpoint(self.broker.host, self.broker.port, _INGEST_CLIENT_ID),
            clock=clock,
        )
        self.worker.start()
        self._wait_subscribed(self.worker)
        return self.worker

    def _wait_subscribed(self, worker: IngestWorker) -> None:
        # CONNACK comes before SUBACK, and a message published in between would be dropped
        # by the broker. A probe state message that reaches the worker proves the filters.
        wait_for(lambda: worker.stats.connected, timeout=TIMEOUT, message="ingest never connected")
        before = worker.stats.received
        ts = (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=next(self._probes))).isoformat()
        probe = {"v": 1, "device": "probe", "status": "online", "ts": ts}

        def probed() -> bool:
            if worker.stats.received > before:
                return True
            self.raw.publish(_PROBE_TOPIC, json.dumps(probe).encode())
            return False

        wait_for(probed, timeout=TIMEOUT, interval=0.2, message="ingest never subscribed")

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def _scalars(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).scalars())

    def count_readings(self, device: str) -> int:
        rows = self._scalars("SELECT count(*) FROM reading WHERE device_id = :d", d=device)
        return int(rows[0])

    def count_distinct(self, device: str) -> int:
        rows = self._scalars(
            "SELECT count(DISTINCT seq) FROM reading WHERE device_id = :d", d=device
        )
        return int(rows[0])

    def seqs(self, device: str) -> list[int]:
        """Stored reading seqs of a device, sorted, one entry per stored row."""
        return self._scalars("SELECT seq FROM reading WHERE device_id = :d ORDER BY seq", d=device)

    def all_seqs(self, device: str) -> list[int]:
        """Stored reading and event seqs of a device (one counter for both), sorted."""
        return sorted(
            self.seqs(device)
            + self._scalars("SELECT seq FROM device_event WHERE device_id = :d", d=device)
        )

    def rejected(self) -> list[RejectedRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT topic, device_id, seq, field_path, reason"
                    " FROM rejected_message ORDER BY id"
                )
            ).all()
        return [RejectedRow(*row) for row in rows]


@pytest.fixture
def cloud_engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def raw_client(broker: BrokerProcess) -> Iterator[RawClient]:
    client = RawClient(broker, "yz-e2e-raw")
    yield client
    client.close()


@pytest.fixture
def idle_cloud(
    cloud_engine: Engine, broker: BrokerProcess, raw_client: RawClient
) -> Iterator[Cloud]:
    """The cloud database and its wiring, with ingest not running yet (call ``start()``)."""
    cloud = Cloud(cloud_engine, broker, raw_client)
    yield cloud
    cloud.stop()


@pytest.fixture
def cloud(idle_cloud: Cloud) -> Cloud:
    """A migrated database with an ingest worker subscribed on the test broker."""
    idle_cloud.start()
    return idle_cloud


@dataclass(slots=True)
class Edge:
    """One in-process device: its durable outbox and the uplink draining it."""

    device: str
    path: Path
    outbox: Outbox
    uplink: Uplink

    def append_readings(self, count: int, *, chunk: int = 100) -> None:
        """Append ``count`` readings in transactions of ``chunk``, waking the sender each time."""
        for start in range(0, count, chunk):
            now = utc_now()
            items = [
                NewReading(now, "temperature_c", 4.0 + (start + i) % 7, "fridge")
                for i in range(min(chunk, count - start))
            ]
            self.outbox.append(items)
            self.uplink.wake()

    def issued(self) -> list[int]:
        stats = self.outbox.stats()
        return list(range(stats.first_seq, stats.next_seq))

    def count_sent(self) -> int:
        """Rows the broker PUBACKed that the cloud has not confirmed (kept in memory)."""
        return self.outbox.sent()


EdgeFactory = Callable[..., Edge]


@pytest.fixture
def edge(broker: BrokerProcess, tmp_path: Path) -> Iterator[EdgeFactory]:
    """Build started in-process devices: ``edge("d1", resend_after=2.0)``."""
    made: list[Edge] = []

    def make(
        device: str = "d1", *, resend_after: float = 2.0, max_resend_after: float = 600.0
    ) -> Edge:
        path = tmp_path / "edge" / f"{device}-outbox.db"
        outbox = Outbox(path, clock=utc_now)
        uplink = Uplink(
            outbox,
            venue=VENUE,
            device=device,
            endpoint=BrokerEndpoint(broker.host, broker.port),
            clock=utc_now,
            policy=SendPolicy(
                resend_after=timedelta(seconds=resend_after),
                max_resend_after=timedelta(seconds=max_resend_after),
            ),
        )
        node = Edge(device, path, outbox, uplink)
        made.append(node)
        uplink.start()
        return node

    yield make
    for node in made:
        node.uplink.stop()
        node.outbox.close()
