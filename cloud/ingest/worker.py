"""The ingest worker: MQTT in, durable idempotent writes, then acks to broker and device.

Ordering is what makes it lossless: a message is PUBACKed to the broker only after the
transaction holding it committed (paho ``manual_ack``), so a killed worker gets it
redelivered; and the device is told which sequence numbers are stored only after that
commit, so a killed broker makes the device resend (see docs/protocol.md).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import OperationalError

from cloud.core.time import Clock
from cloud.ingest.health import DEFAULT_STALL_AFTER_S, IngestHealth, judge
from cloud.ingest.inbound import Inbound, classify, unclassifiable, unstorable
from cloud.ingest.metrics import IngestStats, Liveness, Sample, ingest_samples
from cloud.ingest.store import IngestStore, WriteResult
from protocol.codec import encode, valid_seq
from protocol.mqtt import stop_loop
from protocol.payloads import MAX_BATCH_ITEMS, SCHEMA_VERSION, StorageAck, seq_ranges
from protocol.topics import UPLINK_KINDS, Kind, Topic, subscription

# IngestStats moved to cloud.ingest.metrics; callers have always imported it from here.
__all__ = ["IngestStats", "IngestWorker", "MqttEndpoint", "WorkerSource"]

logger = logging.getLogger(__name__)

_RETRY_SECONDS: Final = 1.0  # between attempts to write a batch the database refused
_POLL_SECONDS: Final = 0.2  # how often an idle writer checks whether it should stop
# MQTT 5 session expiry of a group member: long enough to ride out a restart or a broker
# blip with the session (and its unacked messages) intact; short enough that a member that
# never comes back stops holding messages. Nothing is lost either way: devices resend
# whatever the cloud has not confirmed (docs/protocol.md, storage ack).
SESSION_EXPIRY_SECONDS: Final = 300
_MAX_RECEIVE: Final = 65_535  # MQTT 5 Receive Maximum is a two-byte integer


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    client_id: str
    group: str | None = None  # MQTT 5 shared-subscription group for several workers
    keepalive: int = 30
    session_expiry: int = SESSION_EXPIRY_SECONDS  # MQTT 5 only (with a group)
    # The broker account; None logs in anonymously (the development broker).
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None  # the CA of the broker's TLS listener; None: plain MQTT


@dataclass(frozen=True, slots=True)
class _Received:
    generation: int
    mid: int
    topic: str
    payload: bytes
    at: float  # time.monotonic() on receipt


class IngestWorker:
    """Subscribes to every device's uplink topics and stores what arrives."""

    def __init__(
        self,
        store: IngestStore,
        *,
        endpoint: MqttEndpoint,
        batch_size: int = 500,
        queue_size: int = 10_000,
        stall_after_s: float = DEFAULT_STALL_AFTER_S,
        clock: Clock,
    ) -> None:
        self.stats = IngestStats()
        self._stall_after_s = stall_after_s
        self._store = store
        self._endpoint = endpoint
        self._batch_size = batch_size
        self._clock = clock
        # Bounded: when the database falls behind, paho's network thread blocks on put(),
        # the socket stops being read and the broker holds the rest (backpressure).
        self._queue: queue.Queue[_Received] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._generation = 0
        # time.monotonic() receipt of the oldest message of the batch being written; None
        # between batches. With the queue's head, what /healthz calls waiting.
        self._in_hand_since: float | None = None
        self._client = self._make_client()
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)

    def _make_client(self) -> mqtt.Client:
        if self._endpoint.group:
            # Shared subscriptions ($share/…) are MQTT 5. clean_start=False plus a session
            # expiry (given at connect) is v5's spelling of clean_session=False.
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self._endpoint.client_id,
                protocol=mqtt.MQTTv5,
                manual_ack=True,
            )
        else:
            # 3.1.1 without a group: the embedded amqtt broker speaks nothing newer.
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self._endpoint.client_id,
                clean_session=False,  # the broker keeps our queue while we are away
                protocol=mqtt.MQTTv311,
                manual_ack=True,
            )
        if self._endpoint.username is not None:
            client.username_pw_set(self._endpoint.username, self._endpoint.password)
        if self._endpoint.ca_file is not None:
            client.tls_set(ca_certs=str(self._endpoint.ca_file))
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.max_inflight_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def queue_size(self) -> int:
        return self._queue.maxsize

    @property
    def metrics(self) -> WorkerSource:
        """This worker as a metrics source: call it for its samples; it also has ``health``."""
        return WorkerSource(self)

    def samples(self) -> list[Sample]:
        """This worker's Prometheus samples (see cloud.ingest.metrics)."""
        health = self.health()
        return ingest_samples(
            self.stats,
            queue_depth=self.queue_depth,
            queue_size=self.queue_size,
            liveness=Liveness(
                writer_alive=health.writer_alive,
                last_commit_age_s=health.last_commit_age_s,
                oldest_queued_age_s=health.oldest_queued_age_s,
                healthy=health.ok,
            ),
        )

    def health(self) -> IngestHealth:
        """Whether the writer runs and keeps up (see cloud.ingest.health)."""
        now = time.monotonic()
        stats = self.stats
        waiting = [t for t in (self._in_hand_since, self._queue_head()) if t is not None]
        return judge(
            # Before start() nothing is expected of the writer; after stop() it has finished.
            writer_alive=self._writer.is_alive() or not self._running(),
            last_commit_age_s=now - (stats.last_commit or stats.started),
            oldest_queued_age_s=now - min(waiting) if waiting else 0.0,
            queue_depth=self.queue_depth,
            stall_after_s=self._stall_after_s,
            last_error=stats.last_error,
        )

    def _running(self) -> bool:
        return self._writer.ident is not None and not self._stop.is_set()

    def _queue_head(self) -> float | None:
        # queue.Queue keeps its items in the deque ``queue`` guarded by ``mutex`` (CPython's
        # Lib/queue.py); peeking there is the only way to see the oldest without taking it.
        with self._queue.mutex:
            return self._queue.queue[0].at if self._queue.queue else None

    def start(self) -> None:
        self._writer.start()
        endpoint = self._endpoint
        if endpoint.group:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = endpoint.session_expiry
            # How many unacked messages the broker may push to us. We ack only after the
            # commit, so this is what lets a transaction hold more than mosquitto's
            # max_inflight_messages (100); the queue holds them all, so paho never blocks.
            properties.ReceiveMaximum = min(_MAX_RECEIVE, self.queue_size)
            self._client.connect_async(
                endpoint.host,
                endpoint.port,
                endpoint.keepalive,
                clean_start=False,
                properties=properties,
            )
        else:
            self._client.connect_async(endpoint.host, endpoint.port, endpoint.keepalive)
        self._client.loop_start()

    def stop(self) -> None:
        """Stop taking messages, write what is queued, then disconnect."""
        self._stop.set()
        self._writer.join(timeout=30)
        self._client.disconnect()
        stop_loop(self._client)

    def _filters(self) -> list[str]:
        filters = [subscription(kind) for kind in sorted(UPLINK_KINDS)]
        if self._endpoint.group:
            filters = [f"$share/{self._endpoint.group}/{f}" for f in filters]
        return filters

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.stats.last_error = f"broker refused ingest: {reason}"
            logger.error("broker refused the ingest connection: %s", reason)
            return
        self._generation += 1
        self.stats.connected = True
        client.subscribe([(f, 1) for f in self._filters()])
        logger.info("ingest connected to %s:%d", self._endpoint.host, self._endpoint.port)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _m: int, reasons: Any, _p: Any) -> None:
        refused = [r for r in reasons if r.is_failure]
        if refused:
            self.stats.last_error = f"broker refused the ingest subscriptions: {refused}"
            logger.error("broker refused the ingest subscriptions: %s", refused)
            return
        self.stats.subscribed = True

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.stats.connected = False
        self.stats.subscribed = False
        self.stats.disconnects += 1
        if not self._stop.is_set():  # a disconnect we asked for is not news
            logger.warning("ingest lost the broker (%s); reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        if self._stop.is_set():
            return  # not acked: the broker keeps it for the next session
        self.stats.received += 1
        self._queue.put(
            _Received(
                self._generation,
                message.mid,
                message.topic,
                bytes(message.payload),
                time.monotonic(),
            )
        )

    def _write_loop(self) -> None:
        """Write batches until stopped. Supervised: whatever a batch raises is logged and
        counted and the loop goes on, so the thread never ends while the process runs."""
        while True:
            try:
                if not self._write_next():
                    return
            except Exception as exc:  # the task boundary: nothing may end the writer
                self.stats.writer_errors += 1
                self.stats.last_error = f"ingest writer failed: {exc!r}"[:500]
                logger.exception("ingest writer failed on a batch; it goes on with the next")
                # Its messages stay unacked: the broker redelivers them in the next session
                # and the devices resend what was not confirmed.
                self._stop.wait(_RETRY_SECONDS)
            finally:
                self._in_hand_since = None

    def _write_next(self) -> bool:
        """Write one batch if there is one; False once stopped and drained."""
        batch = self._next_batch()
        if batch:
            self._in_hand_since = batch[0].at
            self._write_until_done(batch)
            return True
        return not self._stop.is_set()

    def _next_batch(self) -> list[_Received]:
        try:
            first = self._queue.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self._batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write_until_done(self, batch: list[_Received]) -> None:
        inbound = [self._classify(r) for r in batch]
        result = self._write(inbound)
        if result is None:
            return  # stopping with the database down: unacked, the broker redelivers
        self._account(result, oldest=batch[0].at)
        self._ack_broker(batch)
        self._ack_devices(result)

    def _classify(self, received: _Received) -> Inbound:
        try:
            return classify(received.mid, received.topic, received.payload)
        except Exception as exc:  # classify never raises; if it ever does, the message is
            # refused alone instead of taking the writer down with it
            logger.exception("could not classify a message on %.300s", received.topic)
            return unclassifiable(received.mid, received.topic, received.payload, exc)

    def _write(self, inbound: list[Inbound]) -> WriteResult | None:
        """Write a batch; if it fails, find the message that cannot be stored.

        A database that is down is waited for. A message the store refuses for its content
        (a value PostgreSQL will not take, a number SQLite cannot bind, a bug meeting an
        input nobody thought of) is stored as a rejection instead, so one poison message
        never stalls ingest for every device.
        """
        while True:
            try:
                return self._store.write(inbound)
            except OperationalError as exc:  # down, restarting, unreachable: wait for it
                if not self._note_failure(exc, len(inbound)):
                    return None
            except Exception as exc:  # noqa: BLE001 - content: find the message causing it
                self._note_failure(exc, len(inbound), wait=False)
                return self._write_one_by_one(inbound)

    def _write_one_by_one(self, inbound: list[Inbound]) -> WriteResult | None:
        total = WriteResult()
        for message in inbound:
            part = self._write_single(message)
            if part is None:
                return None
            total.merge(part)
        return total

    def _write_single(self, message: Inbound) -> WriteResult | None:
        attempt = message
        while True:
            try:
                return self._store.write([attempt])
            except OperationalError as exc:
                if not self._note_failure(exc, 1):
                    return None
            except Exception as exc:
                self._note_failure(exc, 1, wait=False)
                if attempt is not message:
                    # Not even its rejection can be stored: acked and dropped, so it cannot
                    # come back after every restart. Logged with the traceback for a person.
                    logger.exception("dropped a message whose rejection cannot be stored")
                    return WriteResult(rejected=1)
                attempt = unstorable(message, exc)

    def _note_failure(self, exc: Exception, count: int, *, wait: bool = True) -> bool:
        """Count and log a failed write; returns False when stopping instead of retrying."""
        self.stats.write_errors += 1
        self.stats.last_error = f"database write failed: {exc}"
        logger.warning("ingest could not write %d messages: %s", count, exc)
        return not wait or not self._stop.wait(_RETRY_SECONDS)

    def _account(self, result: WriteResult, *, oldest: float) -> None:
        stats = self.stats
        stats.stored += result.stored
        stats.duplicates += result.duplicates
        stats.rejected += result.rejected
        stats.states += result.states
        stats.transactions += 1
        stats.last_commit = time.monotonic()
        stats.lag_s = stats.last_commit - oldest
        if result.newest is not None:
            stats.data_age_s = max(0.0, (self._clock() - result.newest).total_seconds())

    def _ack_broker(self, batch: list[_Received]) -> None:
        for received in batch:
            # A mid from an earlier connection may name another message now; the broker
            # redelivers the old one and it is absorbed as a duplicate.
            if received.generation == self._generation and received.mid:
                self._client.ack(received.mid, 1)

    def _ack_devices(self, result: WriteResult) -> None:
        for (venue, device), seqs in result.acks.items():
            # The store acks only valid seqs; filtered again because one bad ack must not
            # cost the others theirs.
            ranges = seq_ranges([seq for seq in seqs if valid_seq(seq) is not None])
            try:
                for start in range(0, len(ranges), MAX_BATCH_ITEMS):
                    part = ranges[start : start + MAX_BATCH_ITEMS]
                    ack = StorageAck(v=SCHEMA_VERSION, device=device, ranges=part)
                    self._client.publish(str(Topic(venue, device, Kind.ACK)), encode(ack), qos=1)
            except Exception:  # stored already; the device resends and is acked next time
                self.stats.writer_errors += 1
                logger.exception("could not ack device %.40s", device)


@dataclass(frozen=True, slots=True)
class WorkerSource:
    """A worker as a :class:`MetricsRegistry` source: its samples when called, and its health.

    A callable rather than a bound method, so that every process registering
    ``worker.metrics`` (``cloud ingest --metrics-port``, the demo's API) also answers
    ``/healthz`` for the worker without being told to.
    """

    worker: IngestWorker

    def __call__(self) -> list[Sample]:
        return self.worker.samples()

    def health(self) -> IngestHealth:
        return self.worker.health()
