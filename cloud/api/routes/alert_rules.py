"""``/api/v1/alert-rules`` and per-venue overrides; ``…/sensor-roles`` (which probe is the fridge).

Admins change district defaults and every venue's overrides; managers their own venues'
overrides; technicians read rules and set sensor roles (they install the probes); members
and services see none of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlmodel import Session, col, select

from cloud.alerts.models import AlertKind, AlertRule, SensorRole
from cloud.alerts.schemas import (
    AlertRulePublic,
    AlertRulesPublic,
    AlertRuleUpdate,
    SensorRolePublic,
    SensorRolesPublic,
    SensorRoleUpdate,
)
from cloud.api.auth_deps import forbidden, require_roles, scoped_venue
from cloud.api.deps import NowDep, RowId, SessionDep
from cloud.api.errors import ApiError, ErrorResponse, field_error
from cloud.auth.principal import Principal, Role
from cloud.devices.models import Device

router = APIRouter(tags=["alerts"])

RuleReader = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.MANAGER, Role.TECHNICIAN))]
RuleWriter = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.MANAGER))]
_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
}
# Kinds whose rule means nothing without a threshold.
_NEEDS_THRESHOLD = frozenset(AlertKind) - {AlertKind.DOOR_FORCED, AlertKind.DEVICE_OFFLINE}


def _district_defaults(session: Session) -> dict[str, AlertRule]:
    rows = session.exec(select(AlertRule).where(col(AlertRule.venue_id).is_(None)))
    return {r.kind: r for r in rows}


@router.get("/alert-rules", responses=_ERRORS)
def list_alert_rules(
    *,
    session: SessionDep,
    principal: RuleReader,
    venue: Annotated[
        str | None,
        Query(max_length=32, description="The rules in force at this venue (one per kind)."),
    ] = None,
) -> AlertRulesPublic:
    """Without ``venue``: the district defaults and the overrides of the caller's venues.
    With it: for each kind, the venue's override if it has one, else the default."""
    defaults = _district_defaults(session)
    if venue is not None:
        scoped_venue(session=session, principal=principal, venue_id=venue)
        overrides = {
            r.kind: r for r in session.exec(select(AlertRule).where(AlertRule.venue_id == venue))
        }
        rules = [overrides.get(kind, defaults.get(kind)) for kind in AlertKind]
        data = [AlertRulePublic.model_validate(r) for r in rules if r is not None]
        return AlertRulesPublic(data=data, count=len(data))
    query = select(AlertRule).where(col(AlertRule.venue_id).is_not(None))
    scope = principal.venue_filter()
    if scope is not None:
        query = query.where(col(AlertRule.venue_id).in_(scope))
    rows = [*defaults.values(), *session.exec(query.order_by(col(AlertRule.venue_id)))]
    data = [AlertRulePublic.model_validate(r) for r in rows]
    return AlertRulesPublic(data=data, count=len(data))


def _check_rule(kind: str, update: AlertRuleUpdate) -> None:
    if kind in _NEEDS_THRESHOLD and update.threshold is None:
        message = f"a {kind} rule needs a threshold; send the number it should alert above"
        raise ApiError(
            422,
            code="invalid_request",
            message=f"the request is invalid (body.threshold: {message})",
            details=[field_error("body.threshold", message)],
        )


def _apply(rule: AlertRule, update: AlertRuleUpdate, *, by: str, now: datetime) -> None:
    _check_rule(rule.kind, update)
    for name, value in update.model_dump().items():
        setattr(rule, name, value)
    rule.updated_by, rule.updated_at = by, now


@router.put("/alert-rules/{rule_id}", responses={**_ERRORS, 422: {"model": ErrorResponse}})
def update_alert_rule(
    *,
    session: SessionDep,
    principal: RuleWriter,
    now: NowDep,
    rule_id: RowId,
    update: AlertRuleUpdate,
) -> AlertRulePublic:
    """Replace a rule: a district default (admins only) or a venue override."""
    rule = session.get(AlertRule, rule_id)
    if rule is None or (rule.venue_id is not None and not principal.sees_venue(rule.venue_id)):
        raise ApiError(
            404,
            code="alert_rule_not_found",
            message=f"there is no alert rule {rule_id} you can see; GET /api/v1/alert-rules",
        )
    if rule.venue_id is None and principal.role != Role.ADMIN:
        raise forbidden(principal)
    _apply(rule, update, by=principal.subject, now=now)
    session.add(rule)
    session.commit()
    session.refresh(rule)
    return AlertRulePublic.model_validate(rule)


@router.put(
    "/venues/{venue_id}/alert-rules/{kind}",
    responses={**_ERRORS, 422: {"model": ErrorResponse}},
)
def put_venue_override(
    *,
    session: SessionDep,
    principal: RuleWriter,
    now: NowDep,
    venue_id: str,
    kind: AlertKind,
    update: AlertRuleUpdate,
) -> AlertRulePublic:
    """Create or replace this venue's own rule for ``kind`` (the default stays as it is)."""
    venue = scoped_venue(session=session, principal=principal, venue_id=venue_id)
    rule = session.exec(
        select(AlertRule).where(AlertRule.venue_id == venue.id, AlertRule.kind == kind.value)
    ).first() or AlertRule(venue_id=venue.id, kind=kind.value)
    _apply(rule, update, by=principal.subject, now=now)
    session.add(rule)
    session.commit()
    session.refresh(rule)
    return AlertRulePublic.model_validate(rule)


@router.delete("/venues/{venue_id}/alert-rules/{kind}", status_code=204, responses=_ERRORS)
def delete_venue_override(
    *, session: SessionDep, principal: RuleWriter, venue_id: str, kind: AlertKind
) -> Response:
    """Drop the venue's own rule: the district default applies again. 204 even if none."""
    venue = scoped_venue(session=session, principal=principal, venue_id=venue_id)
    rule = session.exec(
        select(AlertRule).where(AlertRule.venue_id == venue.id, AlertRule.kind == kind.value)
    ).first()
    if rule is not None:
        session.delete(rule)
        session.commit()
    return Response(status_code=204)


@router.get("/venues/{venue_id}/sensor-roles", responses=_ERRORS)
def list_sensor_roles(
    *, session: SessionDep, principal: RuleReader, venue_id: str
) -> SensorRolesPublic:
    venue = scoped_venue(session=session, principal=principal, venue_id=venue_id)
    rows = session.exec(
        select(SensorRole)
        .where(SensorRole.venue_id == venue.id)
        .order_by(col(SensorRole.device_id), col(SensorRole.sensor))
    )
    data = [SensorRolePublic.model_validate(r) for r in rows]
    return SensorRolesPublic(data=data, count=len(data))


@router.put("/venues/{venue_id}/sensor-roles/{device_id}/{sensor}", responses=_ERRORS)
def put_sensor_role(
    *,
    session: SessionDep,
    principal: RuleReader,
    now: NowDep,
    venue_id: str,
    device_id: str,
    sensor: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")],
    update: SensorRoleUpdate,
) -> SensorRolePublic:
    """Say what a probe measures: ``fridge`` (the fridge rule) or ``ambient`` (the heat rule)."""
    venue = scoped_venue(session=session, principal=principal, venue_id=venue_id)
    device = session.get(Device, device_id)
    if device is None or device.venue_id != venue.id:
        raise ApiError(
            404,
            code="device_not_found",
            message=f"venue {venue.id!r} has no device {device_id[:40]!r}",
        )
    role = session.get(SensorRole, (device.id, sensor)) or SensorRole(
        device_id=device.id, sensor=sensor, venue_id=venue.id, role=update.role
    )
    role.role, role.label = update.role, update.label
    role.updated_by, role.updated_at = principal.subject, now
    session.add(role)
    session.commit()
    session.refresh(role)
    return SensorRolePublic.model_validate(role)


@router.delete(
    "/venues/{venue_id}/sensor-roles/{device_id}/{sensor}", status_code=204, responses=_ERRORS
)
def delete_sensor_role(
    *, session: SessionDep, principal: RuleReader, venue_id: str, device_id: str, sensor: str
) -> Response:
    """The probe measures nothing the rules watch (role "none"): no rule reads it any more,
    and its label goes with it. 204 even if it had none."""
    venue = scoped_venue(session=session, principal=principal, venue_id=venue_id)
    role = session.get(SensorRole, (device_id, sensor))
    if role is not None and role.venue_id == venue.id:
        session.delete(role)
        session.commit()
    return Response(status_code=204)
