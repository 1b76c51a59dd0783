"""Scheduled reports: each subscription's last ended period, made and mailed once.

A period is sent from 06:00 local the morning after it ends (rollups of the night and the
boxes' late backlogs are in by then). A send is claimed first with a row keyed by
(subscription, period): a second run, or a second process, finds the claim and skips it;
a failed send drops its claim, so the next run tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from sqlmodel import select as orm_select

from cloud.aggregates import raw
from cloud.aggregates.timezones import local_date, venue_zone
from cloud.auth import store
from cloud.auth.models import User
from cloud.core.time import as_utc
from cloud.reports.files import ReportFile, district_report, render_file, venue_report
from cloud.reports.mail import Attachment, ReportMailError
from cloud.reports.models import ReportSend, ReportSubscription
from cloud.reports.period import PERIOD_KINDS, Period, PeriodKind
from cloud.reports.words import title

logger = logging.getLogger(__name__)

SEND_AFTER: Final = timedelta(hours=6)
# A claim older than this was left by a process that died while mailing: take it over.
STALE_CLAIM: Final = timedelta(hours=1)
SENT: Final = "sent"
SENDING: Final = "sending"
SUBS = raw.table(ReportSubscription)
SENDS = raw.table(ReportSend)

Mailer = Callable[[str, str, str, Attachment], None]  # to, subject, body, attachment


@dataclass(frozen=True, slots=True)
class Outcome:
    subscription_id: int
    period_key: str
    status: Literal["sent", "failed", "skipped"]
    error: str | None = None


def due_period(
    kind: PeriodKind, zone: ZoneInfo, *, now: datetime, since: datetime
) -> Period | None:
    """The last period that ended SEND_AFTER before ``now`` and after ``since`` (the
    subscription's creation: nobody asked for the periods before)."""
    period = Period.containing(kind, local_date(now, zone)).previous()
    if as_utc(now) < period.bounds(zone)[1] + SEND_AFTER:
        period = period.previous()
    return period if period.bounds(zone)[1] > as_utc(since) else None


def _zone(session: Session, sub: ReportSubscription) -> ZoneInfo:
    v = raw.VENUE.c
    column = v.id if sub.scope == "venue" else v.district
    found = (
        session.connection()
        .execute(select(v.timezone).where(column == sub.target).order_by(v.id).limit(1))
        .scalar_one_or_none()
    )
    return venue_zone(found)


def _claim(engine: Engine, sub_id: int, key: str, now: datetime) -> bool:
    s = SENDS.c
    with engine.begin() as conn:
        row = conn.execute(
            select(s.status, s.claimed_at).where(s.subscription_id == sub_id, s.period_key == key)
        ).one_or_none()
        if row is not None:
            if row.status == SENT or as_utc(row.claimed_at) > now - STALE_CLAIM:
                return False
            conn.execute(
                update(SENDS)
                .where(s.subscription_id == sub_id, s.period_key == key)
                .values(claimed_at=now)
            )
            return True
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(SENDS),
                {
                    "subscription_id": sub_id,
                    "period_key": key,
                    "status": SENDING,
                    "claimed_at": now,
                },
            )
    except IntegrityError:
        return False  # another process claimed it a moment ago
    return True


def _settle(engine: Engine, sub_id: int, key: str, *, sent_at: datetime | None) -> None:
    s = SENDS.c
    where = (s.subscription_id == sub_id) & (s.period_key == key)
    with engine.begin() as conn:
        if sent_at is None:
            conn.execute(delete(SENDS).where(where))
        else:
            conn.execute(update(SENDS).where(where).values(status=SENT, sent_at=sent_at))


def _make(
    session: Session, sub: ReportSubscription, period: Period, now: datetime
) -> tuple[ReportFile, str] | None:
    """The file and the report's name (venue or district), or None with nothing to report."""
    user = session.get(User, sub.user_id)
    if user is None or user.disabled:
        return None
    scope = store.principal_for_user(session=session, user=user).venue_filter()
    conn = session.connection()
    make = venue_report if sub.scope == "venue" else district_report
    report = make(conn, sub.target, period, scope=scope, now=now)
    if report is None:
        return None
    file = render_file(report, "pdf" if sub.fmt == "pdf" else "xlsx", sub.lang)
    return file, report.display_name(sub.lang)


def _send_one(
    engine: Engine, sub: ReportSubscription, period: Period, *, now: datetime, mail: Mailer
) -> Outcome:
    assert sub.id is not None
    key = period.slug
    if not _claim(engine, sub.id, key, now):
        return Outcome(sub.id, key, "skipped")
    try:
        with Session(engine) as session:
            made = _make(session, sub, period, now)
        if made is None:
            _settle(engine, sub.id, key, sent_at=None)
            return Outcome(sub.id, key, "skipped", "no venue of this report is in the user's scope")
        file, name = made
        subject = title(sub.lang, name, period.kind, period.label(sub.lang))
        body = (
            subject + "\n\n" + ("The report is attached." if sub.lang == "en" else "报告见附件。")
        )
        attachment = Attachment(file.filename, file.content, file.maintype, file.subtype)
        mail(sub.email, subject, body, attachment)
    except ReportMailError as exc:
        _settle(engine, sub.id, key, sent_at=None)
        logger.warning("report %s for subscription %d not sent: %s", key, sub.id, exc)
        return Outcome(sub.id, key, "failed", str(exc))
    except Exception:
        _settle(engine, sub.id, key, sent_at=None)
        raise
    _settle(engine, sub.id, key, sent_at=now)
    return Outcome(sub.id, key, "sent")


def send_due(engine: Engine, *, now: datetime, mail: Mailer) -> list[Outcome]:
    """Mail every subscription's due period that has not gone out yet; one that fails,
    whatever the reason, is an outcome "failed" and the others still go."""
    outcomes = []
    with Session(engine) as session:
        subs = [
            (sub, _zone(session, sub))
            for sub in session.exec(orm_select(ReportSubscription).order_by(SUBS.c.id))
        ]
    for sub, zone in subs:
        kind = next((k for k in PERIOD_KINDS if k == sub.period), None)
        period = None if kind is None else due_period(kind, zone, now=now, since=sub.created_at)
        if period is None or sub.id is None:
            continue
        try:
            outcomes.append(_send_one(engine, sub, period, now=now, mail=mail))
        except Exception as exc:  # one report must not stop the others
            # Its claim is dropped (_send_one): the next run tries again.
            logger.exception("report %s for subscription %d failed", period.slug, sub.id)
            error = f"unexpected error: {type(exc).__name__}: {exc}"[:300]
            outcomes.append(Outcome(sub.id, period.slug, "failed", error))
    return outcomes
