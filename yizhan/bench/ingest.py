"""`yizhan bench ingest`: readings stored per second end to end, beside a bare subscriber's rate.

One run, one broker, the same load twice: first a bare paho subscriber takes the stream
(what the broker can deliver to a Python client at all), then the real ingest worker
(decode, validate, commit, PUBACK, storage ack). Publishers, subscriber and ingest are
separate processes so no GIL is shared between the load and what is measured.

The load is one of two mixes (yizhan/bench/ingest_load.py): three readings in every message,
or a fleet's realistic 1–11 items. Rates are given in items and in messages, and the CPU
ingest costs per stored item: its processes' and, on PostgreSQL, the database backends
serving them (read from /proc while the phase runs; null when they cannot be read).
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
from multiprocessing.synchronize import Semaphore as MpSemaphore
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
from yizhan.bench.ingest_load import Mix, items_per_message, items_sent, message
from yizhan.bench.members_world import cpu_s
from yizhan.bench.storage import measure_storage

VENUE: Final = "bench"
# Unacknowledged messages each publisher process keeps in flight: enough to keep the
# broker busy, few enough that "as fast as the broker accepts" stays true.
_PUBLISH_WINDOW: Final = 400
_RECEIVE_MAXIMUM: Final = 20_000  # what the consumers let the broker push unacked (MQTT 5)
_SETTLE_S: Final = 20.0  # give up waiting for stragglers after this long without progress
_UPLINK: Final = f"yz/v1/{VENUE}/+/+"  # what the publishers send: telemetry and events
_CPU_EVERY_S: Final = 0.25  # how often the CPU meter reads /proc
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
    mix: Mix


def _device(index: int) -> str:
    return f"bench-{index:04d}"


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


def _publish(
    load: _Load, ready: MpSemaphore, start: MpEvent, results: mp.Queue[dict[str, int]]
) -> None:
    """Child: publish QoS 1 batches round-robin over the devices as fast as PUBACKs allow."""
    window = threading.BoundedSemaphore(_PUBLISH_WINDOW)
    clients = _connect_publishers(load)
    for client in clients:
        client.on_publish = lambda *_args: window.release()
        client.loop_start()
    sent = dict.fromkeys(load.devices, 0)
    seqs = dict.fromkeys(load.devices, load.first_seq)
    ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    ready.release()  # connected: the clock starts once every publisher is
    start.wait()
    deadline = time.monotonic() + load.seconds
    while time.monotonic() < deadline:
        for device, client in zip(load.devices, clients, strict=True):
            window.acquire()
            kind, payload, items = message(load.mix, sent[device], device, seqs[device], ts)
            info = client.publish(f"yz/v1/{VENUE}/{device}/{kind}", payload, 1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"{device}: publish failed: {mqtt.error_string(info.rc)}")
            sent[device] += 1
            seqs[device] += items
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
    """Child: a bare paho subscriber (auto-ack) counting the devices' messages."""
    client, properties = _v5_consumer("yz-bench-raw")

    def on_message(_c: mqtt.Client, _u: Any, _m: mqtt.MQTTMessage) -> None:
        shared[_COUNT] += 1
        shared[_LAST] = time.monotonic()

    client.on_message = on_message
    client.on_subscribe = lambda *_args: shared.__setitem__(_READY, 1.0)
    client.on_connect = lambda c, *_args: c.subscribe(_UPLINK, qos=1)
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
    while not stop.wait(0.2):  # the harness's own share of the CPU meter: small
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


class _CpuMeter:
    """CPU seconds a changing set of processes uses from ``start`` to ``stop``.

    Read from /proc every quarter second, so a process that ends in between (a database
    backend whose connection closed) still counts what it used until its last reading. A
    process first seen after ``start`` counts from zero. ``None`` when /proc cannot tell (a
    database on another host, a system without /proc).
    """

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self._pids = pids
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="bench-cpu", daemon=True)
        self.failed = False

    def _read(self, *, first: bool = False) -> None:
        try:
            pids = self._pids()
        except Exception:  # noqa: BLE001 - a meter that cannot read reports None, not a crash
            self.failed = True
            return
        for pid in pids:
            try:
                used = cpu_s(pid)
            except (OSError, ValueError, IndexError):
                if first:
                    self.failed = True
                continue  # gone between listing and reading: its last reading stands
            self._last[pid] = used
            if first:
                self._first[pid] = used

    def _watch(self) -> None:
        while not self._stop.wait(_CPU_EVERY_S):
            self._read()

    def start(self) -> None:
        self._read(first=True)
        self._thread.start()

    def stop(self) -> float | None:
        self._read()
        self._stop.set()
        self._thread.join()
        if self.failed:
            return None
        return sum(used - self._first.get(pid, 0.0) for pid, used in self._last.items())


def _backends(database_url: str, stack: contextlib.ExitStack) -> Callable[[], list[int]]:
    """The pids of the PostgreSQL backends serving ``database_url``'s database (not ours);
    nothing for SQLite, which runs inside the ingest processes."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return list
    import psycopg  # noqa: PLC0415

    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = stack.enter_context(psycopg.connect(libpq, autocommit=True))

    def pids() -> list[int]:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (url.database,),
        ).fetchall()
        return [int(row[0]) for row in rows]

    return pids


@dataclass(frozen=True, slots=True)
class _Phase:
    sent: dict[str, int]  # messages PUBACKed per device
    elapsed_s: float  # first publish to the consumer's last message/commit
    consumed: float  # messages (raw) or items (ingest) the consumer counted
    cpu_s: float | None  # the consumers' CPU (and their database backends'), when metered


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
    mix: Mix,
    count_items: bool,
    also_metered: Callable[[], list[int]] = list,
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
        _Load(broker.host, broker.port, tuple(names[p::publishers]), first_seq, seconds, mix)
        for p in range(publishers)
        if names[p::publishers]
    ]
    ready = ctx.Semaphore(0)
    pubs = [ctx.Process(target=_publish, args=(load, ready, start, results)) for load in loads]
    meter = _CpuMeter(lambda: [*(c.pid for c in children if c.pid), *also_metered()])
    try:
        _wait(
            lambda: all(s[_READY] == 1.0 for s in shared),
            timeout=60,
            what="a consumer never subscribed",
        )
        for pub in pubs:
            pub.start()
        for _ in pubs:  # a process takes seconds to start: not part of the measured time
            if not ready.acquire(timeout=60):
                raise RuntimeError("bench: a publisher did not connect (waited 60s)")
        meter.start()
        t0 = time.monotonic()
        start.set()
        sent: dict[str, int] = {}
        for _ in pubs:
            sent.update(results.get(timeout=seconds + 120))
        expected = sum(items_sent(mix, n) for n in sent.values()) if count_items else None
        _settle(shared, expected if expected is not None else sum(sent.values()))
        cpu = meter.stop()
        return _Phase(sent, max(s[_LAST] for s in shared) - t0, _total(shared), cpu)
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
    from yizhan.bench import BenchOptionError  # noqa: PLC0415

    if database_url is None:
        yield f"sqlite:///{work / 'cloud.db'}"
        return
    url = make_url(normalize_url(database_url))
    if url.get_backend_name() == "sqlite":  # a usage mistake: the commands say it in a line
        raise BenchOptionError(
            f"cannot use {shown_url(database_url)}: --database-url names a PostgreSQL server "
            "to make a fresh database beside; for SQLite give none (a fresh file is used)"
        )
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


def _stored(
    database_url: str, sent: dict[str, int], first_seq: int, mix: Mix
) -> tuple[int, int, int]:
    """(items stored, duplicates stored, published items missing) from the database."""
    from cloud.core.db import make_engine  # noqa: PLC0415

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT device_id, count(*), count(DISTINCT seq), min(seq), max(seq) FROM"
                    " (SELECT device_id, seq FROM reading"
                    "  UNION ALL SELECT device_id, seq FROM device_event) AS item"
                    " GROUP BY device_id"
                )
            ).all()
    finally:
        engine.dispose()
    total = duplicates = lost = 0
    by_device = {row[0]: row[1:] for row in rows}
    for device, messages in sent.items():
        expected = items_sent(mix, messages)
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
    mix: Mix = "fixed",
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
        common: dict[str, Any] = {
            "devices": devices, "publishers": publishers, "seconds": seconds, "mix": mix
        }  # fmt: skip
        raw = _run_phase(
            ctx, broker, consumer=_raw_subscribe, consumer_args=[(broker.host, broker.port)],
            first_seq=1, count_items=False, **common,
        )  # fmt: skip
        first_seq = 1_000_000_000
        ingest = _run_phase(
            ctx, broker, consumer=_ingest,
            consumer_args=[
                (broker.host, broker.port, url, f"yz-bench-ingest-{n}") for n in range(workers)
            ],
            first_seq=first_seq, count_items=True, also_metered=_backends(url, stack), **common,
        )  # fmt: skip
        stored, duplicates, lost = _stored(url, ingest.sent, first_seq, mix)
        storage = measure_storage(url)  # before the bench database is dropped
        return _figures(raw, ingest, mix, stored=stored, duplicates=duplicates, lost=lost) | {
            "database": make_url(url).get_backend_name(),
            "broker": broker.kind,
            "devices": devices,
            "ingest_workers": workers,
            "seconds": seconds,
            "mix": mix,
            "items_per_message": round(items_per_message(mix), 2),
            "storage": storage,
        }
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow


def _figures(
    raw: _Phase, ingest: _Phase, mix: Mix, *, stored: int, duplicates: int, lost: int
) -> dict[str, Any]:
    """Rates in items (readings and events) and in messages, for both phases, and CPU."""
    raw_messages = raw.consumed / max(raw.elapsed_s, 1e-9)
    # The raw subscriber counts messages; the items they carried are in the same proportion
    # as in what was published.
    raw_items = sum(items_sent(mix, n) for n in raw.sent.values())
    raw_per_message = raw_items / max(sum(raw.sent.values()), 1)
    published = sum(ingest.sent.values())
    published_items = sum(items_sent(mix, n) for n in ingest.sent.values())
    rate = stored / max(ingest.elapsed_s, 1e-9)
    messages = rate * published / max(published_items, 1)
    raw_rate = raw_messages * raw_per_message
    return {
        "published_readings": published_items,
        "published_messages": published,
        "stored_readings": stored,
        "readings_per_s": round(rate),
        "raw_readings_per_s": round(raw_rate),
        "messages_per_s": round(messages),
        "raw_messages_per_s": round(raw_messages),
        "ratio": round(rate / raw_rate, 3) if raw_rate else 0.0,
        "lost": lost,
        "duplicates_stored": duplicates,
        "cpu_us_per_reading": (
            round(ingest.cpu_s * 1e6 / stored, 1) if ingest.cpu_s is not None and stored else None
        ),
    }


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
    mix: Mix = "fixed",
) -> dict[str, Any]:
    """Print the figures for a person, then (with ``json``) one JSON line last."""
    result = run_ingest_bench(
        seconds=seconds, devices=devices, database_url=database_url, workers=workers, mix=mix
    )
    cpu = result["cpu_us_per_reading"]
    lines = [
        (
            f"ingest bench: {result['devices']} devices, {result['seconds']:g}s of load, "
            f"{result['ingest_workers']} ingest workers, "
            f"{result['database']} on {result['broker']}, {result['mix']} mix "
            f"({result['items_per_message']:g} items a message)"
        ),
        (
            f"  bare subscriber  {result['raw_readings_per_s']:>9,} items/s  "
            f"{result['raw_messages_per_s']:>8,} messages/s"
        ),
        (
            f"  ingest (stored)  {result['readings_per_s']:>9,} items/s  "
            f"{result['messages_per_s']:>8,} messages/s  (ratio {result['ratio']:.2f})"
        ),
        (
            "  CPU per stored item: "
            + (f"{cpu} µs (ingest processes and database backends)" if cpu is not None else "n/a")
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
