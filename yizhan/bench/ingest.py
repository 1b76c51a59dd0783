"""`yizhan bench ingest`: readings stored per second end to end, beside a bare subscriber's rate.

One run, one broker, the same load twice: first a bare paho subscriber takes the stream
(what the broker can deliver to a Python client at all), then the real ingest worker
(decode, validate, commit, PUBACK, storage ack). Publishers, subscriber and ingest are
separate processes so no GIL is shared between the load and what is measured.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import multiprocessing as mp
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ops.broker.process import BrokerOptions, BrokerProcess, free_port
from protocol.mqtt import stop_loop
from yizhan.bench.storage import measure_storage

VENUE: Final = "bench"
READINGS_PER_MESSAGE: Final = 3
# Unacknowledged messages each publisher process keeps in flight: enough to keep the
# broker busy, few enough that "as fast as the broker accepts" stays true.
_PUBLISH_WINDOW: Final = 400
_RECEIVE_MAXIMUM: Final = 20_000  # what the consumers let the broker push unacked (MQTT 5)
_SETTLE_S: Final = 20.0  # give up waiting for stragglers after this long without progress
_TELEMETRY: Final = f"yz/v1/{VENUE}/+/telemetry"
_INGEST_GROUP: Final = "bench"

# Shared slots a consumer child writes and the parent reads (no lock: one writer each).
_COUNT, _LAST, _READY = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Load:
    """What one publisher process sends: its devices, the first seq, the start time."""

    host: str
    port: int
    devices: tuple[str, ...]
    first_seq: int
    seconds: float


def _device(index: int) -> str:
    return f"bench-{index:04d}"


def _payload(device: str, seq: int, ts: str) -> bytes:
    items = ",".join(
        f'{{"seq":{seq + i},"ts":"{ts}","metric":"temperature_c","value":{4 + i}.5,'
        f'"sensor":"fridge"}}'
        for i in range(READINGS_PER_MESSAGE)
    )
    return f'{{"v":1,"device":"{device}","items":[{items}]}}'.encode()


def _connect_publishers(load: _Load) -> list[mqtt.Client]:
    clients = []
    for device in load.devices:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"yz-{device}", protocol=mqtt.MQTTv311
        )
        client.max_inflight_messages_set(_PUBLISH_WINDOW)
        client.max_queued_messages_set(0)
        client.connect(load.host, load.port)
        clients.append(client)
    return clients


def _publish(load: _Load, start: MpEvent, results: mp.Queue[dict[str, int]]) -> None:
    """Child: publish QoS 1 batches round-robin over the devices as fast as PUBACKs allow."""
    window = threading.BoundedSemaphore(_PUBLISH_WINDOW)
    clients = _connect_publishers(load)
    for client in clients:
        client.on_publish = lambda *_args: window.release()
        client.loop_start()
    sent = dict.fromkeys(load.devices, 0)
    ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    start.wait()
    deadline = time.monotonic() + load.seconds
    while time.monotonic() < deadline:
        for device, client in zip(load.devices, clients, strict=True):
            window.acquire()
            seq = load.first_seq + sent[device] * READINGS_PER_MESSAGE
            topic = f"yz/v1/{VENUE}/{device}/telemetry"
            info = client.publish(topic, _payload(device, seq, ts), 1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"{device}: publish failed: {mqtt.error_string(info.rc)}")
            sent[device] += 1
    for _ in range(_PUBLISH_WINDOW):  # every PUBACK is in: the broker holds all of it
        window.acquire()
    for client in clients:
        client.disconnect()
        stop_loop(client)
    results.put(sent)


def _v5_consumer(client_id: str) -> tuple[mqtt.Client, Properties]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.ReceiveMaximum = _RECEIVE_MAXIMUM
    return client, properties


def _raw_subscribe(host: str, port: int, stop: MpEvent, shared: Any) -> None:
    """Child: a bare paho subscriber (auto-ack) counting telemetry messages."""
    client, properties = _v5_consumer("yz-bench-raw")

    def on_message(_c: mqtt.Client, _u: Any, _m: mqtt.MQTTMessage) -> None:
        shared[_COUNT] += 1
        shared[_LAST] = time.monotonic()

    client.on_message = on_message
    client.on_subscribe = lambda *_args: shared.__setitem__(_READY, 1.0)
    client.on_connect = lambda c, *_args: c.subscribe(_TELEMETRY, qos=1)
    client.connect(host, port, properties=properties)
    client.loop_start()
    stop.wait()
    client.disconnect()
    stop_loop(client)


def _ingest(  # noqa: PLR0917 - multiprocessing hands args over positionally
    host: str, port: int, database_url: str, client_id: str, stop: MpEvent, shared: Any
) -> None:
    """Child: the real ingest worker, as `yizhan cloud ingest --group bench` runs it."""
    from cloud.core.db import make_engine  # noqa: PLC0415 - the child imports what it needs
    from cloud.ingest.store import IngestStore  # noqa: PLC0415
    from cloud.ingest.worker import IngestWorker, MqttEndpoint  # noqa: PLC0415

    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
    engine = make_engine(database_url)
    worker = IngestWorker(
        IngestStore(engine, clock=clock),
        endpoint=MqttEndpoint(host, port, client_id, group=_INGEST_GROUP),
        batch_size=2_000,
        queue_size=_RECEIVE_MAXIMUM,
        clock=clock,
    )
    worker.start()
    while not stop.wait(0.05):
        stats = worker.stats
        shared[_COUNT] = float(stats.stored)
        shared[_LAST] = stats.last_commit
        shared[_READY] = 1.0 if stats.subscribed else 0.0
    worker.stop()
    engine.dispose()


def _wait(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench: {what} (waited {timeout:.0f}s)")
        time.sleep(0.05)


def _total(shared: list[Any]) -> float:
    return float(sum(s[_COUNT] for s in shared))


def _settle(shared: list[Any], target: float) -> None:
    """Wait until the consumers have ``target`` or stop making progress."""
    seen, since = -1.0, time.monotonic()
    while _total(shared) < target:
        if _total(shared) != seen:
            seen, since = _total(shared), time.monotonic()
        elif time.monotonic() - since > _SETTLE_S:
            return
        time.sleep(0.05)


@dataclass(frozen=True, slots=True)
class _Phase:
    sent: dict[str, int]  # messages PUBACKed per device
    elapsed_s: float  # first publish to the consumer's last message/commit
    consumed: float  # messages (raw) or readings (ingest) the consumer counted


def _run_phase(
    ctx: Any,
    broker: BrokerProcess,
    *,
    consumer: Callable[..., None],
    consumer_args: list[tuple[Any, ...]],
    devices: int,
    publishers: int,
    seconds: float,
    first_seq: int,
    per_message: int,
) -> _Phase:
    stop, start = ctx.Event(), ctx.Event()
    shared = [ctx.Array("d", 3, lock=False) for _ in consumer_args]
    children = [
        ctx.Process(target=consumer, args=(*args, stop, slots), daemon=True)
        for args, slots in zip(consumer_args, shared, strict=True)
    ]
    for child in children:
        child.start()
    results: mp.Queue[dict[str, int]] = ctx.Queue()
    names = [_device(i) for i in range(devices)]
    loads = [
        _Load(broker.host, broker.port, tuple(names[p::publishers]), first_seq, seconds)
        for p in range(publishers)
        if names[p::publishers]
    ]
    pubs = [ctx.Process(target=_publish, args=(load, start, results)) for load in loads]
    try:
        _wait(
            lambda: all(s[_READY] == 1.0 for s in shared),
            timeout=60,
            what="a consumer never subscribed",
        )
        for pub in pubs:
            pub.start()
        t0 = time.monotonic()
        start.set()
        sent: dict[str, int] = {}
        for _ in pubs:
            sent.update(results.get(timeout=seconds + 120))
        _settle(shared, sum(sent.values()) * per_message)
        return _Phase(sent, max(s[_LAST] for s in shared) - t0, _total(shared))
    finally:
        stop.set()
        for process in [*pubs, *children]:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()


@contextlib.contextmanager
def _bench_database(database_url: str | None, work: Path) -> Iterator[str]:
    """A fresh database: a SQLite file, or a new database beside the one named (dropped after)."""
    from cloud.core.db import DatabaseUnreachableError, normalize_url, shown_url  # noqa: PLC0415

    if database_url is None:
        yield f"sqlite:///{work / 'cloud.db'}"
        return
    url = make_url(normalize_url(database_url))
    if url.get_backend_name() == "sqlite":
        raise ValueError("give no --database-url for SQLite: the bench uses a fresh file")
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"yizhan_bench_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:  # one line for the person, not a traceback
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatabaseUnreachableError(
            f"cannot use the database at {shown_url(database_url)}: {reason}; start it, or "
            "give --database-url one that answers"
        ) from None
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _stored(database_url: str, sent: dict[str, int], first_seq: int) -> tuple[int, int, int]:
    """(rows stored, duplicates stored, published readings missing) from the database."""
    from cloud.core.db import make_engine  # noqa: PLC0415

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT device_id, count(*), count(DISTINCT seq), min(seq), max(seq)"
                    " FROM reading GROUP BY device_id"
                )
            ).all()
    finally:
        engine.dispose()
    total = duplicates = lost = 0
    by_device = {row[0]: row[1:] for row in rows}
    for device, messages in sent.items():
        expected = messages * READINGS_PER_MESSAGE
        count, distinct, low, high = by_device.get(device, (0, 0, None, None))
        total += count
        duplicates += count - distinct
        inside = low is None or (low >= first_seq and high < first_seq + expected)
        lost += expected - distinct if inside else expected  # stray seqs count as all lost
    return total, duplicates, lost


def run_ingest_bench(
    *,
    seconds: float = 10.0,
    devices: int = 20,
    database_url: str | None = None,
    publishers: int = 2,
    workers: int = 2,
) -> dict[str, Any]:
    """Run both phases on one broker and return the figures (see module docstring)."""
    ctx = mp.get_context("spawn")
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="yz-bench-")))
        broker = BrokerProcess(BrokerOptions(port=free_port(), data_dir=work / "broker"))
        broker.start()
        stack.callback(broker.stop)
        url = stack.enter_context(_bench_database(database_url, work))
        migrate(url)
        raw = _run_phase(
            ctx, broker, consumer=_raw_subscribe, consumer_args=[(broker.host, broker.port)],
            first_seq=1, per_message=1, devices=devices, publishers=publishers, seconds=seconds,
        )  # fmt: skip
        first_seq = 1_000_000_000
        ingest = _run_phase(
            ctx, broker, consumer=_ingest,
            consumer_args=[
                (broker.host, broker.port, url, f"yz-bench-ingest-{n}") for n in range(workers)
            ],
            first_seq=first_seq, per_message=READINGS_PER_MESSAGE,
            devices=devices, publishers=publishers, seconds=seconds,
        )  # fmt: skip
        stored, duplicates, lost = _stored(url, ingest.sent, first_seq)
        storage = measure_storage(url)  # before the bench database is dropped
        raw_rate = raw.consumed * READINGS_PER_MESSAGE / max(raw.elapsed_s, 1e-9)
        rate = stored / max(ingest.elapsed_s, 1e-9)
        return {
            "database": make_url(url).get_backend_name(),
            "broker": broker.kind,
            "devices": devices,
            "ingest_workers": workers,
            "seconds": seconds,
            "published_readings": sum(ingest.sent.values()) * READINGS_PER_MESSAGE,
            "stored_readings": stored,
            "readings_per_s": round(rate),
            "raw_readings_per_s": round(raw_rate),
            "ratio": round(rate / raw_rate, 3) if raw_rate else 0.0,
            "lost": lost,
            "duplicates_stored": duplicates,
            "storage": storage,
        }
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow


def migrate(url: str) -> None:
    """Bring the bench's database to the newest schema (the soak uses it too)."""
    from cloud.core.db import make_engine  # noqa: PLC0415
    from cloud.migrate import upgrade  # noqa: PLC0415

    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def main(
    *,
    json: bool = False,
    seconds: float = 10.0,
    devices: int = 20,
    database_url: str | None = None,
    workers: int = 2,
) -> dict[str, Any]:
    """Print the figures for a person, then (with ``json``) one JSON line last."""
    result = run_ingest_bench(
        seconds=seconds, devices=devices, database_url=database_url, workers=workers
    )
    lines = [
        (
            f"ingest bench: {result['devices']} devices, {result['seconds']:g}s of load, "
            f"{result['ingest_workers']} ingest workers, "
            f"{result['database']} on {result['broker']}"
        ),
        f"  bare subscriber  {result['raw_readings_per_s']:>9,} readings/s",
        (
            f"  ingest (stored)  {result['readings_per_s']:>9,} readings/s  "
            f"(ratio {result['ratio']:.2f})"
        ),
        (
            f"  published {result['published_readings']:,}, stored {result['stored_readings']:,}, "
            f"lost {result['lost']}, duplicates stored {result['duplicates_stored']}"
        ),
    ]
    storage = result["storage"]
    if storage is not None:
        lines.append(
            f"  storage   {storage['rows']:,} readings in {storage['total_bytes']:,} bytes "
            f"({storage['index_bytes']:,} of it indexes): "
            f"{storage['bytes_per_reading']} bytes/reading"
        )
    out = "\n".join(lines)
    if json:
        out += "\n" + jsonlib.dumps(result)
    print(out)  # noqa: T201 - a benchmark's report is its output
    return result
