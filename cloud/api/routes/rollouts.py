"""``/api/v1/rollouts``: a release going out to boxes in stages, and steering it by hand.

Admins and technicians (a scoped technician only within their venues) start, pause, resume
and abort rollouts; managers see them and the versions, nothing more (403
``manager_read_only``). What a rollout does by itself is cloud/releases/progress.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import ColumnElement
from sqlmodel import col, func, select

from cloud.api.auth_deps import CurrentPrincipal, forbidden, require_device_roles, require_roles
from cloud.api.deps import NowDep, Offset, SessionDep
from cloud.api.errors import ApiError, ErrorResponse
from cloud.api.routes.releases import Services, releases_error
from cloud.auth.principal import Principal, Role
from cloud.releases import rollouts
from cloud.releases.errors import ReleasesError
from cloud.releases.models import Rollout, RolloutDevice, RolloutStatus
from cloud.releases.views import (
    RolloutDetail,
    RolloutPublic,
    RolloutsPublic,
    rollout_detail,
    rollout_views,
)

router = APIRouter(
    prefix="/rollouts",
    tags=["rollouts"],
    dependencies=[Depends(require_device_roles(doing="see or steer rollouts"))],
)
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorResponse} for c in (404, 409)}
Viewer = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.TECHNICIAN, Role.MANAGER))]


def _steerer(principal: CurrentPrincipal) -> Principal:
    if principal.role is Role.MANAGER:
        raise ApiError(
            403,
            code="manager_read_only",
            message="a manager sees rollouts and versions but cannot start or stop them; ask "
            "a technician or an admin",
        )
    if principal.role not in (Role.ADMIN, Role.TECHNICIAN):
        raise forbidden(principal)
    return principal


Steerer = Annotated[Principal, Depends(_steerer)]


@router.post("", status_code=201, responses={**_ERRORS, 403: {"model": ErrorResponse}})
def start_rollout(
    *,
    session: SessionDep,
    principal: Steerer,
    services: Services,
    now: NowDep,
    body: rollouts.RolloutCreate,
) -> RolloutDetail:
    """Start sending a release: the boxes of ``target`` (venues, districts, roles, devices:
    their union; claimed boxes in service, within a scoped technician's venues), in
    ``stages`` (default: 1 box, 5 %, 25 %, 100 %, each with a soak), stopping by itself when
    failures pass ``failure_threshold`` (default 0.02). ``force`` skips the venues' update
    windows. The leader's job sends the first stage within a few seconds."""
    try:
        rollout = rollouts.create_rollout(
            session=session, principal=principal, body=body, settings=services.settings, now=now
        )
    except ReleasesError as exc:
        raise releases_error(exc) from None
    return rollout_detail(session, rollout, principal.venue_filter())


@router.get("")
def list_rollouts(
    *,
    session: SessionDep,
    principal: Viewer,
    status: RolloutStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> RolloutsPublic:
    """Rollouts, the newest first, with their boxes counted per stage and state (a scoped
    caller: only rollouts touching their venues, counting only their boxes)."""
    where: list[ColumnElement[bool]] = []
    scope = principal.venue_filter()
    if scope is not None:
        mine = select(RolloutDevice.rollout_id).where(col(RolloutDevice.venue_id).in_(scope))
        where.append(col(Rollout.id).in_(mine))
    if status is not None:
        where.append(col(Rollout.status) == status.value)
    count = session.exec(select(func.count()).select_from(Rollout).where(*where)).one()
    rows = session.exec(
        select(Rollout)
        .where(*where)
        .order_by(col(Rollout.created_at).desc(), col(Rollout.id))
        .offset(offset)
        .limit(limit)
    ).all()
    return RolloutsPublic(data=rollout_views(session, rows, scope), count=count)


@router.get("/{rollout_id}", responses=_ERRORS)
def read_rollout(*, session: SessionDep, principal: Viewer, rollout_id: str) -> RolloutDetail:
    """Status, stages, and each box: its stage, state, running version, detail."""
    try:
        rollout = rollouts.get_rollout(session, principal, rollout_id)
    except ReleasesError as exc:
        raise releases_error(exc) from None
    return rollout_detail(session, rollout, principal.venue_filter())


Action = Callable[..., Rollout]
_ACTIONS: dict[str, Action] = {
    "pause": rollouts.pause,
    "resume": rollouts.resume,
    "abort": rollouts.abort,
}


@router.post("/{rollout_id}/{action}", responses={**_ERRORS, 403: {"model": ErrorResponse}})
def steer_rollout(
    *,
    session: SessionDep,
    principal: Steerer,
    now: NowDep,
    rollout_id: str,
    action: Literal["pause", "resume", "abort"],
) -> RolloutPublic:
    """``pause``: no new stage or command (boxes already sent finish). ``resume``: from paused
    or stopped; the failures so far are accepted, only new ones count toward the threshold.
    ``abort``: for good; commands not yet published are withdrawn. 409
    ``wrong_rollout_status`` when the rollout is not in a state that allows it."""
    try:
        rollout = rollouts.get_rollout(session, principal, rollout_id)
        rollouts.refuse_foreign(session, principal, rollout)
        rollout = _ACTIONS[action](session=session, rollout=rollout, by=principal.subject, now=now)
    except ReleasesError as exc:
        raise releases_error(exc) from None
    return rollout_views(session, [rollout], principal.venue_filter())[0]
