"""Idempotent batched writes: every (device, seq) is stored once, however often it arrives."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from cloud.core.db import table_of
from cloud.core.time import Clock
from cloud.devices.models import Device, DeviceStatus
from cloud.ingest import diagnostics, notes
from cloud.ingest.bounds import BoundedBatch, TimeBounds, bound_batch
from cloud.ingest.bulk import EventRow, ReadingRow, event_writer, reading_writer
from cloud.ingest.inbound import Inbound, Rejection
from cloud.ingest.rejections import RejectionLog
from cloud.models import Venue
from protocol.codec import DecodedBatch, RejectedItem, valid_seq
from protocol.health import Diagnostics
from protocol.payloads import DeviceState, Event
from protocol.payloads import Reading as WireReading
from protocol.topics import Topic

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class WriteResult:
    """What one transaction did, and which sequence numbers each device may now forget."""

    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    states: int = 0
    diagnostics: int = 0
    newest: datetime | None = None  # the newest device timestamp among the items
    acks: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))

    def merge(self, other: WriteResult) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.states += other.states
        self.diagnostics += other.diagnostics
        if other.newest is not None and (self.newest is None or other.newest > self.newest):
            self.newest = other.newest
        for key, seqs in other.acks.items():
            self.acks[key].extend(seqs)


@dataclass(slots=True)
class _Txn:
    """What one write transaction collects on its way."""

    conn: Connection
    now: datetime
    rejections: list[Rejection]
    retired: set[str]  # decommissioned devices among the messages' senders
    result: WriteResult = field(default_factory=WriteResult)
    notes: notes.EventNotes = field(default_factory=notes.EventNotes)


def _rejection(batch: DecodedBatch, item: RejectedItem) -> Rejection:
    topic = batch.topic
    error = item.error
    return Rejection(
        str(topic), topic.device, item.seq, error.field, error.problem, len(item.raw), item.raw
    )


def _item_rejections(bounded: BoundedBatch, result: WriteResult) -> list[Rejection]:
    """The refused items of an admitted batch, counted. A refusal for its content (or for a
    time that will never be believed) is final, so its seq is acked and the box forgets the
    item; only the aggregated count and a sample stay in ``rejected_message``. A held item
    (dated ahead of the cloud) is not acked: the box sends it again and it is stored later."""
    batch = bounded.batch
    # Only a seq the ack model and a BIGINT column take.
    seqs = [seq for seq in (valid_seq(item.seq) for item in batch.rejected) if seq is not None]
    if seqs:
        result.acks[(batch.topic.venue, batch.topic.device)].extend(seqs)
    return [_rejection(batch, item) for item in [*batch.rejected, *bounded.held]]


class IngestStore:
    """Writes classified messages in one transaction per batch."""

    def __init__(self, engine: Engine, *, clock: Clock, bounds: TimeBounds | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._bounds = bounds or TimeBounds()
        self._dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
        self._readings = reading_writer(engine.dialect.name)
        self._events = event_writer(engine.dialect.name)
        self._rejections = RejectionLog(self._dialect)
        self._device_venue: dict[str, str] = {}

    def write(self, messages: Sequence[Inbound]) -> WriteResult:
        try:
            return self._write(messages)
        except Exception:
            # The transaction rolled back: forget devices registered inside it.
            self._device_venue.clear()
            raise

    def _write(self, messages: Sequence[Inbound]) -> WriteResult:
        with self._engine.begin() as conn:
            devices = {m.topic.device for m in messages if m.topic is not None}
            txn = _Txn(
                conn,
                self._clock(),
                rejections=[m.rejection for m in messages if m.rejection is not None],
                retired=notes.decommissioned(conn, devices),
            )
            # First-seen devices are registered in one order, whoever sent first: two
            # workers registering the same new devices in message order deadlocked.
            for topic in sorted({m.topic for m in messages if m.topic is not None}, key=_order):
                if topic.device not in txn.retired:
                    self._venue_of(conn, topic)
            bounded = [
                bound_batch(batch, now=txn.now, bounds=self._bounds)
                for batch in self._admit(txn, [m.batch for m in messages if m.batch])
            ]
            batches = [b.batch for b in bounded]
            self._store_items(txn, batches)
            online = {b.topic.device for b in batches}
            online |= self._apply_states(txn, [m.state for m in messages if m.state])
            online |= self._store_diagnostics(txn, [m.diag for m in messages if m.diag])
            notes.write_notes(conn, self._dialect, txn.notes)
            for checked in bounded:
                txn.rejections.extend(_item_rejections(checked, txn.result))
            self._rejections.store(conn, txn.rejections, txn.now)
            txn.result.rejected = len(txn.rejections)
            self._touch(conn, {b.topic.device for b in batches}, txn.now)
            notes.activate(conn, online, txn.now)
        return txn.result

    def _admit(self, txn: _Txn, batches: list[DecodedBatch]) -> list[DecodedBatch]:
        """Register first-seen devices; refuse a device speaking for another venue, and a
        decommissioned one (whose answer to its wipe is still noted: it ends the wait)."""
        admitted: list[DecodedBatch] = []
        for batch in batches:
            topic = batch.topic
            if not self._refused(txn, topic):
                admitted.append(batch)
            elif topic.device in txn.retired:
                for item in batch.items:
                    if isinstance(item, Event):
                        txn.notes.note_result(topic.device, item, txn.now)
        return admitted

    def _refused(self, txn: _Txn, topic: Topic) -> bool:
        """Whether messages on ``topic`` are refused; if so, the refusal is noted in ``txn``."""
        if topic.device in txn.retired:
            reason = notes.refusal_reason(topic.device)
        else:
            venue = self._venue_of(txn.conn, topic)
            if venue == topic.venue:
                return False
            reason = (
                f"device {topic.device!r} belongs to venue {venue!r}, not {topic.venue!r}; "
                "re-provision it to move it"
            )
        txn.rejections.append(Rejection(str(topic), topic.device, None, "topic", reason, 0, ""))
        return True

    def _venue_of(self, conn: Connection, topic: Topic) -> str:
        known = self._device_venue.get(topic.device)
        if known is not None:
            return known
        venue = conn.execute(
            select(table_of(Device).c.venue_id).where(table_of(Device).c.id == topic.device)
        ).scalar()
        if venue is None:
            self._insert_ignore(
                conn,
                table_of(Venue),
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
                table_of(Device),
                [
                    {
                        "id": topic.device,
                        "venue_id": topic.venue,
                        "online": False,
                        "created_at": self._clock(),
                        # Only the anonymous development broker lets an unknown device in;
                        # with per-device accounts every device was claimed first.
                        "status": DeviceStatus.ACTIVE.value,
                        "credential_generation": 0,
                    }
                ],
                ["id"],
            )
            venue = conn.execute(
                select(table_of(Device).c.venue_id).where(table_of(Device).c.id == topic.device)
            ).scalar_one()
        self._device_venue[topic.device] = venue
        return str(venue)

    def _store_items(self, txn: _Txn, batches: list[DecodedBatch]) -> None:
        conn, now, result = txn.conn, txn.now, txn.result
        readings: dict[tuple[str, int], ReadingRow] = {}
        events: dict[tuple[str, int], EventRow] = {}
        newest: datetime | None = None
        for batch in batches:
            topic = batch.topic
            device, venue = topic.device, topic.venue
            if not batch.items:
                continue
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
                    events[(device, item.seq)] = (
                        device, item.seq, venue, item.type, item.ts, dict(item.data), now
                    )  # fmt: skip
                    txn.notes.note(device, item, now)
        offered = sum(len(b.items) for b in batches)
        stored = self._readings.insert(conn, list(readings.values()))
        stored += self._events.insert(conn, list(events.values()))
        result.stored += stored
        result.duplicates += offered - stored
        if newest is not None and (result.newest is None or newest > result.newest):
            result.newest = newest

    def _insert_ignore(
        self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: list[str]
    ) -> int:
        """INSERT … ON CONFLICT DO NOTHING; returns how many rows were new."""
        if not rows:
            return 0
        stmt = self._dialect.insert(table).on_conflict_do_nothing(index_elements=keys)
        inserted = conn.execute(stmt.returning(*(table.c[k] for k in keys)), rows).all()
        return len(inserted)

    def _apply_states(self, txn: _Txn, states: list[tuple[Topic, DeviceState]]) -> set[str]:
        """Apply each state believed; returns the devices that said they are online.

        A state dated ahead of the cloud is refused: applied, it would win over every real
        state until the cloud's clock caught up, pinning the device online. An old one is
        harmless (the newest wins) and normal: a retained will is as old as its connection.
        """
        online: set[str] = set()
        for topic, state in states:
            if topic.device in txn.retired:
                continue
            problem = self._bounds.ahead(state.ts, txn.now)
            if problem is not None:
                payload = state.model_dump_json()
                txn.rejections.append(
                    Rejection(str(topic), topic.device, None, "ts", problem, len(payload), payload)
                )
                continue
            if self._apply_state(txn.conn, topic, state, now=txn.now):
                online.add(topic.device)
            txn.result.states += 1
        return online

    def _apply_state(
        self, conn: Connection, topic: Topic, state: DeviceState, *, now: datetime
    ) -> bool:
        """Newest connection wins. A device stamps its online state and the last will of
        the same connection with one time, so at equal times "offline" is the later news;
        a late will from an older connection carries an older time and changes nothing.

        Returns whether the state says the device is online (as itself, on its own topic)."""
        if self._venue_of(conn, topic) != topic.venue:
            return False
        device = table_of(Device)
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
        return state.status == "online"

    def _store_diagnostics(self, txn: _Txn, diags: list[tuple[Topic, Diagnostics]]) -> set[str]:
        """Store each report of a device in good standing that answers a diagnostics command
        sent to it (cloud/ingest/diagnostics.py); returns the devices that sent one."""
        reports = [(topic, report) for topic, report in diags if not self._refused(txn, topic)]
        admitted = diagnostics.admit(txn.conn, reports, now=txn.now)
        diagnostics.store(txn.conn, admitted.rows)
        txn.rejections.extend(admitted.refused)
        txn.result.diagnostics += len(admitted.rows)
        return {topic.device for topic, _ in reports}

    def _touch(self, conn: Connection, devices: set[str], now: datetime) -> None:
        if devices:
            device = table_of(Device)
            conn.execute(update(device).where(device.c.id.in_(devices)).values(last_seen_at=now))


def _order(topic: Topic) -> tuple[str, str]:
    return topic.venue, topic.device
