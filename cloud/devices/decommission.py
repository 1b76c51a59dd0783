"""Taking a device out of service: no more API, a wipe on its way, its box claimable again.

The broker account is not removed here: the box needs it to receive the wipe. The control
loop removes it when the wipe's result arrives or the grace period ends
(cloud/devices/broker_sync.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, delete, select

from cloud.devices.credentials import revoke_device_token
from cloud.devices.errors import DeviceError
from cloud.devices.issuing import max_lifetime, new_command_row
from cloud.devices.models import (
    OPEN_COMMAND_STATUSES,
    CommandStatus,
    Device,
    DeviceCommand,
    DeviceStatus,
    PendingBox,
    PendingBoxCheck,
)
from protocol.commands import WIPE


def decommission(*, session: Session, device: Device, by: str, now: datetime) -> Device:
    """Mark ``device`` decommissioned, revoke its token, cancel its commands, queue a wipe."""
    if device.status == DeviceStatus.DECOMMISSIONED:
        raise DeviceError(
            409,
            code="already_decommissioned",
            message=f"device {device.id!r} was decommissioned already; nothing more to do",
        )
    device.status = DeviceStatus.DECOMMISSIONED.value
    device.decommissioned_at = now
    device.decommissioned_by = by
    device.online = False
    revoke_device_token(session=session, device=device, now=now)
    session.exec(
        update(DeviceCommand)
        .where(
            col(DeviceCommand.device_id) == device.id,
            col(DeviceCommand.status).in_(OPEN_COMMAND_STATUSES),
        )
        .values(status=CommandStatus.EXPIRED.value, detail="the device was decommissioned")
    )
    wipe = new_command_row(
        session=session, device=device, name=WIPE, by=by, now=now, lifetime=max_lifetime(WIPE)
    )
    # Forgetting the box means the next claim needs a fresh hello from it: the wiped box,
    # not a stale record of it. Its check first: the claim window of the box's next claim
    # runs from that fresh hello (and SQLite may run without the cascade).
    serials = select(PendingBox.serial).where(col(PendingBox.device_id) == device.id)
    session.exec(delete(PendingBoxCheck).where(col(PendingBoxCheck.serial).in_(serials)))
    session.exec(delete(PendingBox).where(col(PendingBox.device_id) == device.id))
    session.add_all([device, wipe])
    session.commit()
    session.refresh(device)
    return device
