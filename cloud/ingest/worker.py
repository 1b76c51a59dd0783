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

from cloud.core.time import Clock
from cloud.ingest.acks import BrokerAcks, Received, device_ranges, storage_acks
from cloud.ingest.client import IngestClient
from cloud.ingest.health import DEFAULT_STALL_AFTER_S, IngestHealth
from cloud.ingest.isolation import Isolation, classify_alone
from cloud.ingest.metrics import IngestStats, Liveness, Sample, ingest_samples
from cloud.ingest.store import IngestStore, WriteResult
from cloud.ingest.watch import WriterWatch
from protocol.mqtt import stop_loop
from protocol.topics import UPLINK_KINDS, subscription

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


def subscriptions(group: str | None) -> list[str]:
    """The topic filters ingest subscribes to; shared by ``group`` when there is one."""
    filters = [subscription(kind) for kind in sorted(UPLINK_KINDS)]
    if group:
        filters = [f"$share/{group}/{f}" for f in filters]
    return filters


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
        self._endpoint = endpoint
        self._batch_size = batch_size
        self._clock = clock
        # Bounded: when the database falls behind, paho's network thread blocks on put(),
        # the socket stops being read and the broker holds the rest (backpressure).
        self._queue: queue.Queue[Received] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._acks = BrokerAcks()
        self._watch = WriterWatch(self.stats, stall_after_s=stall_after_s)
        self._isolation = Isolation(store.write, failed=self._note_failure)
        self._client = self._make_client()
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)

    def _make_client(self) -> IngestClient:
        if self._endpoint.group:
            # Shared subscriptions ($share/…) are MQTT 5. clean_start=False plus a session
            # expiry (given at connect) is v5's spelling of clean_session=False.
            client = IngestClient(
                CallbackAPIVersion.VERSION2,
                client_id=self._endpoint.client_id,
                protocol=mqtt.MQTTv5,
                manual_ack=True,
            )
        else:
            # 3.1.1 without a group: the embedded amqtt broker speaks nothing newer.
            client = IngestClient(
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
        return self._watch.health(
            now=time.monotonic(),
            queue_head=self._queue_head(),
            queue_depth=self.queue_depth,
            thread_alive=self._writer.is_alive(),
            running=self._running(),
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

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.stats.last_error = f"broker refused ingest: {reason}"
            logger.error("broker refused the ingest connection: %s", reason)
            return
        self._acks.connected()
        self.stats.connected = True
        client.subscribe([(f, 1) for f in subscriptions(self._endpoint.group)])
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
            Received(
                self._acks.generation,
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
                self._watch.done()

    def _write_next(self) -> bool:
        """Write one batch if there is one; False once stopped and drained."""
        batch = self._next_batch()
        if batch:
            self._watch.took(batch[0].at)
            self._write_until_done(batch)
            return True
        return not self._stop.is_set()

    def _next_batch(self) -> list[Received]:
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

    def _write_until_done(self, batch: list[Received]) -> None:
        inbound = [classify_alone(r.mid, r.topic, r.payload) for r in batch]
        result = self._isolation.write(inbound)
        if result is None:
            return  # stopping with the database down: unacked, the broker redelivers
        self._watch.committed(
            result, oldest=batch[0].at, now=time.monotonic(), wall_now=self._clock()
        )
        self._client.ack_all(self._acks.mids(batch))
        self._ack_devices(result)

    def _note_failure(self, exc: Exception, count: int, *, wait: bool = True) -> bool:
        """Count and log a failed write; returns False when stopping instead of retrying."""
        self.stats.write_errors += 1
        self.stats.last_error = f"database write failed: {exc}"
        logger.warning("ingest could not write %d messages: %s", count, exc)
        return not wait or not self._stop.wait(_RETRY_SECONDS)

    def _ack_devices(self, result: WriteResult) -> None:
        for (venue, device), seqs in result.acks.items():
            ranges = device_ranges(seqs)
            try:
                for topic, payload in storage_acks(venue, device, ranges):
                    self._client.publish(topic, payload, qos=1)
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
