"""Broker accounts following the devices' answers: rotated passwords, removed accounts.

The broker is changed only after the device said it is ready: a rotated password once the
box reported it staged (it then holds both and tries the new one when the old is refused),
an account removed once the box answered its wipe, or the grace period is over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col, select

from cloud.core.time import as_utc
from cloud.devices.broker_admin import BrokerAdmin, BrokerAdminError
from cloud.devices.models import CommandStatus, Device, DeviceCommand, DeviceStatus
from cloud.devices.vault import RotationVault
from protocol.commands import WIPE

logger = logging.getLogger(__name__)

# A box answers through its outbox, which may sit out a network outage: wait this long past
# a rotation's expiry for its answer before forgetting the password.
RESULT_GRACE: Final = timedelta(minutes=10)
_ANSWERED: Final = (
    CommandStatus.DONE.value,
    CommandStatus.FAILED.value,
    CommandStatus.REFUSED.value,
)
_OVER: Final = (*_ANSWERED, CommandStatus.EXPIRED.value)


@dataclass(frozen=True, slots=True)
class Removed:
    venue_id: str
    device_id: str


def settle_rotations(
    *, session: Session, admin: BrokerAdmin, vault: RotationVault, now: datetime
) -> int:
    """Give the broker each password its box staged; forget the ones that came to nothing.

    Returns how many passwords the broker took.
    """
    applied = 0
    for command_id in vault.command_ids():
        row = session.get(DeviceCommand, command_id, populate_existing=True)
        if row is None:
            continue  # its transaction has not committed yet
        if row.status == CommandStatus.DONE.value:
            if _apply_rotation(session, admin, row, vault):
                applied += 1
        elif row.status in _OVER or as_utc(row.expires_at) + RESULT_GRACE < now:
            vault.pop(command_id)
            logger.info("rotation %s of %s ended %s", command_id, row.device_id, row.status)
    return applied


def _apply_rotation(
    session: Session, admin: BrokerAdmin, row: DeviceCommand, vault: RotationVault
) -> bool:
    password = vault.get(row.command_id)
    username = str(row.args.get("username", row.device_id))
    generation = int(row.args.get("generation", 0))
    if password is None:
        return False
    try:
        admin.set_password(username=username, password=password)
        # The box still holds a session with the old password; dropped, it reconnects,
        # is refused the old one, and logs in with the new one it staged.
        admin.disconnect(username=username)
    except BrokerAdminError as exc:
        logger.warning("rotation of %s waits for the broker: %s", row.device_id, exc)
        return False
    session.exec(
        update(Device)
        .where(col(Device.id) == row.device_id, col(Device.credential_generation) < generation)
        .values(credential_generation=generation)
    )
    session.commit()
    vault.pop(row.command_id)
    logger.info("broker password of %s rotated to generation %d", row.device_id, generation)
    return True


def remove_decommissioned(
    *, session: Session, admin: BrokerAdmin, now: datetime, grace: timedelta
) -> list[Removed]:
    """Delete the broker accounts of decommissioned devices whose wipe was answered or whose
    grace period is over; returns those removed."""
    candidates = session.exec(
        select(Device).where(
            col(Device.status) == DeviceStatus.DECOMMISSIONED.value,
            col(Device.broker_removed_at).is_(None),
        )
    ).all()
    removed: list[Removed] = []
    for device in candidates:
        decommissioned_at = as_utc(device.decommissioned_at or now)
        if decommissioned_at + grace > now and not _wipe_answered(session, device.id):
            continue
        if _remove(session, admin, device.id, now):
            removed.append(Removed(device.venue_id, device.id))
    return removed


def _wipe_answered(session: Session, device_id: str) -> bool:
    found = session.exec(
        select(DeviceCommand.command_id).where(
            DeviceCommand.device_id == device_id,
            DeviceCommand.name == WIPE,
            col(DeviceCommand.status).in_(_ANSWERED),
        )
    ).first()
    return found is not None


def _remove(session: Session, admin: BrokerAdmin, device_id: str, now: datetime) -> bool:
    taken = session.exec(
        update(Device)
        .where(col(Device.id) == device_id, col(Device.broker_removed_at).is_(None))
        .values(broker_removed_at=now)
    )
    session.commit()
    if not isinstance(taken, CursorResult) or taken.rowcount != 1:
        return False  # another replica is on it
    try:
        admin.remove_device(username=device_id)
    except BrokerAdminError as exc:
        logger.warning("broker account of %s stays for now: %s", device_id, exc)
        session.exec(
            update(Device).where(col(Device.id) == device_id).values(broker_removed_at=None)
        )
        session.commit()
        return False
    logger.info("broker account of decommissioned %s removed", device_id)
    return True
