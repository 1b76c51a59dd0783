"""The live feed: what changed in the database, told to every open dashboard over SSE.

One poller per API process looks about once a second at small per-venue signatures (newest
stored reading/event per device, alerts, devices, occupancy), and only while someone is
watching. It names what changed as topics; each subscriber gets the topics of its own
venues, and the page re-renders the parts that listen to them:

- ``traffic:{id}``: people counted in or out, door decisions and openings arrived;
- ``venue:{id}``: any other reading or event arrived (temperatures, energy, kiosk events);
- ``alerts:{id}``, ``devices:{id}`` (claimed, online, decommissioned), ``health:{id}``
  (a heartbeat or diagnostics), ``occupancy:{id}`` (the scheduled refresh);
- ``updates:{id}``: a box's software update moved, or a rollout touching the venue changed;
- ``pending:all``: the boxes waiting to be claimed changed (only for whole-fleet viewers).

Polling the database rather than the broker works with any number of ingest workers and API
replicas, and needs no new service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Engine, Integer, case, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from cloud.aggregates import raw
from cloud.aggregates.models import Occupancy
from cloud.aggregates.traffic import COUNTER_METRICS, TRAFFIC_EVENTS
from cloud.alerts.models import Alert, AlertStatus
from cloud.core.time import Clock
from cloud.devices.models import Device, DeviceHealth, PendingBox
from cloud.models import DeviceEvent, Reading
from cloud.releases.models import Rollout, RolloutDevice

logger = logging.getLogger(__name__)

# A row's received_at is set before its transaction commits, so a row can become visible
# after a newer one: the scan looks back this far and compares per-device signatures.
LOOKBACK: Final = timedelta(seconds=10)
DEFAULT_INTERVAL_S: Final = 1.0
# A resolved alert stays in the alert signature this long, so resolving it is news.
_RESOLVED_NEWS: Final = timedelta(minutes=10)
PENDING_ALL: Final = "all"  # the pending topic's "venue": unclaimed boxes have none
_QUEUE_SIZE: Final = 64  # topic sets waiting for one slow browser; past that, older ones go

Signatures = dict[Hashable, tuple[Any, ...]]


@dataclass(slots=True)
class Watch:
    """The signatures of the last scan; a topic fires when its signature moved forward."""

    arrivals: Signatures = field(default_factory=dict)
    tables: Signatures = field(default_factory=dict)
    primed: bool = False


def _arrivals(conn: Any, since: datetime) -> Signatures:
    """Per (kind, venue, device): the newest seq and the rows that arrived since ``since``.

    kind is ``traffic`` for what moves occupancy (the overview listens to that alone: a
    temperature every few seconds in hundreds of venues must not re-render it) or ``venue``.
    """
    out: Signatures = {}
    reading, event = raw.table(Reading).c, raw.table(DeviceEvent).c
    for t, traffic in (
        (reading, reading.metric.in_(COUNTER_METRICS)),
        (event, event.type.in_(TRAFFIC_EVENTS)),
    ):
        kind = case((traffic, "traffic"), else_="venue")
        rows = conn.execute(
            select(kind, t.venue_id, t.device_id, func.max(t.seq), func.count())
            .where(t.received_at > since)
            .group_by(kind, t.venue_id, t.device_id)
        )
        for topic, venue, device, seq, count in rows:
            key = (topic, venue, device, "reading" if t is reading else "event")
            out[key] = (seq, count)
    return out


def _tables(conn: Any, now: datetime) -> Signatures:
    a, d, o = (raw.table(m).c for m in (Alert, Device, Occupancy))
    health = raw.table(DeviceHealth)
    h, device = health.c, raw.table(Device)
    out: Signatures = {}
    for venue, *sig in conn.execute(
        select(
            a.venue_id,
            func.count(),
            func.max(a.id),
            func.max(a.last_seen_at),
            func.max(a.acknowledged_at),
            func.max(a.resolved_at),
        )
        # Not the whole history: what is open, and what was resolved lately (so resolving
        # is news once); an alert leaving that window changes a count once, harmlessly.
        .where(or_(a.status != AlertStatus.RESOLVED.value, a.resolved_at >= now - _RESOLVED_NEWS))
        .group_by(a.venue_id)
    ):
        out[("alerts", venue)] = tuple(sig)
    for venue, *sig in conn.execute(
        select(
            d.venue_id,
            func.count(),
            func.sum(func.cast(d.online, Integer)),
            func.max(d.last_seen_at),
            func.max(d.claimed_at),
            func.max(d.decommissioned_at),
            func.max(d.credential_generation),
        ).group_by(d.venue_id)
    ):
        out[("devices", venue)] = tuple(sig)
    for venue, *sig in conn.execute(
        select(d.venue_id, func.max(h.received_at), func.count())
        .select_from(health.join(device, d.id == h.device_id))
        .group_by(d.venue_id)
    ):
        out[("health", venue)] = tuple(sig)
    for venue, updated in conn.execute(select(o.venue_id, o.updated_at)):
        out[("occupancy", venue)] = (updated,)
    rd, ro = raw.table(RolloutDevice), raw.table(Rollout)
    # The sum of report seqs moves with every report, even two within one clock tick.
    for venue, *sig in conn.execute(
        select(
            rd.c.venue_id,
            func.count(),
            func.sum(rd.c.seq),
            func.max(rd.c.updated_at),
            func.max(ro.c.updated_at),
        )
        .select_from(rd.join(ro, ro.c.id == rd.c.rollout_id))
        .group_by(rd.c.venue_id)
    ):
        out[("updates", venue)] = tuple(sig)
    p = raw.table(PendingBox).c
    # A waiting box says hello every few seconds; only arrivals and departures are news.
    out[("pending", PENDING_ALL)] = tuple(
        conn.execute(select(func.count(), func.max(p.first_seen_at))).one()
    )
    return out


def _topic(key: Hashable) -> tuple[str, str]:
    kind, venue = cast("tuple[str, str]", key)
    return kind, venue


def scan(engine: Engine, watch: Watch, *, now: datetime) -> set[tuple[str, str]]:
    """(kind, venue) pairs that changed since the previous scan; the first scan primes."""
    with engine.connect() as conn:
        arrivals = _arrivals(conn, now - LOOKBACK)
        tables = _tables(conn, now)
    changed: set[tuple[str, str]] = set()
    if watch.primed:
        for key, (seq, count) in arrivals.items():
            before = watch.arrivals.get(key)
            # A row leaving the look-back window lowers the count; only growth is news.
            if before is None or seq > before[0] or (seq == before[0] and count > before[1]):
                kind, venue, _device, _table = cast("tuple[str, str, str, str]", key)
                changed.add((kind, venue))
        for key, sig in tables.items():
            if watch.tables.get(key) != sig:
                changed.add(_topic(key))
        for key in watch.tables.keys() - tables.keys():
            changed.add(_topic(key))
    watch.arrivals, watch.tables, watch.primed = arrivals, tables, True
    return changed


class LiveFeed:
    """Fans the scans out to subscribers; polls only while at least one is connected."""

    def __init__(self, engine: Engine, *, clock: Clock, interval_s: float = DEFAULT_INTERVAL_S):
        self._engine = engine
        self._clock = clock
        self._interval_s = interval_s
        self._queues: set[asyncio.Queue[set[tuple[str, str]]]] = set()
        self._task: asyncio.Task[None] | None = None
        self.scans = 0  # scans completed: how a test knows the first one has primed

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    async def _poll(self) -> None:
        watch = Watch()
        while self._queues:
            try:
                changed = await asyncio.to_thread(scan, self._engine, watch, now=self._clock())
            except SQLAlchemyError:
                # The database being away for a moment must not end the feed; the next
                # scan tries again, and pages keep what they show meanwhile.
                logger.exception("live feed: scan failed; trying again")
                changed = set()
            self.scans += 1
            for queue in list(self._queues):
                if changed:
                    if queue.full():
                        with contextlib.suppress(asyncio.QueueEmpty):
                            queue.get_nowait()
                    queue.put_nowait(changed)
            await asyncio.sleep(self._interval_s)

    @contextlib.asynccontextmanager
    async def subscription(self) -> AsyncIterator[asyncio.Queue[set[tuple[str, str]]]]:
        queue: asyncio.Queue[set[tuple[str, str]]] = asyncio.Queue(maxsize=_QUEUE_SIZE)
        self._queues.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    async def stop(self) -> None:
        self._queues.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def topics_for(changed: set[tuple[str, str]], scope: frozenset[str] | None) -> list[str]:
    """``kind:venue`` for the changes in ``scope`` (None: every venue), sorted.

    ``pending:all`` goes only to whole-fleet viewers: unclaimed boxes belong to no venue.
    """
    return sorted(
        f"{kind}:{venue}"
        for kind, venue in changed
        if scope is None or (venue in scope and venue != PENDING_ALL)
    )
