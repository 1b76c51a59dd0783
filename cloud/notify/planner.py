"""Which messages an alert's change makes: one delivery row per matching subscription,
written in the change's own transaction (so nothing is lost and evaluation never waits).

Two limits keep a noisy condition from paging people all day:

- quiet-repeat: the same condition (dedupe key) reaches a subscription at most once per its
  ``quiet_min`` minutes; later openings are recorded as suppressed;
- flapping: a condition that opened more than FLAP_LIMIT times in the past hour is sent as
  one summary, then stays quiet for the rest of that hour.

A resolved message goes only to those who were told the alert opened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlmodel import Session, col, func, select

from cloud.alerts.models import Alert, Severity
from cloud.auth.principal import Role
from cloud.auth.store import get_user_by_username, principal_for_user
from cloud.core.time import as_utc
from cloud.models import Venue
from cloud.notify.models import (
    ALL_VENUES,
    Channel,
    Delivery,
    DeliveryStatus,
    NotifyEvent,
    Subscription,
)
from cloud.notify.text import alert_message

# Openings of one condition in an hour past which it is "flapping": three is a door that
# sticks or a probe at the threshold; a fourth message says nothing new.
FLAP_LIMIT: Final = 3
FLAP_WINDOW: Final = timedelta(hours=1)
SEVERITY_RANK: Final = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
_STAFF: Final = frozenset({Role.ADMIN, Role.MANAGER, Role.TECHNICIAN})
# Deliveries that told (or will tell) the person: what quiet-repeat counts.
_TOLD: Final = (DeliveryStatus.PENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED)


class Scopes:
    """Each subscriber's venues as their account says now (a manager moved to another
    venue stops hearing of the old one at once; a disabled account hears of none)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        # username -> venue ids (None: every venue); absent: not staff, disabled, or gone.
        self._scope: dict[str, frozenset[str] | None] = {}
        self._looked_up: set[str] = set()

    def sees(self, username: str, venue_id: str) -> bool:
        if username not in self._looked_up:
            self._looked_up.add(username)
            user = get_user_by_username(session=self._session, username=username)
            # A disabled account is told nothing: its owner has left, or lost a phone.
            if user is not None and not user.disabled and Role(user.role) in _STAFF:
                principal = principal_for_user(session=self._session, user=user)
                self._scope[username] = principal.venue_ids
        if username not in self._scope:
            return False
        scope = self._scope[username]
        return scope is None or venue_id in scope


def matches(sub: Subscription, alert: Alert) -> bool:
    """Venue, kind and severity; the owner's scope is checked apart (Scopes)."""
    if sub.venue_id not in (ALL_VENUES, alert.venue_id):
        return False
    if sub.kinds and alert.kind not in sub.kinds:
        return False
    rank = SEVERITY_RANK.get(Severity(alert.severity), 0)
    return rank >= SEVERITY_RANK.get(Severity(sub.min_severity), 1)


def subscribers(session: Session, alert: Alert, *, escalation: bool) -> list[Subscription]:
    """The subscriptions that hear of ``alert``: at once, or (``escalation``) after minutes."""
    minutes = col(Subscription.escalate_after_min)
    query = select(Subscription).where(
        col(Subscription.venue_id).in_([ALL_VENUES, alert.venue_id]),
        minutes.is_not(None) if escalation else minutes.is_(None),
    )
    scopes = Scopes(session)
    return [
        sub
        for sub in session.exec(query.order_by(col(Subscription.id)))
        if matches(sub, alert) and scopes.sees(sub.username, alert.venue_id)
    ]


def venue_name(session: Session, venue_id: str) -> str:
    venue = session.get(Venue, venue_id)
    return venue.name if venue is not None else venue_id


def new_delivery(
    sub: Subscription, alert: Alert | None, *, event: str, now: datetime, title: str, text: str
) -> Delivery:
    dashboard = sub.channel == Channel.DASHBOARD
    return Delivery(
        subscription_id=sub.id,
        username=sub.username,
        channel=sub.channel,
        alert_id=alert.id if alert else None,
        dedupe_key=alert.dedupe_key if alert else None,
        venue_id=alert.venue_id if alert else None,
        event=event,
        # The dashboard's delivery is the inbox itself: there is nothing left to send.
        status=DeliveryStatus.SENT if dashboard else DeliveryStatus.PENDING,
        sent_at=now if dashboard else None,
        title=title,
        text=text,
        created_at=now,
        next_attempt_at=None if dashboard else now,
    )


def _recent(
    session: Session, sub: Subscription, key: str, *, since: datetime, events: Sequence[str]
) -> Delivery | None:
    return session.exec(
        select(Delivery)
        .where(
            Delivery.subscription_id == sub.id,
            Delivery.dedupe_key == key,
            col(Delivery.event).in_(events),
            col(Delivery.status).in_(_TOLD),
            col(Delivery.created_at) >= since,
        )
        .order_by(col(Delivery.id).desc())
        .limit(1)
    ).first()


def _openings(session: Session, alert: Alert, *, now: datetime) -> int:
    return session.exec(
        select(func.count())
        .select_from(Alert)
        .where(Alert.dedupe_key == alert.dedupe_key, col(Alert.opened_at) >= now - FLAP_WINDOW)
    ).one()


def _opened(session: Session, alert: Alert, subs: Iterable[Subscription], *, now: datetime) -> None:
    name = venue_name(session, alert.venue_id)
    openings = _openings(session, alert, now=now)
    for sub in subs:
        event, reason = NotifyEvent.OPENED.value, None
        if openings > FLAP_LIMIT:
            summary = _recent(
                session, sub, alert.dedupe_key, since=now - FLAP_WINDOW, events=["flapping"]
            )
            event = NotifyEvent.FLAPPING.value
            reason = "flapping: summarised this hour" if summary else None
        if reason is None and sub.quiet_min > 0:
            told = _recent(
                session,
                sub,
                alert.dedupe_key,
                since=now - timedelta(minutes=sub.quiet_min),
                events=["opened", "escalated", "flapping"],
            )
            if told is not None:
                reason = f"quiet: told of this condition within {sub.quiet_min} min"
        message = alert_message(alert, event=event, venue_name=name, times=openings)
        delivery = new_delivery(
            sub, alert, event=event, now=now, title=message.title, text=message.text
        )
        if reason is not None:
            delivery.status, delivery.reason, delivery.next_attempt_at = (
                DeliveryStatus.SUPPRESSED,
                reason,
                None,
            )
            delivery.sent_at = None
        session.add(delivery)


def _resolved(
    session: Session, alert: Alert, subs: Iterable[Subscription], *, now: datetime
) -> None:
    told = set(
        session.exec(
            select(Delivery.subscription_id).where(
                Delivery.alert_id == alert.id,
                col(Delivery.status).in_(_TOLD),
                col(Delivery.event).in_(["opened", "escalated", "flapping"]),
            )
        )
    )
    name = venue_name(session, alert.venue_id)
    message = alert_message(alert, event=NotifyEvent.RESOLVED, venue_name=name)
    for sub in subs:
        if sub.id in told:
            session.add(
                new_delivery(
                    sub,
                    alert,
                    event=NotifyEvent.RESOLVED,
                    now=now,
                    title=message.title,
                    text=message.text,
                )
            )


def on_alert_change(session: Session, alert: Alert, *, event: str, now: datetime) -> None:
    """The deliveries of ``alert``'s change ``event`` (opened / acknowledged / resolved),
    added to ``session``; the caller commits them with the change."""
    if event not in ("opened", "resolved") or alert.id is None:
        return  # an acknowledgement is news to nobody but the dashboard, which reads alerts
    now = as_utc(now)
    if event == "opened":
        _opened(session, alert, subscribers(session, alert, escalation=False), now=now)
    else:
        # Whoever was paged by escalation hears that it is over too.
        subs = subscribers(session, alert, escalation=False)
        subs += subscribers(session, alert, escalation=True)
        _resolved(session, alert, subs, now=now)
