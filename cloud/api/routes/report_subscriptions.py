"""``/api/v1/reports/subscriptions``: a person's own report subscriptions (e-mailed reports)."""

from __future__ import annotations

from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cloud.api.auth_deps import require_roles
from cloud.api.deps import NowDep, SessionDep
from cloud.api.errors import ApiError, ErrorResponse, field_error
from cloud.auth import store
from cloud.auth.principal import Principal, Role
from cloud.notify.targets import EMAIL_PATTERN
from cloud.reports.models import ReportSend, ReportSubscription
from cloud.reports.subscriptions import (
    SubscriptionPublic,
    subscription_public,
    subscriptions_of,
)
from cloud.reports.venues import load_venues

# People with a mailbox: a service token has no user to own a subscription.
SUBSCRIBERS: Final = (Role.ADMIN, Role.MANAGER, Role.TECHNICIAN)
Subscriber = Annotated[Principal, Depends(require_roles(*SUBSCRIBERS))]
# A person subscribes to a few reports, not hundreds.
MAX_PER_USER: Final = 50

router = APIRouter(
    prefix="/reports/subscriptions",
    responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)


class SubscriptionCreate(BaseModel):
    scope: Literal["venue", "district"]
    target: str = Field(min_length=1, max_length=60, description="The venue id or district.")
    period: Literal["day", "week", "month"]
    fmt: Literal["xlsx", "pdf"] = Field(default="xlsx", alias="format")
    # One plain address, as the notify channel takes (no list, no name in <>); the mail
    # server itself says whether the mailbox exists.
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    lang: Literal["zh-CN", "en"] = "zh-CN"


def _user_id(session: Session, principal: Principal) -> int:
    user = store.get_user_by_username(session=session, username=principal.subject)
    if user is None or user.id is None:
        raise ApiError(403, code="forbidden", message="only a signed-in person has subscriptions")
    return user.id


@router.get("")
def list_subscriptions(*, session: SessionDep, principal: Subscriber) -> list[SubscriptionPublic]:
    """The caller's own subscriptions."""
    return subscriptions_of(session, _user_id(session, principal))


@router.post("", status_code=201)
def create_subscription(
    *, session: SessionDep, principal: Subscriber, now: NowDep, body: SubscriptionCreate
) -> SubscriptionPublic:
    """Mail the report of a venue or district the caller sees after each period ends."""
    scope = principal.venue_filter()
    conn = session.connection()
    venues = (
        load_venues(conn, scope=scope, venue_id=body.target)
        if body.scope == "venue"
        else load_venues(conn, scope=scope, district=body.target)
    )
    if not venues:
        raise ApiError(
            404,
            code="report_target_not_found",
            message=f"no {body.scope} {body.target[:60]!r} is yours to see; pick one of yours",
            details=[field_error("body.target", "not a venue or district you see")],
        )
    user_id = _user_id(session, principal)
    count = len(
        session.exec(
            select(ReportSubscription.id).where(ReportSubscription.user_id == user_id)
        ).all()
    )
    if count >= MAX_PER_USER:
        raise ApiError(
            409, code="too_many_subscriptions", message=f"you have {count}; remove one first"
        )
    sub = ReportSubscription(user_id=user_id, created_at=now, **body.model_dump(by_alias=False))
    session.add(sub)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ApiError(
            409,
            code="subscription_exists",
            message="you already get this report at this address",
        ) from None
    session.refresh(sub)
    return subscription_public(session, sub)


@router.delete("/{subscription_id}", status_code=204)
def delete_subscription(
    *,
    session: SessionDep,
    principal: Subscriber,
    subscription_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> None:
    """Stop one of the caller's subscriptions (another person's looks like none)."""
    sub = session.get(ReportSubscription, subscription_id)
    if sub is None or sub.user_id != _user_id(session, principal):
        raise ApiError(
            404,
            code="subscription_not_found",
            message=f"you have no report subscription {subscription_id}",
        )
    session.execute(delete(ReportSend).where(col(ReportSend.subscription_id) == subscription_id))
    session.delete(sub)
    session.commit()
