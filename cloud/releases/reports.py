"""What boxes report of their updates (``update.state`` events), applied in ingest's transaction.

The events are the truth about a box's update: its row in the rollout takes the state of
the newest report by sequence number, so a resent or reordered report changes nothing, and
one report applied twice is the same as once. A box speaks only for itself (ingest has
checked the topic's device), and only about a release it was sent: a report naming a
release or rollout that box was never sent is ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Connection

from cloud.core.db import table_of
from cloud.releases.models import Rollout, RolloutDevice
from protocol.payloads import Event
from protocol.release import UPDATE_STATE_EVENT, UpdateReport

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Report:
    device: str
    seq: int
    report: UpdateReport
    received_at: datetime


def read_report(device: str, event: Event, now: datetime) -> Report | None:
    """The report an ``update.state`` event carries, or None (it is still stored as an event)."""
    if event.type != UPDATE_STATE_EVENT:
        return None
    try:
        report = UpdateReport.model_validate(dict(event.data))
    except ValidationError as exc:
        logger.info("update.state %d of %s is not one: %s", event.seq, device, exc)
        return None
    return Report(device, event.seq, report, now)


def apply_reports(conn: Connection, reports: list[Report]) -> int:
    """Move each reporting box's rollout row; how many reports changed a row."""
    changed = 0
    for item in sorted(reports, key=lambda r: r.seq):
        rollout_id = _rollout_of(conn, item)
        if rollout_id is None:
            logger.info(
                "ignored update.state %d of %s: release %s / rollout %r was not sent to it",
                item.seq,
                item.device,
                item.report.release,
                item.report.rollout,
            )
            continue
        changed += _apply(conn, rollout_id, item)
    return changed


def _rollout_of(conn: Connection, item: Report) -> str | None:
    """The rollout that sent ``item``'s release to its box: the named one, else the newest."""
    rows, rollouts = table_of(RolloutDevice).c, table_of(Rollout).c
    query = (
        select(rows.rollout_id)
        .join(table_of(Rollout), rollouts.id == rows.rollout_id)
        .where(
            rows.device_id == item.device,
            rows.command_id.is_not(None),
            rollouts.release == item.report.release,
        )
        .order_by(rows.sent_at.desc())
        .limit(1)
    )
    if item.report.rollout:
        query = query.where(rows.rollout_id == item.report.rollout)
    found = conn.execute(query).scalar()
    return None if found is None else str(found)


def _apply(conn: Connection, rollout_id: str, item: Report) -> int:
    table = table_of(RolloutDevice)
    c, report = table.c, item.report
    result = conn.execute(
        update(table)
        .where(
            and_(
                c.rollout_id == rollout_id,
                c.device_id == item.device,
                or_(c.seq.is_(None), c.seq < item.seq),
            )
        )
        .values(
            state=report.state.value,
            seq=item.seq,
            detail=report.detail or None,
            running=report.running or c.running,
            downloaded_bytes=report.downloaded_bytes,
            reused_bytes=report.reused_bytes,
            updated_at=item.received_at,
        )
    )
    return result.rowcount
