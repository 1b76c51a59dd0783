"""What the API shows of a device: state, lifecycle, newest health, config versions, commands."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session, SQLModel, col, select

from cloud.core.time import UtcDatetime
from cloud.devices.config import desired_versions
from cloud.devices.hello import pending_boxes
from cloud.devices.issuing import recent_commands
from cloud.devices.models import (
    Device,
    DeviceCommand,
    DeviceConfig,
    DeviceConfigRejection,
    DeviceFault,
    DeviceHealth,
    PendingBox,
)

DETAIL_COMMANDS = 10


class DeviceHealthPublic(SQLModel):
    software: str | None
    uptime_s: int
    disk_free_mb: int | None
    disk_total_mb: int | None
    cpu_temp_c: float | None
    outbox_depth: int
    issuer_keys: str | None
    at: UtcDatetime  # the device's time of the heartbeat


class DeviceFaultPublic(SQLModel):
    """A part of the device that does not work, as it last said (its time)."""

    sensor: str  # "door-screen", "door-speaker", "meter", a probe's id …
    problem: str
    since: UtcDatetime


class DeviceConfigState(SQLModel):
    desired_version: int | None = None
    applied_version: int | None = None
    applied_at: UtcDatetime | None = None
    rejected_version: int | None = None
    rejected_errors: list[str] = []


class DevicePublic(SQLModel):
    id: str
    venue_id: str
    online: bool
    software: str | None
    last_seen_at: UtcDatetime | None
    state_at: UtcDatetime | None
    role: str | None
    status: str
    serial: str | None
    credential_generation: int
    health: DeviceHealthPublic | None = None
    config: DeviceConfigState = DeviceConfigState()
    faults: list[DeviceFaultPublic] = []  # parts that do not work now, by name


class CommandPublic(SQLModel):
    command_id: str
    name: str
    status: str
    issued_by: str
    issued_at: UtcDatetime
    expires_at: UtcDatetime
    detail: str | None


class DeviceDetail(DevicePublic):
    commands: list[CommandPublic] = []  # the newest first


class DevicesPublic(SQLModel):
    data: list[DevicePublic]
    count: int


class CommandsPublic(SQLModel):
    data: list[CommandPublic]
    count: int


class PendingBoxPublic(SQLModel):
    serial: str
    first_seen_at: UtcDatetime
    last_seen_at: UtcDatetime
    software: str | None
    hardware: str | None


class PendingBoxesPublic(SQLModel):
    data: list[PendingBoxPublic]
    count: int


def _health(row: DeviceHealth) -> DeviceHealthPublic:
    return DeviceHealthPublic.model_validate(row, update={"at": row.ts})


def device_views(*, session: Session, devices: Sequence[Device]) -> list[DevicePublic]:
    """Each device with its health, config state and faults: five queries for the page."""
    ids = [d.id for d in devices]
    if not ids:
        return []
    health = {
        h.device_id: h
        for h in session.exec(select(DeviceHealth).where(col(DeviceHealth.device_id).in_(ids)))
    }
    applied = {
        c.device_id: c
        for c in session.exec(select(DeviceConfig).where(col(DeviceConfig.device_id).in_(ids)))
    }
    rejected = {
        r.device_id: r
        for r in session.exec(
            select(DeviceConfigRejection).where(col(DeviceConfigRejection.device_id).in_(ids))
        )
    }
    desired = desired_versions(session=session, device_ids=ids)
    faults: dict[str, list[DeviceFaultPublic]] = {}
    for row in session.exec(
        select(DeviceFault)
        .where(col(DeviceFault.device_id).in_(ids), col(DeviceFault.problem).is_not(None))
        .order_by(col(DeviceFault.device_id), col(DeviceFault.sensor))
    ):
        faults.setdefault(row.device_id, []).append(
            DeviceFaultPublic(sensor=row.sensor, problem=row.problem or "", since=row.ts)
        )
    views = []
    for device in devices:
        done, refused = applied.get(device.id), rejected.get(device.id)
        config = DeviceConfigState(
            desired_version=desired.get(device.id),
            applied_version=done.version if done else None,
            applied_at=done.applied_at if done else None,
            rejected_version=refused.version if refused else None,
            rejected_errors=list(refused.errors) if refused else [],
        )
        beat = health.get(device.id)
        views.append(
            DevicePublic.model_validate(
                device,
                update={
                    "health": _health(beat) if beat else None,
                    "config": config,
                    "faults": faults.get(device.id, []),
                },
            )
        )
    return views


def device_detail(*, session: Session, device: Device) -> DeviceDetail:
    (view,) = device_views(session=session, devices=[device])
    commands = recent_commands(session=session, device_id=device.id, limit=DETAIL_COMMANDS)
    return DeviceDetail.model_validate(
        view, update={"commands": [CommandPublic.model_validate(c) for c in commands]}
    )


def command_view(row: DeviceCommand) -> CommandPublic:
    return CommandPublic.model_validate(row)


def pending_view(box: PendingBox) -> PendingBoxPublic:
    return PendingBoxPublic.model_validate(box)


def pending_list(*, session: Session, now: datetime, window: timedelta) -> PendingBoxesPublic:
    """Unclaimed boxes that said hello within the claim window, the most recent first."""
    boxes = pending_boxes(session=session, now=now, window=window)
    return PendingBoxesPublic(data=[pending_view(b) for b in boxes], count=len(boxes))
