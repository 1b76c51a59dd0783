"""``/api/v1/alerts``: list a caller's alerts, acknowledge and resolve them.

Rules and sensor roles live in alert_rules.py and are included here, so app.py needs one
router for the whole feature.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, func, select

from cloud.alerts import lifecycle
from cloud.alerts.errors import IllegalTransitionError
from cloud.alerts.models import Alert, AlertKind, AlertStatus
from cloud.alerts.schemas import AlertNote, AlertPublic, AlertsPublic
from cloud.api.auth_deps import require_roles
from cloud.api.deps import NowDep, Offset, RowId, SessionDep
from cloud.api.errors import ApiError, ErrorResponse
from cloud.api.routes import alert_rules
from cloud.api.timewindow import parse_instant
from cloud.auth.principal import Principal, Role

router = APIRouter(tags=["alerts"])
router.include_router(alert_rules.router)

Reader = Annotated[
    Principal, Depends(require_roles(Role.ADMIN, Role.MANAGER, Role.TECHNICIAN, Role.SERVICE))
]
# Technicians close device-offline alerts after a repair, so they may act on alerts too;
# changing the rules is the manager's (alert_rules.py).
Responder = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.MANAGER, Role.TECHNICIAN))]


def _filters(
    principal: Principal,
    *,
    venue: str | None,
    status: AlertStatus | None,
    kind: AlertKind | None,
    since: str | None,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    scope = principal.venue_filter()
    if scope is not None:
        where.append(col(Alert.venue_id).in_(scope))
    if venue is not None:
        where.append(col(Alert.venue_id) == venue)
    if status is not None:
        where.append(col(Alert.status) == status.value)
    if kind is not None:
        where.append(col(Alert.kind) == kind.value)
    if since is not None:
        where.append(col(Alert.opened_at) >= parse_instant("since", since))
    return where


@router.get("/alerts", responses={403: {"model": ErrorResponse}})
def list_alerts(
    *,
    session: SessionDep,
    principal: Reader,
    venue: Annotated[str | None, Query(max_length=32, description="Only this venue.")] = None,
    status: AlertStatus | None = None,
    kind: AlertKind | None = None,
    since: Annotated[
        str | None, Query(description="Opened at or after, ISO 8601 with a timezone.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> AlertsPublic:
    """Newest first; a manager sees only their venues' alerts (another venue's id: empty)."""
    where = _filters(principal, venue=venue, status=status, kind=kind, since=since)
    count = session.exec(select(func.count()).select_from(Alert).where(*where)).one()
    rows = session.exec(
        select(Alert)
        .where(*where)
        .order_by(col(Alert.opened_at).desc(), col(Alert.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return AlertsPublic(data=[AlertPublic.model_validate(a) for a in rows], count=count)


def _scoped_alert(session: Session, principal: Principal, alert_id: int) -> Alert:
    # FOR UPDATE (PostgreSQL): two people acknowledging at once are serialised, so the
    # second gets a 409 instead of a second "acknowledged" webhook.
    alert = session.get(Alert, alert_id, with_for_update=True)
    # 404 alike for another manager's alert: the answer must not tell which ids exist.
    if alert is None or not principal.sees_venue(alert.venue_id):
        raise ApiError(
            404,
            code="alert_not_found",
            message=f"there is no alert {alert_id} you can see; GET /api/v1/alerts lists yours",
        )
    return alert


def _conflict(exc: IllegalTransitionError) -> ApiError:
    return ApiError(
        409,
        code="illegal_transition",
        message=str(exc),
        details=[{"field": "status", "message": f"alert is {exc.status}", "status": exc.status}],
    )


_TRANSITION_RESPONSES: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
}


@router.post("/alerts/{alert_id}/ack", responses=_TRANSITION_RESPONSES)
def acknowledge_alert(
    *,
    session: SessionDep,
    principal: Responder,
    now: NowDep,
    alert_id: RowId,
    body: AlertNote | None = None,
) -> AlertPublic:
    """open → acknowledged, recording who, when and the optional note; anything else is 409."""
    alert = _scoped_alert(session, principal, alert_id)
    try:
        lifecycle.acknowledge(
            session, alert, by=principal.subject, now=now, note=body.note if body else None
        )
    except IllegalTransitionError as exc:
        raise _conflict(exc) from exc
    session.commit()
    session.refresh(alert)
    return AlertPublic.model_validate(alert)


@router.post("/alerts/{alert_id}/resolve", responses=_TRANSITION_RESPONSES)
def resolve_alert(
    *,
    session: SessionDep,
    principal: Responder,
    now: NowDep,
    alert_id: RowId,
    body: AlertNote | None = None,
) -> AlertPublic:
    """open or acknowledged → resolved, recording who and when; resolved again is 409.

    If the condition still holds, the next evaluation opens a new alert for it:
    acknowledge, not resolve, says "I know, working on it".
    """
    alert = _scoped_alert(session, principal, alert_id)
    try:
        lifecycle.resolve(
            session, alert, by=principal.subject, now=now, note=body.note if body else None
        )
    except IllegalTransitionError as exc:
        raise _conflict(exc) from exc
    session.commit()
    session.refresh(alert)
    return AlertPublic.model_validate(alert)
