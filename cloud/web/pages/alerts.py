"""Alerts: filter by venue, state, kind and severity; acknowledge and resolve in place.

The buttons call the API's own ``/alerts/{id}/ack|resolve`` with the sign-in cookie, so the
rules on who may do what (and the 409 for an alert someone else just closed) live in one place.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import ColumnElement
from sqlmodel import col, func, select

from cloud.alerts.models import Alert, AlertKind, AlertStatus, Severity
from cloud.api.deps import SessionDep
from cloud.models import Venue
from cloud.web.i18n import Messages
from cloud.web.render import render
from cloud.web.session import Staff

router = APIRouter(include_in_schema=False)
PAGE_SIZE: Final = 50
StateFilter = Literal["active", "open", "acknowledged", "resolved", "all"]

TEXT: Final[Messages] = {
    "alerts.title": ("告警", "Alerts"),
    "alerts.state": ("状态", "State"),
    "alerts.kind": ("类型", "Kind"),
    "alerts.severity": ("级别", "Severity"),
    "alerts.venue": ("阵地", "Venue"),
    "alerts.opened": ("发生时间", "Opened"),
    "alerts.last_seen": ("最近一次", "Last seen"),
    "alerts.message": ("内容", "What"),
    "alerts.by": ("处理人", "Handled by"),
    "alerts.note": ("备注", "Note"),
    "alerts.note_hint": ("可选：已处理的情况", "Optional: what was done"),
    "alerts.ack": ("确认", "Acknowledge"),
    "alerts.resolve": ("解决", "Resolve"),
    "alerts.acked_done": ("已确认", "Acknowledged"),
    "alerts.resolved_done": ("已解决", "Resolved"),
    "alerts.none": ("没有符合条件的告警", "No alerts match"),
    "alerts.times": ("共 {n} 次", "{n} times"),
    "state.active": ("未解决", "Not resolved"),
    "state.open": ("待处理", "Open"),
    "state.acknowledged": ("已确认", "Acknowledged"),
    "state.resolved": ("已解决", "Resolved"),
    "state.all": ("全部", "All"),
    "severity.info": ("提示", "info"),
    "severity.warning": ("警告", "warning"),
    "severity.critical": ("严重", "critical"),
    "alertkind.fridge_warm": ("冰箱温度过高", "Fridge too warm"),
    "alertkind.heat": ("高温", "Heat"),
    "alertkind.door_held_open": ("门长时间未关", "Door held open"),
    "alertkind.door_forced": ("门被强行打开", "Door forced"),
    "alertkind.device_offline": ("设备离线", "Device offline"),
    "alertkind.over_capacity": ("超员", "Over capacity"),
    "alertkind.energy_spike": ("用电异常", "Energy spike"),
    "alertkind.low_stock": ("库存不足", "Low stock"),
}
_STATES: Final[dict[str, tuple[str, ...]]] = {
    "active": (AlertStatus.OPEN.value, AlertStatus.ACKNOWLEDGED.value),
    "open": (AlertStatus.OPEN.value,),
    "acknowledged": (AlertStatus.ACKNOWLEDGED.value,),
    "resolved": (AlertStatus.RESOLVED.value,),
    "all": tuple(s.value for s in AlertStatus),
}


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    *,
    request: Request,
    viewer: Staff,
    session: SessionDep,
    state: StateFilter = "active",
    venue: Annotated[str, Query(max_length=32)] = "",
    kind: AlertKind | Literal[""] = "",
    severity: Severity | Literal[""] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    scope = viewer.principal.venue_filter()
    where: list[ColumnElement[bool]] = [col(Alert.status).in_(_STATES[state])]
    if scope is not None:
        where.append(col(Alert.venue_id).in_(scope))
    if venue:
        where.append(col(Alert.venue_id) == venue)
    if kind:
        where.append(col(Alert.kind) == kind)
    if severity:
        where.append(col(Alert.severity) == severity)
    count = session.exec(select(func.count()).select_from(Alert).where(*where)).one()
    rows = session.exec(
        select(Alert)
        .where(*where)
        .order_by(col(Alert.opened_at).desc(), col(Alert.id).desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    venue_query = select(Venue).order_by(col(Venue.id))
    if scope is not None:
        venue_query = venue_query.where(col(Venue.id).in_(scope))
    venues = {v.id: v for v in session.exec(venue_query)}
    return render(
        request,
        viewer,
        "alerts.html",
        live="alerts",
        alerts=rows,
        venues=venues,
        count=count,
        page=page,
        pages=max(1, -(-count // PAGE_SIZE)),
        state=state,
        venue=venue,
        kind=kind,
        severity=severity,
        states=list(_STATES),
        kinds=[k.value for k in AlertKind],
        severities=[s.value for s in Severity],
    )
