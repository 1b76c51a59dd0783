"""Ingest counters and the Prometheus text exposition format they are scraped in."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from cloud.ingest.health import HealthSource, IngestHealth

MetricType = Literal["counter", "gauge"]

# https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Sample:
    """One metric family with one unlabelled value (all ingest needs)."""

    name: str
    kind: MetricType
    help: str
    value: float


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def render(samples: Iterable[Sample]) -> str:
    """The Prometheus text format: HELP, TYPE and value of each family."""
    lines: list[str] = []
    for sample in samples:
        # HELP text escapes only backslash and newline (the format's rule).
        text = sample.help.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"# HELP {sample.name} {text}")
        lines.append(f"# TYPE {sample.name} {sample.kind}")
        lines.append(f"{sample.name} {_number(sample.value)}")
    return "\n".join(lines) + "\n"


@dataclass(slots=True)
class IngestStats:
    """What one ingest worker has done since it started.

    Counters are written by one thread each (paho's for ``received``, the writer's for the
    rest), so plain ints are enough under the GIL; readers may see a value a batch old.
    """

    received: int = 0  # MQTT messages taken from the broker
    stored: int = 0  # items (readings and events) newly stored
    duplicates: int = 0  # items already stored, absorbed by the (device, seq) key
    rejected: int = 0  # messages or items refused, kept in rejected_message
    states: int = 0  # device state messages applied
    transactions: int = 0  # committed write transactions
    write_errors: int = 0
    writer_errors: int = 0  # unexpected failures the writer survived (logged with traceback)
    connected: bool = False
    # Connections lost; climbing fast means someone else connects with ingest's client id.
    disconnects: int = 0
    subscribed: bool = False  # the broker confirmed the subscriptions of this connection
    last_error: str | None = None
    # Seconds from the oldest message of the last committed batch reaching this worker to
    # the commit: how far ingest is behind what the broker hands it.
    lag_s: float = 0.0
    # Seconds from the newest device timestamp of the last batch to its commit: how old the
    # data is when it lands (includes time spent in device outboxes and the broker).
    data_age_s: float = 0.0
    last_commit: float = 0.0  # time.monotonic() of the last commit; 0 before the first
    started: float = field(default_factory=time.monotonic)
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Liveness:
    """Whether a worker's writer runs and keeps up (see cloud.ingest.health)."""

    writer_alive: bool
    last_commit_age_s: float
    oldest_queued_age_s: float
    healthy: bool


def ingest_samples(
    stats: IngestStats, *, queue_depth: int, queue_size: int, liveness: Liveness | None = None
) -> list[Sample]:
    """The metric families of one worker, named ``yizhan_ingest_*``."""
    samples = [
        Sample("yizhan_ingest_received_total", "counter", "MQTT messages received", stats.received),
        Sample("yizhan_ingest_stored_total", "counter", "Readings and events stored", stats.stored),
        Sample(
            "yizhan_ingest_duplicates_total",
            "counter",
            "Items that were already stored (absorbed by the (device, seq) key)",
            stats.duplicates,
        ),
        Sample(
            "yizhan_ingest_rejected_total",
            "counter",
            "Messages and items refused and kept in rejected_message",
            stats.rejected,
        ),
        Sample("yizhan_ingest_states_total", "counter", "Device states applied", stats.states),
        Sample(
            "yizhan_ingest_transactions_total",
            "counter",
            "Write transactions committed",
            stats.transactions,
        ),
        Sample(
            "yizhan_ingest_write_errors_total",
            "counter",
            "Failed write attempts",
            stats.write_errors,
        ),
        Sample(
            "yizhan_ingest_queue_depth",
            "gauge",
            "Messages received but not yet written",
            queue_depth,
        ),
        Sample(
            "yizhan_ingest_queue_capacity", "gauge", "Bound of the in-process queue", queue_size
        ),
        Sample(
            "yizhan_ingest_lag_seconds",
            "gauge",
            "Receipt of the oldest message of the last batch to its commit",
            stats.lag_s,
        ),
        Sample(
            "yizhan_ingest_data_age_seconds",
            "gauge",
            "Newest device timestamp of the last batch to its commit",
            stats.data_age_s,
        ),
        Sample(
            "yizhan_ingest_connected",
            "gauge",
            "1 while connected to the broker",
            float(stats.connected),
        ),
        Sample(
            "yizhan_ingest_disconnects_total",
            "counter",
            "Connections to the broker lost (a takeover of ingest's client id shows here)",
            stats.disconnects,
        ),
        Sample(
            "yizhan_ingest_writer_errors_total",
            "counter",
            "Unexpected failures the writer thread survived",
            stats.writer_errors,
        ),
    ]
    if liveness is not None:
        samples += _liveness_samples(liveness)
    return samples


def _liveness_samples(liveness: Liveness) -> list[Sample]:
    return [
        Sample(
            "yizhan_ingest_writer_alive",
            "gauge",
            "1 while the writer thread runs",
            float(liveness.writer_alive),
        ),
        Sample(
            "yizhan_ingest_last_commit_age_seconds",
            "gauge",
            "Seconds since the last commit (since start before the first)",
            liveness.last_commit_age_s,
        ),
        Sample(
            "yizhan_ingest_oldest_queued_age_seconds",
            "gauge",
            "Seconds the oldest received, not yet written message has waited",
            liveness.oldest_queued_age_s,
        ),
        Sample(
            "yizhan_ingest_healthy",
            "gauge",
            "1 while /healthz answers 200: the writer runs and keeps up",
            float(liveness.healthy),
        ),
    ]


SampleSource = Callable[[], list[Sample]]


class MetricsRegistry:
    """The sample sources one process exposes; the API and the ingest's own port read it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: list[SampleSource] = []

    def add(self, source: SampleSource) -> None:
        with self._lock:
            self._sources.append(source)

    def samples(self) -> list[Sample]:
        with self._lock:
            sources = list(self._sources)
        return [sample for source in sources for sample in source()]

    def render(self) -> str:
        return render(self.samples())

    def health(self) -> list[IngestHealth]:
        """The health of every registered source that reports one (ingest workers)."""
        with self._lock:
            # As objects: isinstance narrows those to the protocol (a Callable it cannot).
            sources: list[object] = list(self._sources)
        return [source.health() for source in sources if isinstance(source, HealthSource)]
