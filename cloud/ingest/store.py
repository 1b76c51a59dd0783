"""Idempotent batched writes: every (device, seq) is stored once, however often it arrives."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from cloud.ingest.bulk import ReadingRow, reading_writer
from cloud.ingest.inbound import Inbound, Rejection
from cloud.ingest.models import CONFIG_APPLIED_EVENT, DeviceConfig
from cloud.models import Device, DeviceEvent, RejectedMessage, Venue
from protocol.codec import DecodedBatch
from protocol.payloads import DeviceState, Event
from protocol.payloads import Reading as WireReading
from protocol.topics import Topic

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(slots=True)
class WriteResult:
    """What one transaction did, and which sequence numbers each device may now forget."""

    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    states: int = 0
    newest: datetime | None = None  # the newest device timestamp among the items
    acks: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))

    def merge(self, other: WriteResult) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.states += other.states
        if other.newest is not None and (self.newest is None or other.newest > self.newest):
            self.newest = other.newest
        for key, seqs in other.acks.items():
            self.acks[key].extend(seqs)


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


class IngestStore:
    """Writes classified messages in one transaction per batch."""

    def __init__(self, engine: Engine, *, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
        self._readings = reading_writer(engine.dialect.name)
        self._device_venue: dict[str, str] = {}

    def write(self, messages: Sequence[Inbound]) -> WriteResult:
        try:
            return self._write(messages)
        except Exception:
            # The transaction rolled back: forget devices registered inside it.
            self._device_venue.clear()
            raise

    def _write(self, messages: Sequence[Inbound]) -> WriteResult:
        result = WriteResult()
        now = self._clock()
        with self._engine.begin() as conn:
            rejections = [m.rejection for m in messages if m.rejection is not None]
            batches = self._admit(conn, [m.batch for m in messages if m.batch], rejections)
            self._store_items(conn, batches, now, result)
            for message in messages:
                if message.state is not None:
                    self._apply_state(conn, *message.state, now=now)
                    result.states += 1
            for batch in batches:
                for item in batch.rejected:
                    rejections.append(
                        Rejection(
                            str(batch.topic),
                            batch.topic.device,
                            item.seq,
                            item.error.field,
                            item.error.problem,
                            len(item.raw),
                            item.raw,
                        )
                    )
                    if item.seq is not None:  # kept in rejected_message: the device may forget it
                        result.acks[(batch.topic.venue, batch.topic.device)].append(item.seq)
            self._store_rejections(conn, rejections, now)
            result.rejected = len(rejections)
            self._touch(conn, {b.topic.device for b in batches}, now)
        return result

    def _admit(
        self, conn: Connection, batches: list[DecodedBatch], rejections: list[Rejection]
    ) -> list[DecodedBatch]:
        """Register first-seen devices; refuse a device speaking for another venue."""
        admitted: list[DecodedBatch] = []
        for batch in batches:
            topic = batch.topic
            venue = self._venue_of(conn, topic)
            if venue != topic.venue:
                rejections.append(
                    Rejection(
                        str(topic),
                        topic.device,
                        None,
                        "topic",
                        f"device {topic.device!r} belongs to venue {venue!r}, not {topic.venue!r}; "
                        "re-provision it to move it",
                        0,
                        "",
                    )
                )
                continue
            admitted.append(batch)
        return admitted

    def _venue_of(self, conn: Connection, topic: Topic) -> str:
        known = self._device_venue.get(topic.device)
        if known is not None:
            return known
        venue = conn.execute(
            select(_table(Device).c.venue_id).where(_table(Device).c.id == topic.device)
        ).scalar()
        if venue is None:
            self._insert_ignore(
                conn,
                _table(Venue),
                [
                    {
                        "id": topic.venue,
                        "name": topic.venue,
                        "kind": "station",
                        "timezone": "Asia/Shanghai",
                        "created_at": self._clock(),
                    }
                ],
                ["id"],
            )
            self._insert_ignore(
                conn,
                _table(Device),
                [
                    {
                        "id": topic.device,
                        "venue_id": topic.venue,
                        "online": False,
                        "created_at": self._clock(),
                    }
                ],
                ["id"],
            )
            venue = conn.execute(
                select(_table(Device).c.venue_id).where(_table(Device).c.id == topic.device)
            ).scalar_one()
        self._device_venue[topic.device] = venue
        return str(venue)

    def _store_items(
        self, conn: Connection, batches: list[DecodedBatch], now: datetime, result: WriteResult
    ) -> None:
        readings: dict[tuple[str, int], ReadingRow] = {}
        events: dict[tuple[str, int], dict[str, Any]] = {}
        configs: dict[str, dict[str, Any]] = {}
        newest: datetime | None = None
        for batch in batches:
            topic = batch.topic
            device, venue = topic.device, topic.venue
            acks = result.acks[(venue, device)]
            for item in batch.items:
                acks.append(item.seq)
                if newest is None or item.ts > newest:
                    newest = item.ts
                if isinstance(item, WireReading):
                    readings[(device, item.seq)] = (
                        device,
                        item.seq,
                        venue,
                        item.metric,
                        item.sensor,
                        item.ts,
                        item.value,
                        now,
                    )
                elif isinstance(item, Event):
                    events[(device, item.seq)] = _event_row(topic, item, now)
                    _note_config(configs, device, item, now)
        offered = sum(len(b.items) for b in batches)
        stored = self._readings.insert(conn, list(readings.values()))
        stored += self._insert_ignore(
            conn, _table(DeviceEvent), list(events.values()), ["device_id", "seq"]
        )
        self._apply_configs(conn, list(configs.values()))
        result.stored += stored
        result.duplicates += offered - stored
        if newest is not None and (result.newest is None or newest > result.newest):
            result.newest = newest

    def _apply_configs(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Upsert each device's applied config version; the newest report (by seq) wins."""
        if not rows:
            return
        table = _table(DeviceConfig)
        stmt = self._dialect.insert(table)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["device_id"],
                set_={
                    "version": stmt.excluded.version,
                    "seq": stmt.excluded.seq,
                    "applied_at": stmt.excluded.applied_at,
                    "received_at": stmt.excluded.received_at,
                },
                where=table.c.seq < stmt.excluded.seq,
            ),
            rows,
        )

    def _insert_ignore(
        self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: list[str]
    ) -> int:
        """INSERT … ON CONFLICT DO NOTHING; returns how many rows were new."""
        if not rows:
            return 0
        stmt = self._dialect.insert(table).on_conflict_do_nothing(index_elements=keys)
        inserted = conn.execute(stmt.returning(*(table.c[k] for k in keys)), rows).all()
        return len(inserted)

    def _apply_state(
        self, conn: Connection, topic: Topic, state: DeviceState, *, now: datetime
    ) -> None:
        """Newest connection wins. A device stamps its online state and the last will of
        the same connection with one time, so at equal times "offline" is the later news;
        a late will from an older connection carries an older time and changes nothing."""
        if self._venue_of(conn, topic) != topic.venue:
            return
        device = _table(Device)
        newer = or_(device.c.state_at.is_(None), device.c.state_at < state.ts)
        if state.status == "offline":
            newer = or_(newer, device.c.state_at == state.ts)
        conn.execute(
            update(device)
            .where(and_(device.c.id == topic.device, newer))
            .values(
                online=state.status == "online",
                state_at=state.ts,
                software=state.software,
                last_seen_at=now,
            )
        )

    def _store_rejections(
        self, conn: Connection, rejections: Iterable[Rejection], now: datetime
    ) -> None:
        rows = [
            {
                "received_at": now,
                "topic": r.topic,
                "device_id": r.device_id,
                "seq": r.seq,
                "field_path": r.field,
                "reason": _no_nul(r.reason),
                "size": r.size,
                "payload": _no_nul(r.payload),
            }
            for r in rejections
        ]
        if rows:
            conn.execute(_table(RejectedMessage).insert(), rows)

    def _touch(self, conn: Connection, devices: set[str], now: datetime) -> None:
        if devices:
            device = _table(Device)
            conn.execute(update(device).where(device.c.id.in_(devices)).values(last_seen_at=now))


def _no_nul(text: str) -> str:
    # PostgreSQL text cannot hold U+0000; one refused payload carrying it would make the
    # whole transaction fail on every retry and stall ingest for every device.
    return text.replace("\x00", "\ufffd")


def _note_config(
    configs: dict[str, dict[str, Any]], device: str, event: Event, now: datetime
) -> None:
    """Remember a ``config.applied`` report, keeping the newest per device.

    A report without an integer ``version`` is still stored as an event; it just says
    nothing about the device's configuration.
    """
    if event.type != CONFIG_APPLIED_EVENT:
        return
    version = event.data.get("version")
    if type(version) is not int or not 0 <= version < 2**63:
        return
    known = configs.get(device)
    if known is None or known["seq"] < event.seq:
        configs[device] = {
            "device_id": device,
            "version": version,
            "seq": event.seq,
            "applied_at": event.ts,
            "received_at": now,
        }


def _event_row(topic: Topic, item: Event, now: datetime) -> dict[str, Any]:
    return {
        "device_id": topic.device,
        "seq": item.seq,
        "venue_id": topic.venue,
        "type": item.type,
        "ts": item.ts,
        "data": dict(item.data),
        "received_at": now,
    }
