"""Earning points: the district's rules, the check-in award job, activity attendance, grants.

Every award is a ledger posting from ``pool:union`` with an idempotency key that names what
earned it, so repeating any of them (a job re-run, a retried request) pays nothing twice:

- check-in: ``checkin:{venue}:{member}:{local date}`` — the first accepted door decision of
  a member at a venue on a local calendar day (the venue's time zone), published by a door
  of that venue and dated within that door's offline window of when it arrived (issue 15:
  any other box's decisions, or one dated in 2099, pay nothing);
- activity: ``activity:{activity_id}:{member}``;
- manual grant: ``grant:{client key}`` (or ``grant:{random}`` when the client gives none).

Expiry is cloud.points.expiry.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import Engine, inspect, tuple_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cloud.access.models import Member
from cloud.aggregates.timezones import local_date, venue_zone
from cloud.auth.principal import DOOR
from cloud.core.time import as_utc
from cloud.devices.models import Device, DeviceStatus
from cloud.models import DeviceEvent, Venue
from cloud.points import ledger
from cloud.points.earning_models import (
    RULES_ID,
    ActivityAttendance,
    AttendanceCreate,
    EarningRules,
    EarningRulesUpdate,
    GrantCreate,
    JobCursor,
)
from cloud.points.errors import LedgerError
from cloud.points.models import Posting
from protocol.membercode import MEMBER_ID_RE

logger = logging.getLogger(__name__)

CHECKIN_CURSOR: Final = "checkin_awards"
# Ingest commits an event a moment after stamping its received_at, so a later run may find
# rows older than the cursor; re-reading this much absorbs them (the keys dedupe).
CURSOR_OVERLAP: Final = timedelta(minutes=10)
BATCH: Final = 2000
_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
# A door that has not synced for this long fails secure and admits nobody (edge/settings.py
# AccessSettings.max_offline_age_s, 7 days), so an honest check-in is never older than this
# when it reaches the cloud; an older time is a forged or broken clock and earns nothing.
DOOR_OFFLINE_WINDOW: Final = timedelta(days=7)
# How far a door's clock may run ahead of the cloud's before its times are not believed.
CLOCK_SKEW: Final = timedelta(minutes=5)
# Why an accepted decision was not paid (AwardResult.skipped).
NOT_A_DOOR: Final = "not_a_door"  # no door of the event's venue (a hub, a kiosk, unknown)
OUT_OF_WINDOW: Final = "out_of_window"  # dated outside [received - window, received + skew]


class MemberNotFoundError(LedgerError):
    def __init__(self, member_id: str) -> None:
        super().__init__(
            f"there is no member {member_id[:24]!r}; members come from the union app's sync, "
            "check the id on the member's card"
        )


# --- rules ---


def current_rules(session: Session) -> EarningRules:
    """The stored rules, or the defaults when an admin never changed them."""
    return session.get(EarningRules, RULES_ID) or EarningRules(id=RULES_ID)


def put_rules(
    *, session: Session, update: EarningRulesUpdate, by: str, now: datetime
) -> EarningRules:
    rules = session.get(EarningRules, RULES_ID) or EarningRules(id=RULES_ID)
    for name, value in update.model_dump().items():
        setattr(rules, name, value)
    rules.updated_by, rules.updated_at = by, now
    session.add(rules)
    session.commit()
    session.refresh(rules)
    return rules


def _award_lines(member_id: str, points: int) -> list[tuple[str, int]]:
    return [(ledger.POOL, -points), (ledger.member_account(member_id), points)]


def require_member(session: Session, member_id: str) -> None:
    if session.get(Member, member_id) is None:
        raise MemberNotFoundError(member_id)


# --- check-ins ---


@dataclass(frozen=True, slots=True)
class CheckIn:
    venue_id: str
    member_id: str
    day: str  # the local date, ISO
    device_id: str
    seq: int

    @property
    def key(self) -> str:
        return f"checkin:{self.venue_id}:{self.member_id}:{self.day}"


@dataclass(slots=True)
class AwardResult:
    events_read: int = 0
    awarded: list[str] = field(default_factory=list)  # the posting keys paid by this run
    # Accepted decisions first read by this run and not paid, by NOT_A_DOOR / OUT_OF_WINDOW.
    skipped: Counter[str] = field(default_factory=Counter)


def _check_in_of(event: DeviceEvent, venues: dict[str, Venue]) -> CheckIn | None:
    data = event.data if isinstance(event.data, dict) else {}
    member = data.get("member")
    if data.get("reason") != "accepted" or not isinstance(member, str):
        return None
    if not MEMBER_ID_RE.fullmatch(member) or not member[0].isalnum():
        return None  # not an id the ledger accepts as an account; nothing to pay
    venue = venues.get(event.venue_id)
    day = local_date(event.ts, venue_zone(venue.timezone if venue else None))
    return CheckIn(event.venue_id, member, day.isoformat(), event.device_id, event.seq)


def _doors(session: Session, events: Sequence[DeviceEvent]) -> dict[str, Device]:
    ids = sorted({event.device_id for event in events})
    query = select(Device).where(col(Device.id).in_(ids), Device.role == DOOR)
    return {door.id: door for door in session.exec(query).all()}


def _door_was_live(door: Device, received_at: datetime) -> bool:
    if door.status != DeviceStatus.DECOMMISSIONED:
        return True
    # What it sent before it was decommissioned still counts; nothing after.
    return door.decommissioned_at is not None and received_at < as_utc(door.decommissioned_at)


def _why_not_paid(event: DeviceEvent, doors: dict[str, Device]) -> str | None:
    """None if the decision may earn; else NOT_A_DOOR or OUT_OF_WINDOW."""
    door = doors.get(event.device_id)
    received = as_utc(event.received_at)
    if door is None or door.venue_id != event.venue_id or not _door_was_live(door, received):
        return NOT_A_DOOR
    if not received - DOOR_OFFLINE_WINDOW <= as_utc(event.ts) <= received + CLOCK_SKEW:
        return OUT_OF_WINDOW
    return None


@dataclass(frozen=True, slots=True)
class _Batch:
    venues: dict[str, Venue]
    doors: dict[str, Device]
    seen_until: datetime  # events received up to here were counted by an earlier run


def _first_per_key(
    events: Iterable[DeviceEvent], batch: _Batch, skipped: Counter[str]
) -> list[CheckIn]:
    first: dict[str, tuple[datetime, CheckIn]] = {}
    for event in events:
        check_in = _check_in_of(event, batch.venues)
        if check_in is None:
            continue
        why = _why_not_paid(event, batch.doors)
        if why is not None:
            if as_utc(event.received_at) > batch.seen_until:  # the overlap re-reads some
                skipped[why] += 1
            continue
        ts = as_utc(event.ts)
        if check_in.key not in first or ts < first[check_in.key][0]:
            first[check_in.key] = (ts, check_in)
    return [check_in for _, check_in in first.values()]


def _paid_keys(session: Session, keys: Sequence[str]) -> set[str]:
    paid: set[str] = set()
    for start in range(0, len(keys), 500):  # bounded IN lists
        chunk = keys[start : start + 500]
        query = select(Posting.idempotency_key).where(col(Posting.idempotency_key).in_(chunk))
        paid.update(session.exec(query).all())
    return paid


def _events_after(
    session: Session, after: tuple[datetime, str, int], until: datetime
) -> list[DeviceEvent]:
    query = (
        select(DeviceEvent)
        .where(
            DeviceEvent.type == "access.decision",
            tuple_(DeviceEvent.received_at, DeviceEvent.device_id, DeviceEvent.seq)
            > tuple_(*after),
            col(DeviceEvent.received_at) <= until,
        )
        .order_by(col(DeviceEvent.received_at), col(DeviceEvent.device_id), col(DeviceEvent.seq))
        .limit(BATCH)
    )
    return list(session.exec(query).all())


def _pay(session: Session, check_ins: Sequence[CheckIn], points: int, now: datetime) -> list[str]:
    paid = _paid_keys(session, [c.key for c in check_ins])
    awarded = []
    for check_in in check_ins:
        if check_in.key in paid:
            continue
        ledger.post(
            session=session,
            key=check_in.key,
            kind="checkin",
            lines=_award_lines(check_in.member_id, points),
            memo=f"check-in at {check_in.venue_id} on {check_in.day} "
            f"({check_in.device_id}#{check_in.seq})",
            at=now,
        )
        awarded.append(check_in.key)
    return awarded


def _advance(session: Session, position: datetime) -> None:
    """Move the cursor forward (never back: a run may read only the overlap)."""
    row = session.get(JobCursor, CHECKIN_CURSOR)
    if row is None:
        row = JobCursor(name=CHECKIN_CURSOR, position=position)
    elif as_utc(row.position) < position:
        row.position = position
    session.add(row)
    session.commit()


def award_checkins(engine: Engine, now: datetime) -> AwardResult:
    """Pay every member's first accepted door decision per venue and local day (the job).

    Reads ``access.decision`` events by received time past a cursor (less CURSOR_OVERLAP),
    so a door that uploads a week of offline check-ins late still earns them. Only a door's
    decisions at its own venue, dated within DOOR_OFFLINE_WINDOW before (CLOCK_SKEW after)
    their arrival, are paid; the rest are counted in ``skipped`` and logged. Postings are
    dated ``now`` (when the points were credited); the key carries the check-in's day.
    """
    now = as_utc(now)
    result = AwardResult()
    with Session(engine) as session:
        points = current_rules(session).checkin_points
        venues = {v.id: v for v in session.exec(select(Venue)).all()}
        cursor = session.get(JobCursor, CHECKIN_CURSOR)
        seen_until = as_utc(cursor.position) if cursor else _EPOCH
        after: tuple[datetime, str, int] = (seen_until - CURSOR_OVERLAP, "", -1)
        while events := _events_after(session, after, now):
            result.events_read += len(events)
            last = events[-1]
            after = (as_utc(last.received_at), last.device_id, last.seq)
            if points > 0:
                batch = _Batch(venues, _doors(session, events), seen_until)
                check_ins = _first_per_key(events, batch, result.skipped)
                result.awarded += _pay(session, check_ins, points, now)
        if result.events_read:
            _advance(session, after[0])
    if result.awarded:
        logger.info("check-in awards: %d paid", len(result.awarded))
    if result.skipped:
        logger.warning(
            "check-in awards: %d accepted decisions not from a door of their venue and %d "
            "dated outside their door's offline window were not paid",
            result.skipped[NOT_A_DOOR],
            result.skipped[OUT_OF_WINDOW],
        )
    return result


# --- activities and grants ---


@dataclass(frozen=True, slots=True)
class Attendance:
    record: ActivityAttendance
    created: bool


def record_attendance(
    *, session: Session, activity_id: str, attendance: AttendanceCreate, by: str, now: datetime
) -> Attendance:
    """Record that a member attended and pay the activity's points, once (idempotent).

    The attendance row and the posting commit together. A repeat returns the first record.
    """
    pk = (activity_id, attendance.member_id)
    existing = session.get(ActivityAttendance, pk)
    if existing is not None:
        return Attendance(existing, created=False)
    require_member(session, attendance.member_id)
    points = attendance.points
    if points is None:
        points = current_rules(session).activity_points
    key = f"activity:{activity_id}:{attendance.member_id}"
    row = ActivityAttendance(
        activity_id=activity_id,
        member_id=attendance.member_id,
        venue_id=attendance.venue_id,
        points=points,
        posting_key=key if points else None,
        recorded_by=by,
        recorded_at=now,
    )
    session.add(row)
    try:
        if points:
            ledger.post(
                session=session,
                key=key,
                kind="activity",
                lines=_award_lines(attendance.member_id, points),
                memo=f"attended activity {activity_id} at {attendance.venue_id}",
                created_by=by,
                at=now,
            )
        else:
            session.commit()
    except IntegrityError:  # a concurrent request stored the attendance first
        session.rollback()
    # Ours if it committed; else the concurrent request's (ours was rolled back with it).
    created = inspect(row).persistent
    stored = session.get(ActivityAttendance, pk, populate_existing=True)
    if stored is None:
        raise LedgerError(f"attendance of {attendance.member_id} was not stored; retry")
    return Attendance(stored, created=created)


@dataclass(frozen=True, slots=True)
class Grant:
    key: str
    posting: Posting
    balance: int


def grant(*, session: Session, grant_in: GrantCreate, by: str, now: datetime) -> Grant:
    """A manual grant (or, negative, a correction) with its reason on the posting.

    Raises MemberNotFoundError, InsufficientPoints (a correction beyond the balance) and
    IdempotencyConflict (the key was used for a different grant or reason).
    """
    require_member(session, grant_in.member_id)
    client_key = grant_in.key or uuid.uuid4().hex
    key = f"grant:{client_key}"
    points = grant_in.points
    lines = [(ledger.POOL, -points), (ledger.member_account(grant_in.member_id), points)]
    posting = ledger.post(
        session=session,
        key=key,
        kind="grant",
        lines=lines,
        memo=grant_in.reason,
        created_by=by,
        at=now,
    )
    if posting.memo != grant_in.reason:
        raise ledger.IdempotencyConflict(
            f"grant key {client_key!r} was used with another reason; use a new key"
        )
    account = ledger.member_account(grant_in.member_id)
    return Grant(client_key, posting, ledger.balance(session=session, account=account))
