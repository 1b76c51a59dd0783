"""Starting a rollout and steering it by hand: pause, resume, abort.

What a rollout does on its own (stages, soaks, stopping at the threshold) is
cloud/releases/progress.py; what boxes report is cloud/releases/reports.py.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, or_, update
from sqlmodel import Session, col, func, select

from cloud.auth.principal import Principal
from cloud.devices.models import CommandStatus, Device, DeviceCommand, DeviceStatus
from cloud.models import Venue
from cloud.releases.errors import ReleasesError
from cloud.releases.models import (
    FAILURE_STATES,
    OPEN_ROLLOUT_STATUSES,
    SCHEDULED,
    ReleaseRow,
    Rollout,
    RolloutDevice,
    RolloutStatus,
)
from cloud.releases.planning import plan_stages, stage_of, stage_order
from cloud.releases.settings import ReleaseSettings, StageSpec
from protocol.ids import ID_PATTERN
from protocol.release import UpdateState

Ids = Annotated[
    list[Annotated[str, Field(max_length=32, pattern=ID_PATTERN)]], Field(max_length=10_000)
]
# A box that already runs the release is counted healthy without being sent anything.
ALREADY_RUNNING = "already running this release"


class RolloutTarget(BaseModel):
    """The boxes to update: the union of what is given."""

    model_config = ConfigDict(extra="forbid")

    venues: Ids = []
    districts: Annotated[list[Annotated[str, Field(max_length=60)]], Field(max_length=1000)] = []
    roles: list[Annotated[str, Field(pattern=r"^(door|kiosk|sensor-hub)$")]] = []
    devices: Ids = []

    def empty(self) -> bool:
        return not (self.venues or self.districts or self.roles or self.devices)


class RolloutCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    release: str = Field(max_length=40)
    target: RolloutTarget
    stages: Annotated[list[StageSpec], Field(min_length=1, max_length=20)] | None = None
    failure_threshold: float | None = Field(default=None, ge=0, le=1)
    # Skip the venues' update windows: boxes switch as soon as they have the release.
    force: bool = False


def version_of(software: str | None) -> str | None:
    """The version in a box's software string ("yizhan 0.1.0" -> "0.1.0")."""
    if not software:
        return None
    return software.split()[-1][:40]


def _refuse_outside_scope(session: Session, principal: Principal, target: RolloutTarget) -> None:
    scope = principal.venue_filter()
    if scope is None:
        return
    outside = sorted(set(target.venues) - scope)
    if target.devices:
        rows = session.exec(
            select(Device.id, Device.venue_id).where(col(Device.id).in_(target.devices))
        )
        outside += sorted(device for device, venue in rows if venue not in scope)
    if outside:
        raise ReleasesError(
            403,
            code="outside_your_venues",
            message=f"{', '.join(outside[:5])}: not in your venues; a technician updates only "
            "the boxes of the venues they look after",
        )


def _selection(target: RolloutTarget) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if target.venues:
        parts.append(col(Device.venue_id).in_(target.venues))
    if target.devices:
        parts.append(col(Device.id).in_(target.devices))
    if target.roles:
        parts.append(col(Device.role).in_(target.roles))
    if target.districts:
        in_district = select(Venue.id).where(col(Venue.district).in_(target.districts))
        parts.append(col(Device.venue_id).in_(in_district))
    return or_(*parts)


def target_devices(session: Session, principal: Principal, target: RolloutTarget) -> list[Device]:
    """Claimed, not decommissioned boxes the target names and ``principal`` may update."""
    if target.empty():
        raise ReleasesError(
            422,
            code="no_target",
            message="name the boxes to update: target.venues, districts, roles or devices",
        )
    _refuse_outside_scope(session, principal, target)
    query = select(Device).where(
        _selection(target),
        col(Device.status) != DeviceStatus.DECOMMISSIONED.value,
        col(Device.claimed_at).is_not(None),
    )
    scope = principal.venue_filter()
    if scope is not None:
        query = query.where(col(Device.venue_id).in_(scope))
    devices = list(session.exec(query.order_by(col(Device.id))))
    if not devices:
        raise ReleasesError(
            422,
            code="no_devices",
            message="the target matches no claimed box in service; check the venue, district "
            "and device ids (GET /api/v1/devices)",
        )
    return devices


def _refuse_busy(session: Session, devices: list[Device]) -> None:
    busy = session.exec(
        select(RolloutDevice.device_id, RolloutDevice.rollout_id)
        .join(Rollout, col(Rollout.id) == col(RolloutDevice.rollout_id))
        .where(
            col(RolloutDevice.device_id).in_([d.id for d in devices]),
            col(Rollout.status).in_(OPEN_ROLLOUT_STATUSES),
        )
    ).all()
    if busy:
        named = ", ".join(f"{device} ({rollout})" for device, rollout in busy[:5])
        raise ReleasesError(
            409,
            code="devices_in_rollout",
            message=f"{len(busy)} box(es) are in a rollout not finished yet: {named}; let it "
            "finish or abort it first",
        )


def get_release(session: Session, version: str) -> ReleaseRow:
    row = session.get(ReleaseRow, version)
    if row is None:
        raise ReleasesError(
            404,
            code="release_not_found",
            message=f"there is no release {version[:40]!r}; GET /api/v1/releases lists them",
        )
    return row


def create_rollout(
    *,
    session: Session,
    principal: Principal,
    body: RolloutCreate,
    settings: ReleaseSettings,
    now: datetime,
) -> Rollout:
    """The rollout, stored with every box in its stage; the job sends the first stage."""
    release = get_release(session, body.release)
    devices = target_devices(session, principal, body.target)
    _refuse_busy(session, devices)
    rollout_id = "ro-" + secrets.token_hex(8)
    stages = plan_stages(body.stages or settings.default_stages, len(devices))
    by_id = {device.id: device for device in devices}
    rollout = Rollout(
        id=rollout_id,
        release=release.version,
        stages=[{"devices": s.devices, "soak_s": s.soak_s} for s in stages],
        failure_threshold=(
            settings.failure_threshold if body.failure_threshold is None else body.failure_threshold
        ),
        force=body.force,
        target=body.target.model_dump(),
        created_by=principal.subject[:80],
        created_at=now,
        updated_at=now,
    )
    session.add(rollout)
    session.flush()  # the rollout's row before its boxes' (their foreign key)
    doors = {device_id for device_id, device in by_id.items() if device.role == "door"}
    for index, device_id in enumerate(stage_order(rollout_id, list(by_id), last=doors)):
        device = by_id[device_id]
        running = version_of(device.software)
        done = running == release.version
        session.add(
            RolloutDevice(
                rollout_id=rollout_id,
                device_id=device_id,
                venue_id=device.venue_id,
                stage=stage_of(index, stages),
                state=UpdateState.HEALTHY.value if done else SCHEDULED,
                detail=ALREADY_RUNNING if done else None,
                running=running,
                updated_at=now,
            )
        )
    session.commit()
    session.refresh(rollout)
    return rollout


def get_rollout(session: Session, principal: Principal, rollout_id: str) -> Rollout:
    """The rollout if ``principal`` sees at least one of its boxes; 404 alike otherwise."""
    rollout = session.get(Rollout, rollout_id)
    scope = principal.venue_filter()
    if rollout is not None and scope is not None:
        mine = session.exec(
            select(func.count())
            .select_from(RolloutDevice)
            .where(
                col(RolloutDevice.rollout_id) == rollout.id,
                col(RolloutDevice.venue_id).in_(scope),
            )
        ).one()
        rollout = rollout if mine else None
    if rollout is None:
        raise ReleasesError(
            404,
            code="rollout_not_found",
            message=f"there is no rollout {rollout_id[:40]!r}; GET /api/v1/rollouts lists them",
        )
    return rollout


def refuse_foreign(session: Session, principal: Principal, rollout: Rollout) -> None:
    """A scoped technician steers only rollouts wholly inside their venues."""
    scope = principal.venue_filter()
    if scope is None:
        return
    foreign = session.exec(
        select(func.count())
        .select_from(RolloutDevice)
        .where(
            col(RolloutDevice.rollout_id) == rollout.id,
            col(RolloutDevice.venue_id).not_in(scope),
        )
    ).one()
    if foreign:
        raise ReleasesError(
            403,
            code="outside_your_venues",
            message=f"rollout {rollout.id} also updates {foreign} box(es) outside your venues; "
            "ask an admin or a technician of the whole fleet to steer it",
        )


def failures(session: Session, rollout_id: str) -> int:
    return session.exec(
        select(func.count())
        .select_from(RolloutDevice)
        .where(
            col(RolloutDevice.rollout_id) == rollout_id,
            col(RolloutDevice.state).in_(FAILURE_STATES),
        )
    ).one()


def _move(
    session: Session,
    rollout: Rollout,
    *,
    allowed: tuple[RolloutStatus, ...],
    to: RolloutStatus,
    now: datetime,
    reason: str,
    excused: int | None = None,
) -> Rollout:
    """Change the status in one conditional UPDATE: the job may be changing it too."""
    values: dict[str, object] = {"status": to.value, "updated_at": now, "reason": reason}
    if excused is not None:
        values["excused"] = excused
    if to is RolloutStatus.ABORTED:
        values["finished_at"] = now
    changed = session.exec(
        update(Rollout)
        .where(
            col(Rollout.id) == rollout.id,
            col(Rollout.status).in_([status.value for status in allowed]),
        )
        .values(**values)
    ).rowcount
    session.commit()
    session.refresh(rollout)
    if not changed:
        raise ReleasesError(
            409,
            code="wrong_rollout_status",
            message=f"rollout {rollout.id} is {rollout.status}; it must be "
            f"{' or '.join(status.value for status in allowed)} for this",
        )
    return rollout


def pause(*, session: Session, rollout: Rollout, by: str, now: datetime) -> Rollout:
    return _move(
        session,
        rollout,
        allowed=(RolloutStatus.RUNNING,),
        to=RolloutStatus.PAUSED,
        now=now,
        reason=f"paused by {by}",
    )


def resume(*, session: Session, rollout: Rollout, by: str, now: datetime) -> Rollout:
    """Running again; failures so far are excused, so a stopped rollout does not stop at once."""
    return _move(
        session,
        rollout,
        allowed=(RolloutStatus.PAUSED, RolloutStatus.STOPPED),
        to=RolloutStatus.RUNNING,
        now=now,
        reason=f"resumed by {by}",
        excused=failures(session, rollout.id),
    )


def abort(*, session: Session, rollout: Rollout, by: str, now: datetime) -> Rollout:
    """For good: commands not yet on the broker are withdrawn; boxes mid-update finish."""
    rollout = _move(
        session,
        rollout,
        allowed=(RolloutStatus.RUNNING, RolloutStatus.PAUSED, RolloutStatus.STOPPED),
        to=RolloutStatus.ABORTED,
        now=now,
        reason=f"aborted by {by}",
    )
    sent = select(RolloutDevice.command_id).where(
        col(RolloutDevice.rollout_id) == rollout.id, col(RolloutDevice.command_id).is_not(None)
    )
    session.exec(
        update(DeviceCommand)
        .where(
            col(DeviceCommand.command_id).in_(sent),
            col(DeviceCommand.status) == CommandStatus.PENDING.value,
        )
        .values(status=CommandStatus.EXPIRED.value, detail=f"rollout {rollout.id} aborted")
    )
    session.commit()
    return rollout
