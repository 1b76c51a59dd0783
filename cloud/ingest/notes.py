"""What ingest learns from device messages besides storing them, written in the same transaction.

Every event is stored as an event first; some also update a device's current picture:
``config.applied``/``config.rejected`` (which config it runs), ``device.heartbeat`` (its
health), ``command.result`` (what became of a command), ``update.state`` (where it is with
a software update: cloud/releases/reports.py), ``sensor.fault``/``sensor.recovered`` (which
of its parts do not work). The newest report by sequence number
wins, so a late resend of an older one changes nothing. Also here: the first sight of a
claimed device (it is now active and its bundle delivered), and which devices are
decommissioned (their messages are refused).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Table, and_, or_, select, update
from sqlalchemy.engine import Connection

from cloud.core.db import no_nul, table_of
from cloud.devices.models import (
    OPEN_COMMAND_STATUSES,
    CommandStatus,
    Device,
    DeviceCommand,
    DeviceConfig,
    DeviceConfigRejection,
    DeviceFault,
    DeviceHealth,
    DeviceStatus,
    PendingBox,
)
from cloud.releases import reports as update_reports
from protocol.commands import RESULT_EVENT, ROTATE_CREDENTIALS, CommandResult
from protocol.device_config import REJECTED_EVENT, rejected_reasons
from protocol.health import FAULT_EVENT, HEARTBEAT_EVENT, RECOVERED_EVENT, Heartbeat
from protocol.payloads import Event

logger = logging.getLogger(__name__)

# The event a device publishes once it has applied a configuration: {"version": N}.
CONFIG_APPLIED_EVENT = "config.applied"
# The parts a device may report on: its probes, meter, screen, speaker… A box that invents
# names is held to this many rows (a stolen one could otherwise grow the table at will).
MAX_FAULT_PARTS = 32
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,47}")

_MAX_VERSION = 2**63


def _text(value: str | None) -> str | None:
    return None if value is None else no_nul(value)


def _version(event: Event) -> int | None:
    version = event.data.get("version")
    if type(version) is not int or not 0 <= version < _MAX_VERSION:
        return None  # still stored as an event; it just says nothing about the config
    return version


@dataclass(slots=True)
class EventNotes:
    """The notes of one transaction, newest per device; written by :func:`write_notes`."""

    applied: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: dict[str, dict[str, Any]] = field(default_factory=dict)
    health: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    updates: list[update_reports.Report] = field(default_factory=list)
    faults: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def note(self, device: str, event: Event, now: datetime) -> None:
        if event.type == CONFIG_APPLIED_EVENT:
            self._applied(device, event, now)
        elif event.type == REJECTED_EVENT:
            self._rejected(device, event, now)
        elif event.type == HEARTBEAT_EVENT:
            self._heartbeat(device, event, now)
        elif event.type == RESULT_EVENT:
            self.note_result(device, event, now)
        elif event.type in (FAULT_EVENT, RECOVERED_EVENT):
            self._fault(device, event, now)
        elif (report := update_reports.read_report(device, event, now)) is not None:
            self.updates.append(report)

    @staticmethod
    def _keep(notes: dict[str, dict[str, Any]], device: str, row: dict[str, Any]) -> None:
        known = notes.get(device)
        if known is None or known["seq"] < row["seq"]:
            notes[device] = row

    def _applied(self, device: str, event: Event, now: datetime) -> None:
        version = _version(event)
        if version is None:
            return
        row = {"version": version, "seq": event.seq, "applied_at": event.ts}
        self._keep(self.applied, device, {"device_id": device, **row, "received_at": now})

    def _rejected(self, device: str, event: Event, now: datetime) -> None:
        version = _version(event)
        if version is None:
            return
        row = {
            "device_id": device,
            "version": version,
            "errors": rejected_reasons(dict(event.data)),
            "seq": event.seq,
            "ts": event.ts,
            "received_at": now,
        }
        self._keep(self.rejected, device, row)

    def _fault(self, device: str, event: Event, now: datetime) -> None:
        part, problem = event.data.get("sensor"), event.data.get("problem")
        if not isinstance(part, str) or _PART.fullmatch(part) is None:
            return  # still stored as an event; it names no part a page can show
        said = None
        if event.type == FAULT_EVENT:
            said = no_nul(problem)[:200] if isinstance(problem, str) and problem else "fault"
        row = {"device_id": device, "sensor": part, "problem": said, "seq": event.seq,
               "ts": event.ts, "received_at": now}  # fmt: skip
        known = self.faults.get((device, part))
        if known is None or known["seq"] < row["seq"]:
            self.faults[(device, part)] = row

    def _heartbeat(self, device: str, event: Event, now: datetime) -> None:
        try:
            beat = Heartbeat.model_validate(dict(event.data))
        except ValidationError as exc:
            logger.info("heartbeat %d of %s says nothing usable: %s", event.seq, device, exc)
            return
        row = {"device_id": device, "seq": event.seq, "ts": event.ts, "received_at": now}
        fields = beat.model_dump()
        fields["software"] = _text(beat.software)
        fields["issuer_keys"] = _text(beat.issuer_keys)
        self._keep(self.health, device, {**row, **fields})

    def note_result(self, device: str, event: Event, now: datetime) -> None:
        if event.type != RESULT_EVENT:
            return
        try:
            result = CommandResult.model_validate(dict(event.data))
        except ValidationError as exc:
            logger.info("command.result %d of %s is not one: %s", event.seq, device, exc)
            return
        detail = _text(f"{result.status}: {result.detail}" if result.detail else result.status)
        self.results.append(
            {
                "command_id": result.command,
                "device_id": device,
                "status": _command_status(result),
                "detail": (detail or "")[:300],
                "result_at": now,
            }
        )


def _command_status(result: CommandResult) -> str:
    if result.ok:
        return CommandStatus.DONE.value  # done, accepted, staged: it did what was asked
    if result.status == "failed":
        return CommandStatus.FAILED.value
    if result.status == "expired":
        return CommandStatus.EXPIRED.value
    return CommandStatus.REFUSED.value  # replayed, refused, unknown_command …


def write_notes(conn: Connection, dialect: ModuleType, notes: EventNotes) -> None:
    _newest_wins(conn, dialect, table_of(DeviceConfig), list(notes.applied.values()))
    _newest_wins(conn, dialect, table_of(DeviceConfigRejection), list(notes.rejected.values()))
    _newest_wins(conn, dialect, table_of(DeviceHealth), list(notes.health.values()))
    _write_faults(conn, dialect, list(notes.faults.values()))
    table = table_of(DeviceCommand)
    for row in notes.results:
        conn.execute(
            update(table)
            .where(
                and_(
                    table.c.command_id == row["command_id"],
                    table.c.device_id == row["device_id"],  # no device answers for another
                    _awaits_result(table),
                )
            )
            .values(status=row["status"], detail=row["detail"], result_at=row["result_at"])
        )
    update_reports.apply_reports(conn, notes.updates)


def _awaits_result(table: Table) -> ColumnElement[bool]:
    """Commands a ``command.result`` may still move.

    An open one; and one that was sent but expired unanswered (the control loop or a
    decommissioning gave up on it): a late result wins, because it is what the box did.
    Not a command that already has a result: a duplicate delivery answered "replayed" must
    not turn the done command it repeats into a refused one. Not an expired rotation
    either: its password is forgotten, so "done" would claim a rotation the broker never got.
    """
    c = table.c
    unanswered = and_(
        c.status == CommandStatus.EXPIRED.value,
        c.result_at.is_(None),
        c.published_at.is_not(None),
        c.name != ROTATE_CREDENTIALS,
    )
    return or_(c.status.in_(OPEN_COMMAND_STATUSES), unanswered)


def _newest_wins(
    conn: Connection,
    dialect: ModuleType,
    table: Table,
    rows: list[dict[str, Any]],
    key: tuple[str, ...] = ("device_id",),
) -> None:
    """Upsert per ``key`` (a device); a row replaces the stored one only with a higher seq."""
    if not rows:
        return
    stmt = dialect.insert(table)
    columns = [c for c in rows[0] if c not in key]
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=list(key),
            set_={c: stmt.excluded[c] for c in columns},
            where=table.c.seq < stmt.excluded.seq,
        ),
        rows,
    )


def _write_faults(conn: Connection, dialect: ModuleType, rows: list[dict[str, Any]]) -> None:
    """The newest report per (device, part); a part past a device's MAX_FAULT_PARTS is left
    out (its events are still stored)."""
    if not rows:
        return
    table = table_of(DeviceFault)
    devices = {row["device_id"] for row in rows}
    known: dict[str, set[str]] = {}
    for device, part in conn.execute(
        select(table.c.device_id, table.c.sensor).where(table.c.device_id.in_(devices))
    ):
        known.setdefault(device, set()).add(part)
    kept = []
    for row in sorted(rows, key=lambda r: (r["device_id"], r["sensor"])):
        parts = known.setdefault(row["device_id"], set())
        if row["sensor"] in parts or len(parts) < MAX_FAULT_PARTS:
            parts.add(row["sensor"])
            kept.append(row)
    _newest_wins(conn, dialect, table, kept, key=("device_id", "sensor"))


def decommissioned(conn: Connection, devices: set[str]) -> set[str]:
    """Which of ``devices`` are decommissioned: their messages are refused."""
    if not devices:
        return set()
    table = table_of(Device)
    query = select(table.c.id).where(
        table.c.id.in_(devices), table.c.status == DeviceStatus.DECOMMISSIONED.value
    )
    return set(conn.execute(query).scalars())


def refusal_reason(device: str) -> str:
    return (
        f"device {device!r} is decommissioned, so its messages are not stored; to use the box "
        "again, let it wipe itself and claim it anew once it says hello"
    )


def activate(conn: Connection, devices: set[str], now: datetime) -> None:
    """Claimed devices seen online as themselves are active, and their bundles delivered."""
    if not devices:
        return
    device = table_of(Device)
    claimed = list(
        conn.execute(
            select(device.c.id).where(
                device.c.id.in_(devices), device.c.status == DeviceStatus.CLAIMED.value
            )
        ).scalars()
    )
    if not claimed:
        return
    conn.execute(
        update(device)
        .where(device.c.id.in_(claimed), device.c.status == DeviceStatus.CLAIMED.value)
        .values(status=DeviceStatus.ACTIVE.value)
    )
    box = table_of(PendingBox)
    # The box has its credentials: the sealed copy has done its job.
    conn.execute(
        update(box)
        .where(box.c.device_id.in_(claimed), box.c.delivered_at.is_(None))
        .values(delivered_at=now, sealed_bundle=None)
    )
    logger.info("claimed devices online as themselves: %s", ", ".join(sorted(claimed)))
