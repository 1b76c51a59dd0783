"""Desired configuration of one device: checked, versioned, stored for the control loop to push."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from cloud.devices.errors import DeviceError
from cloud.devices.models import Device, DeviceDesiredConfig, DeviceStatus
from protocol.device_config import DesiredConfig, check_config
from protocol.pushable import ConfigProblem


class ConfigInvalidError(DeviceError):
    """Settings that cannot be pushed; ``problems`` names each key with a stable code."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        lines = [str(p) for p in problems]
        more = len(lines) - 3
        shown = "; ".join(lines[:3]) + (f" (and {more} more)" if more > 0 else "")
        super().__init__(
            422,
            code="config_invalid",
            message=f"these settings cannot be pushed: {shown}; "
            "fix them and send the whole set again",
            details=lines,
        )
        self.problems = problems


def config_invalid(problems: list[str]) -> DeviceError:
    return ConfigInvalidError([ConfigProblem("settings", "invalid_value", p) for p in problems])


def check_settings(
    settings: dict[str, Any], *, device_id: str, by: str, now: datetime, role: str | None = None
) -> None:
    """Refuse what the box would refuse (unknown keys, values out of range, the door policy,
    another role's section) or must not take (its identity, broker, wiring).

    The models are the box's own ranges (protocol.pushable); the wire model runs the checks
    the box runs on receipt (protocol.device_config).
    """
    problems = check_config(settings, role=role)
    if problems:
        raise ConfigInvalidError(problems)
    try:
        DesiredConfig(device=device_id, version=1, issued_at=now, issued_by=by, settings=settings)
    except ValidationError as exc:
        raise config_invalid([str(e["msg"]) for e in exc.errors(include_url=False)]) from None


def newest_version(*, session: Session, device_id: str) -> int:
    """The newest desired version of the device, 0 when none was ever set."""
    query = select(func.max(DeviceDesiredConfig.version)).where(
        DeviceDesiredConfig.device_id == device_id
    )
    return int(session.exec(query).one() or 0)


def add_desired_config(
    *, session: Session, device: Device, settings: dict[str, Any], by: str, now: datetime
) -> DeviceDesiredConfig:
    """Check ``settings`` and add them as the next version, in the caller's transaction."""
    check_settings(settings, device_id=device.id, by=by, now=now, role=device.role)
    row = DeviceDesiredConfig(
        device_id=device.id,
        version=newest_version(session=session, device_id=device.id) + 1,
        settings=settings,
        issued_at=now,
        issued_by=by,
    )
    session.add(row)
    session.flush()
    return row


def put_desired_config(
    *, session: Session, device: Device, settings: dict[str, Any], by: str, now: datetime
) -> DeviceDesiredConfig:
    """Store the next desired version; the control loop publishes it retained."""
    if device.status == DeviceStatus.DECOMMISSIONED:
        raise DeviceError(
            409,
            code="device_decommissioned",
            message=f"device {device.id!r} is decommissioned; claim its box again to configure it",
        )
    device_id = device.id
    try:
        row = add_desired_config(session=session, device=device, settings=settings, by=by, now=now)
        session.commit()
    except IntegrityError:
        # Two people pushed at once and took the same version: theirs won, this one says so.
        session.rollback()
        raise DeviceError(
            409,
            code="config_conflict",
            message=f"someone else changed the config of {device_id!r} at the same moment; "
            "read it again (GET …/config) and retry",
        ) from None
    session.refresh(row)
    return row


def desired_versions(*, session: Session, device_ids: list[str]) -> dict[str, int]:
    """The newest desired version of each device that has one."""
    if not device_ids:
        return {}
    query = (
        select(DeviceDesiredConfig.device_id, func.max(DeviceDesiredConfig.version))
        .where(col(DeviceDesiredConfig.device_id).in_(device_ids))
        .group_by(col(DeviceDesiredConfig.device_id))
    )
    return {device_id: int(version) for device_id, version in session.exec(query)}


def newest_desired(*, session: Session, device_id: str) -> DeviceDesiredConfig | None:
    query = (
        select(DeviceDesiredConfig)
        .where(DeviceDesiredConfig.device_id == device_id)
        .order_by(col(DeviceDesiredConfig.version).desc())
        .limit(1)
    )
    return session.exec(query).first()
