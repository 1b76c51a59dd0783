"""``/api/v1/devices/{device_id}/…``: commands, desired config, diagnostics, decommissioning.

Each write stores a row and answers at once; the device control loop publishes it (see
cloud/devices/control.py), so these answers say "pending", and the device's own answer
shows up later in the command list or the config state.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import SQLModel, col, func, select

from cloud.api.auth_deps import forbidden, require_roles, scoped_device
from cloud.api.deps import NowDep, Offset, SessionDep, StateDep
from cloud.api.errors import ApiError, ErrorResponse, field_error
from cloud.api.routes.devices import api_error
from cloud.auth.principal import Principal, Role
from cloud.core.time import UtcDatetime
from cloud.devices.config import (
    ConfigInvalidError,
    check_settings,
    newest_desired,
    put_desired_config,
)
from cloud.devices.decommission import decommission
from cloud.devices.errors import DeviceError
from cloud.devices.issuing import DEFAULT_LIFETIME, issue_command, recent_commands
from cloud.devices.models import (
    DeviceCommand,
    DeviceConfig,
    DeviceConfigRejection,
    DeviceDiagnostics,
)
from cloud.devices.views import CommandsPublic, DeviceDetail, command_view, device_detail
from protocol.commands import ROTATE_CREDENTIALS
from protocol.ids import ID_PATTERN

router = APIRouter(prefix="/devices/{device_id}", tags=["devices"])

_TECHS = (Role.ADMIN, Role.TECHNICIAN)
_STAFF = (Role.ADMIN, Role.TECHNICIAN, Role.MANAGER)
Tech = Annotated[Principal, Depends(require_roles(*_TECHS))]
Staff = Annotated[Principal, Depends(require_roles(*_STAFF))]
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorResponse} for c in (404, 409)}
CommandName = Literal["unlock", "restart", "diagnostics", "rotate-credentials"]


class CommandBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    door: str | None = Field(
        default=None, max_length=32, pattern=ID_PATTERN, description="unlock: default 'main'"
    )
    expires_in_s: int | None = Field(
        default=None,
        ge=1,
        le=7 * 24 * 3600,
        description="Default 120; at most the command's own longest life (unlock: 600).",
    )


class CommandAccepted(SQLModel):
    command_id: str
    name: str
    status: str
    expires_at: UtcDatetime


class ConfigBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any]


class ConfigChecked(BaseModel):
    valid: Literal[True] = True
    keys: list[str] = Field(description="The keys checked, dotted (door.policy.hours).")


class ConfigAccepted(SQLModel):
    version: int
    status: Literal["pending"] = "pending"


class DesiredPublic(SQLModel):
    version: int
    settings: dict[str, Any]
    issued_at: UtcDatetime
    issued_by: str
    published_at: UtcDatetime | None


class AppliedPublic(SQLModel):
    version: int
    applied_at: UtcDatetime


class RejectedPublic(SQLModel):
    version: int
    errors: list[str]
    at: UtcDatetime


class ConfigPublic(SQLModel):
    device_id: str
    desired: DesiredPublic | None
    applied: AppliedPublic | None
    rejected: RejectedPublic | None


class DiagnosticsPublic(SQLModel):
    device_id: str
    command_id: str
    ts: UtcDatetime
    received_at: UtcDatetime
    report: dict[str, Any]


@router.post("/commands/{name}", status_code=202, responses=_ERRORS)
def send_command(
    *,
    session: SessionDep,
    state: StateDep,
    principal: Staff,
    now: NowDep,
    device_id: str,
    name: CommandName,
    body: CommandBody | None = None,
) -> CommandAccepted:
    """Unlock, restart, ask for diagnostics or rotate the broker password (admins and
    technicians only). 409 for a decommissioned device or one never online."""
    if name == ROTATE_CREDENTIALS and principal.role not in _TECHS:
        raise forbidden(principal)
    device = scoped_device(session=session, principal=principal, device_id=device_id)
    body = body or CommandBody()
    lifetime = timedelta(seconds=body.expires_in_s) if body.expires_in_s else DEFAULT_LIFETIME
    try:
        row = issue_command(
            session=session,
            vault=state.devices.vault,
            device=device,
            name=name,
            by=principal.subject,
            now=now,
            lifetime=lifetime,
            door=body.door,
        )
    except DeviceError as exc:
        raise api_error(exc) from None
    return CommandAccepted.model_validate(row)


@router.get("/commands", responses=_ERRORS)
def list_commands(
    *,
    session: SessionDep,
    principal: Staff,
    device_id: str,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> CommandsPublic:
    """The device's commands, the newest first, with what became of each."""
    device = scoped_device(session=session, principal=principal, device_id=device_id)
    count = session.exec(
        select(func.count()).select_from(DeviceCommand).where(DeviceCommand.device_id == device.id)
    ).one()
    rows = recent_commands(session=session, device_id=device.id, limit=limit, offset=offset)
    return CommandsPublic(data=[command_view(r) for r in rows], count=count)


def _config_error(exc: DeviceError) -> ApiError:
    """``config_invalid`` with one detail per key: its path, a stable code (the API's field
    codes, cloud/api/errors.py), the limit broken as ``params`` and the rule in words."""
    if not isinstance(exc, ConfigInvalidError):
        return api_error(exc)
    details = [
        field_error(
            f"body.settings.{p.key}",
            str(p),
            code=p.code,
            key=p.key,
            rule=p.rule,
            params=p.params,
        )
        for p in exc.problems
    ]
    return ApiError(exc.status, code=exc.code, message=exc.message, details=details)


def _without_policy(settings: dict[str, Any]) -> dict[str, Any]:
    rest = dict(settings)
    door = rest.get("door")
    if isinstance(door, dict):
        door = {key: value for key, value in door.items() if key != "policy"}
        rest.pop("door")
        if door:
            rest["door"] = door
    return rest


def _may_push(principal: Principal, settings: dict[str, Any], *, now: dict[str, Any]) -> None:
    """Technicians push anything pushable; a manager changes only a door's policy (hours,
    guests, capacity, closed days are the venue's business; timings and cameras are not),
    so the rest of what they send must be the newest desired config as it is (``now``)."""
    if principal.role in _TECHS or _without_policy(settings) == _without_policy(now):
        return
    raise ApiError(
        403,
        code="config_manager_policy_only",
        message="a venue manager may change only a door's policy (settings.door.policy); "
        "send the other settings as they are, and ask a technician to change them",
    )


@router.put("/config", status_code=201, responses={**_ERRORS, 422: {"model": ErrorResponse}})
def put_config(
    *, session: SessionDep, principal: Staff, now: NowDep, device_id: str, body: ConfigBody
) -> ConfigAccepted:
    """Push settings (a fragment of the box's TOML) as the next version; 422
    ``config_invalid`` names every key that cannot be pushed (``details``: its ``key``, a
    stable ``code`` such as ``unknown_field`` or ``value_too_small``, the ``rule``), and nothing
    is stored. Managers push only ``door.policy``, to their own venues' doors."""
    device = scoped_device(session=session, principal=principal, device_id=device_id)
    desired = newest_desired(session=session, device_id=device.id)
    _may_push(principal, body.settings, now=desired.settings if desired else {})
    try:
        row = put_desired_config(
            session=session, device=device, settings=body.settings, by=principal.subject, now=now
        )
    except DeviceError as exc:
        raise _config_error(exc) from None
    return ConfigAccepted(version=row.version)


@router.post("/config/check", responses={**_ERRORS, 422: {"model": ErrorResponse}})
def check_config(
    *, session: SessionDep, principal: Staff, now: NowDep, device_id: str, body: ConfigBody
) -> ConfigChecked:
    """Check settings as ``PUT …/config`` would, against this device's role, storing nothing:
    200 if they can be pushed, else the same 422 ``config_invalid`` with one detail per key."""
    device = scoped_device(session=session, principal=principal, device_id=device_id)
    try:
        check_settings(
            body.settings, device_id=device.id, by=principal.subject, now=now, role=device.role
        )
    except DeviceError as exc:
        raise _config_error(exc) from None
    return ConfigChecked(keys=_keys(body.settings))


def _keys(settings: dict[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, value in settings.items():
        if isinstance(value, dict) and f"{prefix}{key}" != "door.policy":
            keys += _keys(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


@router.get("/config", responses=_ERRORS)
def read_config(*, session: SessionDep, principal: Staff, device_id: str) -> ConfigPublic:
    """The newest desired settings, the version the box applied, the one it refused."""
    device = scoped_device(session=session, principal=principal, device_id=device_id)
    desired = newest_desired(session=session, device_id=device.id)
    applied = session.get(DeviceConfig, device.id)
    rejected = session.get(DeviceConfigRejection, device.id)
    return ConfigPublic(
        device_id=device.id,
        desired=DesiredPublic.model_validate(desired) if desired else None,
        applied=AppliedPublic.model_validate(applied) if applied else None,
        rejected=(
            RejectedPublic.model_validate(rejected, update={"at": rejected.ts})
            if rejected
            else None
        ),
    )


@router.post("/decommission", responses=_ERRORS)
def decommission_device(
    *, session: SessionDep, principal: Tech, now: NowDep, device_id: str
) -> DeviceDetail:
    """Out of service: its API token revoked now, a wipe sent, its broker account removed
    when the box answers (or after the grace period), its box claimable after a new hello."""
    device = scoped_device(session=session, principal=principal, device_id=device_id)
    try:
        device = decommission(session=session, device=device, by=principal.subject, now=now)
    except DeviceError as exc:
        raise api_error(exc) from None
    return device_detail(session=session, device=device)


@router.get("/diagnostics", responses=_ERRORS)
def read_diagnostics(*, session: SessionDep, principal: Tech, device_id: str) -> DiagnosticsPublic:
    """The newest diagnostics report (versions, health, log lines); ask for one with
    ``POST …/commands/diagnostics``."""
    device = scoped_device(session=session, principal=principal, device_id=device_id)
    row = session.exec(
        select(DeviceDiagnostics)
        .where(DeviceDiagnostics.device_id == device.id)
        .order_by(col(DeviceDiagnostics.received_at).desc(), col(DeviceDiagnostics.id).desc())
        .limit(1)
    ).first()
    if row is None:
        raise api_error(
            DeviceError(
                404,
                code="no_diagnostics",
                message=f"device {device.id!r} has sent no diagnostics yet; ask for a report "
                "with POST …/commands/diagnostics and look again in a few seconds",
            )
        )
    return DiagnosticsPublic.model_validate(row)
