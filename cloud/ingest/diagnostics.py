"""Diagnostics reports: stored only as the one answer to a diagnostics command sent to that box.

A report is unsequenced and can be large (up to a thousand log lines), and a box may publish
on its ``diag`` topic at broker speed. So a report is stored only when it names a
``diagnostics`` command that was published to the same device and has no report yet: at most
one report per command a person asked for. Anything else is refused and counted, aggregated,
in ``rejected_message`` (issue 15: a stolen box flooding ``device_diagnostics``). A repeat of
an answered command (a QoS 1 redelivery, or a flood) is refused the same way; the first
report is the one kept. Reports expire with the retention job
(``jobs.diagnostics_retention_days``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from cloud.core.db import table_of
from cloud.devices.models import DeviceCommand, DeviceDiagnostics
from cloud.ingest.inbound import PAYLOAD_KEEP, Rejection
from protocol.commands import DIAGNOSTICS
from protocol.health import Diagnostics
from protocol.topics import Topic

Report = tuple[Topic, Diagnostics]


COMMAND = table_of(DeviceCommand)
REPORT = table_of(DeviceDiagnostics)


@dataclass(slots=True)
class Admitted:
    """The reports of one transaction that answer a command, and the refusals of the rest."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    refused: list[Rejection] = field(default_factory=list)


def admit(conn: Connection, reports: Sequence[Report], *, now: datetime) -> Admitted:
    """Sort ``reports`` into rows to store and refusals, inside the caller's transaction."""
    admitted = Admitted()
    if not reports:
        return admitted
    ids = sorted({report.command_id for _, report in reports})
    devices = {topic.device for topic, _ in reports}
    asked = _asked(conn, ids)
    answered = set(
        conn.execute(
            select(REPORT.c.command_id).where(
                REPORT.c.device_id.in_(devices), REPORT.c.command_id.in_(ids)
            )
        ).scalars()
    )
    for topic, report in reports:
        problem = _problem(topic, report, asked=asked, answered=answered)
        if problem is None:
            admitted.rows.append(_row(topic, report, now))
            answered.add(report.command_id)
        else:
            payload = report.model_dump_json()
            admitted.refused.append(
                Rejection(
                    str(topic),
                    topic.device,
                    None,
                    "command_id",
                    problem,
                    len(payload),
                    payload[:PAYLOAD_KEEP],
                )
            )
    return admitted


def _asked(conn: Connection, ids: list[str]) -> dict[str, str]:
    """command id -> device, of the published diagnostics commands among ``ids``.

    The rows are locked (PostgreSQL; SQLite has one writer anyway) in id order, so two
    workers given the same report store it once: the second waits, then sees the first's.
    """
    query = (
        select(COMMAND.c.command_id, COMMAND.c.device_id)
        .where(
            COMMAND.c.command_id.in_(ids),
            COMMAND.c.name == DIAGNOSTICS,
            COMMAND.c.published_at.is_not(None),  # only a published one can have reached the box
        )
        .order_by(COMMAND.c.command_id)
        .with_for_update()
    )
    return {row.command_id: row.device_id for row in conn.execute(query)}


def _problem(
    topic: Topic, report: Diagnostics, *, asked: dict[str, str], answered: set[str]
) -> str | None:
    if asked.get(report.command_id) != topic.device:
        return (
            f"this report answers no diagnostics command sent to device {topic.device!r} "
            f"(command {report.command_id!r}); reports are stored only when asked for "
            "(yizhan device diagnostics ID)"
        )
    if report.command_id in answered:
        return (
            f"diagnostics command {report.command_id!r} has its report already; the first one "
            "is kept (a repeat is a redelivery or a box sending more than it was asked)"
        )
    return None


def _row(topic: Topic, report: Diagnostics, now: datetime) -> dict[str, Any]:
    return {
        "device_id": topic.device,
        "command_id": report.command_id,
        "ts": report.ts,
        "report": report.model_dump(mode="json"),
        "received_at": now,
    }


def store(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(REPORT.insert(), rows)
