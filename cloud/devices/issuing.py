"""Commands for one device: checked and stored by the API, turned into wire messages to publish.

The API process only stores a row; the control loop (cloud/devices/control.py) publishes it,
so a command issued while the broker is away goes out when it is back, and expires unsent
if that is too late.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import ValidationError
from sqlmodel import Session, col, select

from cloud.core.time import as_utc
from cloud.devices.credentials import new_mqtt_password
from cloud.devices.errors import DeviceError
from cloud.devices.models import OPEN_COMMAND_STATUSES, Device, DeviceCommand, DeviceStatus
from cloud.devices.vault import RotationVault
from protocol.commands import (
    COMMANDS,
    DIAGNOSTICS,
    RESTART,
    ROTATE_CREDENTIALS,
    UNLOCK,
    WIPE,
    AnyCommand,
)

# What people may send from the API; a wipe is only ever sent by decommissioning.
PERSON_COMMANDS: Final = (UNLOCK, RESTART, DIAGNOSTICS, ROTATE_CREDENTIALS)
DEFAULT_LIFETIME: Final = timedelta(seconds=120)
DEFAULT_DOOR: Final = "main"
# Stands in for a rotation's password when checking the wire model before the real one
# exists: the same length as new_mqtt_password()'s.
_PLACEHOLDER_PASSWORD: Final = "x" * 32


def max_lifetime(name: str) -> timedelta:
    return COMMANDS[name].max_lifetime


def new_command_id() -> str:
    return secrets.token_hex(16)  # 128 random bits, 32 characters (protocol.commands.CommandId)


def wire_command(row: DeviceCommand, *, password: str | None = None) -> AnyCommand:
    """The message for ``row``; a rotation needs its ``password`` from the vault."""
    fields: dict[str, Any] = {
        "device": row.device_id,
        "command_id": row.command_id,
        "issued_at": as_utc(row.issued_at),
        "expires_at": as_utc(row.expires_at),
        "issued_by": row.issued_by[:64],
        **row.args,
    }
    if row.name == ROTATE_CREDENTIALS:
        fields["password"] = password
    command = COMMANDS[row.name].model_validate(fields)
    assert isinstance(command, AnyCommand)  # COMMANDS holds exactly the union's members
    return command


def _refuse_unreachable(device: Device) -> None:
    if device.status == DeviceStatus.DECOMMISSIONED:
        raise DeviceError(
            409,
            code="device_decommissioned",
            message=f"device {device.id!r} is decommissioned and takes no commands; "
            "claim its box again to use it",
        )
    if device.last_seen_at is None:
        raise DeviceError(
            409,
            code="device_never_online",
            message=f"device {device.id!r} has never been online, so nothing would act on "
            "a command; power the box on and wait for it to show online first",
        )


def _args(session: Session, device: Device, name: str, door: str | None) -> dict[str, Any]:
    if name == UNLOCK:
        return {"door": door or DEFAULT_DOOR}
    if name == ROTATE_CREDENTIALS:
        _refuse_rotation(session, device)
        return {"username": device.id, "generation": device.credential_generation + 1}
    if name == WIPE:
        return {"reason": "decommissioned"}
    return {}


def _refuse_rotation(session: Session, device: Device) -> None:
    if device.credential_generation < 1:
        raise DeviceError(
            409,
            code="no_credentials",
            message=f"device {device.id!r} has no broker account of its own (it was registered "
            "before claiming existed); claim its box to give it one",
        )
    open_rotation = session.exec(
        select(DeviceCommand.command_id).where(
            DeviceCommand.device_id == device.id,
            DeviceCommand.name == ROTATE_CREDENTIALS,
            col(DeviceCommand.status).in_(OPEN_COMMAND_STATUSES),
        )
    ).first()
    if open_rotation is not None:
        raise DeviceError(
            409,
            code="rotation_in_progress",
            message=f"a credential rotation of {device.id!r} is under way ({open_rotation}); "
            "wait for its result (GET …/commands) before starting another",
        )


def new_command_row(
    *,
    session: Session,
    device: Device,
    name: str,
    by: str,
    now: datetime,
    lifetime: timedelta,
    door: str | None = None,
    args: Mapping[str, Any] | None = None,
) -> DeviceCommand:
    """A checked command row (not added to the session); DeviceError says why not.

    ``args`` are the command's own fields where the caller makes them (an update's release,
    serial, rollout and window: cloud/releases/progress.py)."""
    if lifetime > max_lifetime(name) or lifetime <= timedelta(0):
        raise DeviceError(
            422,
            code="expires_in_invalid",
            message=f"a {name} command may live 1 to {max_lifetime(name).total_seconds():.0f} "
            f"s, not {lifetime.total_seconds():.0f}; ask for a shorter expires_in_s",
        )
    row = DeviceCommand(
        command_id=new_command_id(),
        device_id=device.id,
        venue_id=device.venue_id,
        name=name,
        args={**_args(session, device, name, door), **(args or {})},
        issued_by=by,
        issued_at=now,
        expires_at=now + lifetime,
    )
    try:
        placeholder = _PLACEHOLDER_PASSWORD if name == ROTATE_CREDENTIALS else None
        wire_command(row, password=placeholder)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise DeviceError(
            422, code="command_invalid", message=f"{where}: {first['msg']}; fix it and retry"
        ) from None
    return row


def issue_command(
    *,
    session: Session,
    vault: RotationVault,
    device: Device,
    name: str,
    by: str,
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
    door: str | None = None,
) -> DeviceCommand:
    """Store a command a person asked for; the control loop publishes it."""
    _refuse_unreachable(device)
    row = new_command_row(
        session=session, device=device, name=name, by=by, now=now, lifetime=lifetime, door=door
    )
    if name == ROTATE_CREDENTIALS:
        # Before the commit: the control loop may pick the row up the moment it is visible.
        vault.put(row.command_id, new_mqtt_password())
    session.add(row)
    try:
        session.commit()
    except Exception:
        vault.pop(row.command_id)
        raise
    session.refresh(row)
    return row


def recent_commands(
    *, session: Session, device_id: str, limit: int, offset: int = 0
) -> list[DeviceCommand]:
    query = (
        select(DeviceCommand)
        .where(DeviceCommand.device_id == device_id)
        .order_by(col(DeviceCommand.issued_at).desc(), col(DeviceCommand.command_id))
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(query))
