"""What the API shows of releases, rollouts and each box's update: the public shapes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, SQLModel, col, func, select

from cloud.core.time import UtcDatetime
from cloud.devices.models import Device, DeviceHealth
from cloud.releases.models import ReleaseRow, Rollout, RolloutDevice
from cloud.releases.rollouts import version_of


class ReleasePublic(SQLModel):
    version: str
    serial: int
    machine: str
    python: str
    notes: str
    created_at: UtcDatetime
    published_at: UtcDatetime
    published_by: str
    key_id: str
    total_bytes: int
    wheel_count: int


class WheelPublic(SQLModel):
    name: str
    sha256: str
    size: int


class ReleaseDetail(ReleasePublic):
    wheels: list[WheelPublic]


class ReleasesPublic(SQLModel):
    data: list[ReleasePublic]
    count: int


def release_view(row: ReleaseRow) -> ReleasePublic:
    return ReleasePublic.model_validate(row)


def release_detail(row: ReleaseRow) -> ReleaseDetail:
    return ReleaseDetail.model_validate(row, update={"wheels": row.wheels})


class StagePublic(SQLModel):
    stage: int
    devices: int
    soak_s: float
    states: dict[str, int]  # boxes of the stage per state


class RolloutPublic(SQLModel):
    id: str
    release: str
    status: str  # running | paused | stopped | aborted | done
    current_stage: int  # -1 before the first stage is sent
    stages: list[StagePublic]
    states: dict[str, int]  # all boxes per state
    devices: int
    failure_threshold: float
    force: bool
    target: dict[str, Any]
    reason: str | None
    created_by: str
    created_at: UtcDatetime
    updated_at: UtcDatetime
    stage_started_at: UtcDatetime | None
    finished_at: UtcDatetime | None


class RolloutDevicePublic(SQLModel):
    device_id: str
    venue_id: str
    stage: int
    state: str  # scheduled | pending | waiting | downloading | installing | healthy | …
    running: str | None  # the version the box said it runs
    detail: str | None
    command_id: str | None
    sent_at: UtcDatetime | None
    updated_at: UtcDatetime
    downloaded_bytes: int
    reused_bytes: int


class RolloutDetail(RolloutPublic):
    device_list: list[RolloutDevicePublic]


class RolloutsPublic(SQLModel):
    data: list[RolloutPublic]
    count: int


def _states(
    session: Session, rollout_ids: Sequence[str], scope: frozenset[str] | None
) -> dict[str, Counter[tuple[int, str]]]:
    """Per rollout, boxes per (stage, state): one query for a page of rollouts."""
    query = (
        select(
            col(RolloutDevice.rollout_id),
            col(RolloutDevice.stage),
            col(RolloutDevice.state),
            func.count(),
        )
        .where(col(RolloutDevice.rollout_id).in_(rollout_ids))
        .group_by(col(RolloutDevice.rollout_id), col(RolloutDevice.stage), col(RolloutDevice.state))
    )
    if scope is not None:
        query = query.where(col(RolloutDevice.venue_id).in_(scope))
    found: dict[str, Counter[tuple[int, str]]] = {}
    for rollout_id, stage, state, n in session.exec(query):
        found.setdefault(rollout_id, Counter())[(stage, state)] += n
    return found


def _rollout_view(rollout: Rollout, counts: Counter[tuple[int, str]]) -> RolloutPublic:
    stages = [
        StagePublic(
            stage=number,
            devices=int(planned["devices"]),
            soak_s=float(planned["soak_s"]),
            states={state: n for (stage, state), n in sorted(counts.items()) if stage == number},
        )
        for number, planned in enumerate(rollout.stages)
    ]
    totals: Counter[str] = Counter()
    for (_stage, state), n in counts.items():
        totals[state] += n
    return RolloutPublic.model_validate(
        rollout,
        update={
            "stages": stages,
            "states": dict(sorted(totals.items())),
            "devices": totals.total(),
        },
    )


def rollout_views(
    session: Session, rollouts: Sequence[Rollout], scope: frozenset[str] | None
) -> list[RolloutPublic]:
    counts = _states(session, [r.id for r in rollouts], scope)
    return [_rollout_view(r, counts.get(r.id, Counter())) for r in rollouts]


def rollout_detail(
    session: Session, rollout: Rollout, scope: frozenset[str] | None
) -> RolloutDetail:
    query = select(RolloutDevice).where(RolloutDevice.rollout_id == rollout.id)
    if scope is not None:
        query = query.where(col(RolloutDevice.venue_id).in_(scope))
    rows = session.exec(query.order_by(col(RolloutDevice.stage), col(RolloutDevice.device_id)))
    view = rollout_views(session, [rollout], scope)[0]
    return RolloutDetail.model_validate(
        view.model_dump(),
        update={"device_list": [RolloutDevicePublic.model_validate(r) for r in rows]},
    )


class DeviceUpdatePublic(SQLModel):
    """One box's version and where it is with its newest update."""

    device_id: str
    venue_id: str
    running: str | None  # from the newest of its heartbeat and its update reports
    state: str | None  # of its newest rollout; None: never in one
    release: str | None
    rollout: str | None
    detail: str | None
    updated_at: UtcDatetime | None


def device_updates(session: Session, devices: Sequence[Device]) -> list[DeviceUpdatePublic]:
    """The version and update state of each of ``devices``: three queries whatever their number."""
    ids = [d.id for d in devices]
    health = {
        h.device_id: h
        for h in session.exec(select(DeviceHealth).where(col(DeviceHealth.device_id).in_(ids)))
    }
    newest: dict[str, tuple[RolloutDevice, str]] = {}
    rows = session.exec(
        select(RolloutDevice, Rollout.release)
        .join(Rollout, col(Rollout.id) == col(RolloutDevice.rollout_id))
        .where(col(RolloutDevice.device_id).in_(ids))
        .order_by(col(Rollout.created_at))
    )
    for row, release in rows:
        newest[row.device_id] = (row, release)  # the newest rollout's row wins
    return [_device_update(d, health.get(d.id), newest.get(d.id)) for d in devices]


def _device_update(
    device: Device, health: DeviceHealth | None, newest: tuple[RolloutDevice, str] | None
) -> DeviceUpdatePublic:
    running = version_of(health.software if health and health.software else device.software)
    row, release = newest if newest else (None, None)
    # Heartbeats and update reports share the box's sequence: the later one says what runs.
    reported = row is not None and row.running and row.seq is not None
    if reported and row is not None and (health is None or (row.seq or 0) > health.seq):
        running = row.running
    return DeviceUpdatePublic(
        device_id=device.id,
        venue_id=device.venue_id,
        running=running,
        state=row.state if row else None,
        release=release,
        rollout=row.rollout_id if row else None,
        detail=row.detail if row else None,
        updated_at=row.updated_at if row else None,
    )
