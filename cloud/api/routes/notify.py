"""The notify API routes (under /api/v1): my subscriptions, my deliveries, my inbox, and a
venue's escalation order. Staff only: a subscription belongs to a person."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Response
from sqlmodel import Session, col, func, select

from cloud.alerts.models import Alert, AlertStatus
from cloud.api.auth_deps import require_roles, scoped_venue
from cloud.api.deps import NowDep, RowId, SessionDep
from cloud.api.errors import ApiError, ErrorResponse, field_error
from cloud.auth.principal import Principal, Role
from cloud.notify.delivery import attempt
from cloud.notify.errors import TargetError
from cloud.notify.limits import PER_SUBSCRIPTION, PER_USER, WINDOW_S
from cloud.notify.models import (
    ALL_VENUES,
    Channel,
    Delivery,
    DeliveryStatus,
    NotifyEvent,
    Subscription,
)
from cloud.notify.planner import Scopes, matches
from cloud.notify.schemas import (
    DeliveriesPublic,
    DeliveryPublic,
    EscalationOrder,
    EscalationStep,
    Inbox,
    InboxItem,
    SubscriptionIn,
    SubscriptionPublic,
    SubscriptionsPublic,
    subscription_public,
)
from cloud.notify.services import NotifyServices, get_services
from cloud.notify.targets import check_target, mask_target
from cloud.notify.text import test_message

router = APIRouter(tags=["notify"])

Staff = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.MANAGER, Role.TECHNICIAN))]
VenueLead = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.MANAGER))]
_ERRORS: Final[dict[int | str, dict[str, object]]] = {
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
}
INBOX_ITEMS: Final = 5
# Robots that sign: a secret given to another channel is a mistake worth saying.
_SIGNING: Final = frozenset({Channel.DINGTALK, Channel.FEISHU})


ServicesDep = Annotated[NotifyServices, Depends(get_services)]


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(
        422,
        code="invalid_subscription",
        message=f"{field}: {message}",
        details=[field_error(f"body.{field}", message)],
    )


def _apply(
    session: Session,
    principal: Principal,
    sub: Subscription,
    body: SubscriptionIn,
    *,
    services: NotifyServices,
    now: datetime,
) -> None:
    if body.venue_id != ALL_VENUES:
        scoped_venue(session=session, principal=principal, venue_id=body.venue_id)
    changed_channel = sub.channel != body.channel.value
    target = body.target if body.target else (None if changed_channel else sub.target)
    if target is None and body.channel is not Channel.DASHBOARD:
        raise _invalid("target", f"the {body.channel.value} channel needs an address")
    try:
        sub.target = check_target(
            body.channel, target or "", allow_loopback=services.allow_loopback_robots
        )
    except TargetError as exc:
        raise _invalid(exc.field, exc.message) from exc
    if body.secret and body.channel not in _SIGNING:
        raise _invalid("secret", "only DingTalk and Feishu robots sign with a secret")
    if body.channel in _SIGNING:
        sub.secret = body.secret or (None if changed_channel else sub.secret)
    else:
        sub.secret = None
    sub.channel = body.channel.value
    sub.venue_id = body.venue_id
    sub.kinds = sorted({k.value for k in body.kinds})
    sub.min_severity = body.min_severity.value
    sub.escalate_after_min = body.escalate_after_min
    sub.quiet_min = body.quiet_min
    sub.label = body.label
    sub.updated_at = now


def _mine(session: Session, principal: Principal, subscription_id: int) -> Subscription:
    sub = session.get(Subscription, subscription_id)
    if sub is None or sub.username != principal.subject:
        raise ApiError(
            404,
            code="subscription_not_found",
            message=(
                f"you have no subscription {subscription_id}; "
                "GET /api/v1/notify/subscriptions lists yours"
            ),
        )
    return sub


@router.get("/notify/subscriptions", responses=_ERRORS)
def list_subscriptions(*, session: SessionDep, principal: Staff) -> SubscriptionsPublic:
    """The caller's own subscriptions; robot addresses and phones are masked."""
    rows = session.exec(
        select(Subscription)
        .where(Subscription.username == principal.subject)
        .order_by(col(Subscription.id))
    ).all()
    return SubscriptionsPublic(data=[subscription_public(s) for s in rows], count=len(rows))


@router.post("/notify/subscriptions", status_code=201, responses=_ERRORS)
def create_subscription(
    *,
    session: SessionDep,
    principal: Staff,
    services: ServicesDep,
    now: NowDep,
    body: SubscriptionIn,
) -> SubscriptionPublic:
    """Subscribe the caller to a venue's (or all their venues') alerts on one channel."""
    sub = Subscription(username=principal.subject, channel=body.channel.value, created_at=now)
    _apply(session, principal, sub, body, services=services, now=now)
    session.add(sub)
    session.commit()
    session.refresh(sub)
    return subscription_public(sub)


@router.put("/notify/subscriptions/{subscription_id}", responses=_ERRORS)
def update_subscription(
    *,
    session: SessionDep,
    principal: Staff,
    services: ServicesDep,
    now: NowDep,
    subscription_id: RowId,
    body: SubscriptionIn,
) -> SubscriptionPublic:
    sub = _mine(session, principal, subscription_id)
    _apply(session, principal, sub, body, services=services, now=now)
    session.add(sub)
    session.commit()
    session.refresh(sub)
    return subscription_public(sub)


@router.delete("/notify/subscriptions/{subscription_id}", status_code=204, responses=_ERRORS)
def delete_subscription(
    *, session: SessionDep, principal: Staff, subscription_id: RowId
) -> Response:
    """Its deliveries stay (the history), without a subscription; pending ones give up."""
    sub = _mine(session, principal, subscription_id)
    session.delete(sub)
    session.commit()
    return Response(status_code=204)


@router.post(
    "/notify/subscriptions/{subscription_id}/test",
    responses={**_ERRORS, 429: {"model": ErrorResponse}},
)
def test_subscription(
    *,
    session: SessionDep,
    principal: Staff,
    services: ServicesDep,
    now: NowDep,
    subscription_id: RowId,
) -> DeliveryPublic:
    """Send a test message now and answer what became of it (sent, or failed and why).

    A failed test is not retried: the person is looking at the answer. At most 5 tests in
    10 minutes per person, 3 per subscription (429 ``too_many_test_sends`` with Retry-After).
    """
    sub = _mine(session, principal, subscription_id)
    wait = services.test_limit.take(principal.subject, subscription_id)
    if wait is not None:
        raise ApiError(
            429,
            code="too_many_test_sends",
            message=(
                f"at most {PER_USER} test messages in {WINDOW_S / 60:.0f} minutes, "
                f"{PER_SUBSCRIPTION} of them to one subscription; try again in {wait} s"
            ),
            headers={"Retry-After": str(wait)},
        )
    message = test_message(principal.subject)
    delivery = Delivery(
        subscription_id=sub.id,
        username=sub.username,
        channel=sub.channel,
        event=NotifyEvent.TEST,
        title=message.title,
        text=message.text,
        created_at=now,
    )
    attempt(services, delivery, sub, now=now)
    if delivery.status == DeliveryStatus.FAILED:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.GAVE_UP, None
    session.add(delivery)
    session.commit()
    session.refresh(delivery)
    return DeliveryPublic.model_validate(delivery)


@router.get("/notify/deliveries", responses=_ERRORS)
def list_deliveries(
    *,
    session: SessionDep,
    principal: Staff,
    alert_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveriesPublic:
    """The caller's messages, newest first, with their status, tries and last error."""
    where = [col(Delivery.username) == principal.subject]
    if alert_id is not None:
        where.append(col(Delivery.alert_id) == alert_id)
    count = session.exec(select(func.count()).select_from(Delivery).where(*where)).one()
    rows = session.exec(
        select(Delivery).where(*where).order_by(col(Delivery.id).desc()).limit(limit)
    ).all()
    return DeliveriesPublic(data=[DeliveryPublic.model_validate(d) for d in rows], count=count)


@router.get("/notify/inbox", responses=_ERRORS)
def inbox(*, session: SessionDep, principal: Staff) -> Inbox:
    """Unresolved alerts of the caller's venues (the header bell's count) and the newest
    few; ``notify`` lists the open ones the caller's dashboard subscriptions cover."""
    where = [col(Alert.active_key).is_not(None)]
    scope = principal.venue_filter()
    if scope is not None:
        where.append(col(Alert.venue_id).in_(scope))
    count = session.exec(select(func.count()).select_from(Alert).where(*where)).one()
    newest = session.exec(
        select(Alert).where(*where).order_by(col(Alert.id).desc()).limit(INBOX_ITEMS)
    ).all()
    subs = session.exec(
        select(Subscription).where(
            Subscription.username == principal.subject,
            Subscription.channel == Channel.DASHBOARD,
        )
    ).all()
    items = [
        InboxItem(
            id=a.id or 0,
            venue_id=a.venue_id,
            kind=a.kind,
            severity=a.severity,
            status=a.status,
            message_zh=a.message_zh,
            message_en=a.message_en,
            opened_at=a.opened_at,
        )
        for a in newest
    ]
    notify = [
        a.id or 0
        for a in newest
        if a.status == AlertStatus.OPEN and any(matches(s, a) for s in subs)
    ]
    return Inbox(open=count, items=items, notify=notify)


@router.get("/notify/venues/{venue_id}/escalation", responses=_ERRORS)
def escalation_order(
    *, session: SessionDep, principal: VenueLead, venue_id: str
) -> EscalationOrder:
    """Who hears of this venue's unacknowledged alerts, and after how many minutes."""
    venue = scoped_venue(session=session, principal=principal, venue_id=venue_id)
    rows = session.exec(
        select(Subscription)
        .where(
            col(Subscription.venue_id).in_([ALL_VENUES, venue.id]),
            col(Subscription.escalate_after_min).is_not(None),
        )
        .order_by(col(Subscription.escalate_after_min), col(Subscription.id))
    ).all()
    scopes = Scopes(session)
    return EscalationOrder(
        venue_id=venue.id,
        data=[
            EscalationStep(
                username=s.username,
                channel=s.channel,
                target=mask_target(s.channel, s.target),
                escalate_after_min=s.escalate_after_min or 0,
            )
            for s in rows
            if scopes.sees(s.username, venue.id)
        ],
    )
