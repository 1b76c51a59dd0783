"""A rollout's own steps, run by the leader's job: send a stage, wait, soak, stop at failures.

Each step reads the boxes' states (set only by their ``update.state`` reports and by the
stage timeout) and changes the rollout with conditional UPDATEs, so a person pausing or
aborting it at the same moment always wins over the job.

A stage is complete when each of its boxes is in a final state (healthy, failed, rolled
back; silent past ``stage_timeout_s``: failed) and its soak has passed since then. Whenever
the failures among the boxes sent so far, less those a person excused by resuming, pass
the threshold, the rollout stops and sends nothing more.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from cloud.core.time import as_utc
from cloud.devices.errors import DeviceError
from cloud.devices.issuing import new_command_row
from cloud.devices.models import Device, DeviceStatus
from cloud.models import Venue
from cloud.releases.models import (
    FAILURE_STATES,
    SCHEDULED,
    TERMINAL_STATES,
    ReleaseRow,
    Rollout,
    RolloutDevice,
    RolloutStatus,
)
from cloud.releases.settings import ReleaseSettings
from protocol.commands import UPDATE, UpdateWindow
from protocol.release import UpdateState

logger = logging.getLogger(__name__)

# A box that was decommissioned after the rollout began: nothing to send, no failure.
SKIPPED: Final = "skipped"
DONE_STATES: Final = (*TERMINAL_STATES, SKIPPED)


def advance_all(engine: Engine, now: datetime, *, settings: ReleaseSettings) -> int:
    """One step of every running rollout; how many there were."""
    with Session(engine) as session:
        running = list(
            session.exec(select(Rollout.id).where(Rollout.status == RolloutStatus.RUNNING.value))
        )
    for rollout_id in running:
        with Session(engine) as session:
            try:
                advance(session, rollout_id, now=now, settings=settings)
            except Exception:  # one rollout's failure must not hold the others
                session.rollback()
                logger.exception("rollout %s: step failed; trying again next time", rollout_id)
    return len(running)


def advance(session: Session, rollout_id: str, *, now: datetime, settings: ReleaseSettings) -> None:
    rollout = session.get(Rollout, rollout_id)
    if rollout is None or rollout.status != RolloutStatus.RUNNING.value:
        return
    if rollout.current_stage < 0:
        _start_stage(session, rollout, 0, now=now, settings=settings)
        return
    stage = rollout.current_stage
    # Normally none: boxes left unsent by a leader that died between claiming and sending.
    _send_scheduled(session, rollout, stage, now=now, settings=settings)
    _time_out(session, rollout, stage, now=now, timeout=settings.stage_timeout_s)
    rows = list(
        session.exec(
            select(RolloutDevice).where(
                RolloutDevice.rollout_id == rollout.id, col(RolloutDevice.stage) <= stage
            )
        )
    )
    if _stop_at_threshold(session, rollout, rows, now=now):
        return
    if any(row.state not in DONE_STATES for row in rows if row.stage == stage):
        return
    done_at = rollout.stage_done_at
    if done_at is None:
        _set(session, rollout, now=now, stage_done_at=now)
        done_at = now
    if stage == len(rollout.stages) - 1:
        _set(session, rollout, now=now, status=RolloutStatus.DONE.value, finished_at=now)
        logger.info("rollout %s of %s is done", rollout.id, rollout.release)
        return
    soak = timedelta(seconds=float(rollout.stages[stage]["soak_s"]))
    if as_utc(now) >= as_utc(done_at) + soak:
        _start_stage(session, rollout, stage + 1, now=now, settings=settings)


def _set(session: Session, rollout: Rollout, *, now: datetime, **values: Any) -> bool:
    """Change the rollout if it is still running in the same stage; whether it was."""
    changed = session.exec(
        update(Rollout)
        .where(
            col(Rollout.id) == rollout.id,
            col(Rollout.status) == RolloutStatus.RUNNING.value,
            col(Rollout.current_stage) == rollout.current_stage,
        )
        .values(updated_at=now, **values)
    ).rowcount
    session.commit()
    return bool(changed)


def _time_out(
    session: Session, rollout: Rollout, stage: int, *, now: datetime, timeout: float
) -> None:
    """Boxes of the stage silent past the timeout count as failed (a report still moves them)."""
    deadline = now - timedelta(seconds=timeout)
    session.exec(
        update(RolloutDevice)
        .where(
            col(RolloutDevice.rollout_id) == rollout.id,
            col(RolloutDevice.stage) == stage,
            col(RolloutDevice.state).not_in(DONE_STATES),
            col(RolloutDevice.sent_at) <= deadline,
        )
        .values(
            state=UpdateState.FAILED.value,
            detail=f"no final report within {timeout:.0f} s of the command",
            updated_at=now,
        )
    )
    session.commit()


def _stop_at_threshold(
    session: Session, rollout: Rollout, rows: list[RolloutDevice], *, now: datetime
) -> bool:
    failed = sum(1 for row in rows if row.state in FAILURE_STATES) - rollout.excused
    if failed <= 0 or failed / len(rows) <= rollout.failure_threshold:
        return False
    reason = (
        f"stopped by itself: {failed} of {len(rows)} boxes sent so far failed or rolled back "
        f"({failed / len(rows):.1%}, above the threshold of {rollout.failure_threshold:.1%}); "
        "look at their details, then resume or abort"
    )
    if _set(session, rollout, now=now, status=RolloutStatus.STOPPED.value, reason=reason):
        logger.warning("rollout %s of %s: %s", rollout.id, rollout.release, reason)
    return True


def _window(venue: Venue | None, *, force: bool) -> dict[str, Any] | None:
    if force or venue is None:
        return None
    window = UpdateWindow(
        start=venue.update_window_start, end=venue.update_window_end, tz=venue.timezone
    )
    return window.model_dump()


def _start_stage(
    session: Session, rollout: Rollout, stage: int, *, now: datetime, settings: ReleaseSettings
) -> None:
    """Claim the stage (one conditional UPDATE) and store an update command for each box."""
    if _set(
        session,
        rollout,
        now=now,
        current_stage=stage,
        stage_started_at=now,
        stage_done_at=None,
    ):
        _send_scheduled(session, rollout, stage, now=now, settings=settings)


def _send_scheduled(
    session: Session, rollout: Rollout, stage: int, *, now: datetime, settings: ReleaseSettings
) -> None:
    release = session.get(ReleaseRow, rollout.release)
    assert release is not None  # a rollout's release is never deleted (foreign key)
    rows = session.exec(
        select(RolloutDevice).where(
            RolloutDevice.rollout_id == rollout.id,
            RolloutDevice.stage == stage,
            RolloutDevice.state == SCHEDULED,
        )
    ).all()
    if not rows:
        return
    venues: dict[str, Venue | None] = {}
    for row in rows:
        if row.venue_id not in venues:
            venues[row.venue_id] = session.get(Venue, row.venue_id)
        _send(
            session, rollout, release, row, venue=venues[row.venue_id], now=now, settings=settings
        )
    session.commit()
    logger.info(
        "rollout %s of %s: stage %d sent to %d boxes", rollout.id, release.version, stage, len(rows)
    )


def _send(
    session: Session,
    rollout: Rollout,
    release: ReleaseRow,
    row: RolloutDevice,
    *,
    venue: Venue | None,
    now: datetime,
    settings: ReleaseSettings,
) -> None:
    device = session.get(Device, row.device_id)
    row.updated_at = now
    if device is None or device.status == DeviceStatus.DECOMMISSIONED.value:
        row.state, row.detail = SKIPPED, "decommissioned before its stage began"
        session.add(row)
        return
    args = {
        "release": release.version,
        "serial": release.serial,
        "rollout": rollout.id,
        "window": _window(venue, force=rollout.force),
    }
    try:
        command = new_command_row(
            session=session,
            device=device,
            name=UPDATE,
            by=rollout.created_by,
            now=now,
            lifetime=timedelta(seconds=settings.command_lifetime_s),
            args=args,
        )
    except DeviceError as exc:  # never expected: the arguments come from checked rows
        row.state, row.detail = UpdateState.FAILED.value, exc.message[:200]
        session.add(row)
        return
    session.add(command)
    row.state, row.command_id, row.sent_at = UpdateState.PENDING.value, command.command_id, now
    session.add(row)
