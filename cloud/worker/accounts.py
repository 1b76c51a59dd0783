"""Walk-in workers: enrol with a verified phone, become a member, see and delete their data.

A first-time visitor gets a guest pass: a ``Member`` row with the ``guest`` group and a
``valid_until`` the union sets (``WorkerSettings.guest_days``), written through the roster
so the doors hear it like any member. A number the union's roster already knows (its keyed
hash on the member's row, set by ``POST /api/v1/walkins/confirm``) signs in as that member;
confirming a guest later moves them onto the member's id and retires the guest pass.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from cloud.access.models import Booking, Member
from cloud.aggregates.traffic import DECISION_EVENT
from cloud.auth import store as auth_store
from cloud.auth.models import User
from cloud.auth.principal import Role
from cloud.auth.pseudonym import pseudonymize
from cloud.bookings.models import ActivitySignup
from cloud.core.time import as_utc
from cloud.members import roster
from cloud.members.models import MemberPhone
from cloud.models import DeviceEvent
from cloud.worker.models import PhoneCode, SmsSent, Worker
from cloud.worker.settings import WorkerSettings
from protocol.access import GUEST_GROUP

GUEST_PREFIX: Final = "g-"
# The privacy notice the worker agreed to; a new text takes a new version.
CONSENT_VERSION: Final = "2026-12"
# An account's password hash that no password matches: these people sign in by phone.
PHONE_ONLY: Final = auth_store.PHONE_ONLY_HASH


class Occupation(StrEnum):
    COURIER = "courier"  # 快递员
    RIDER = "rider"  # 外卖骑手
    SANITATION = "sanitation"  # 环卫工人
    DRIVER = "driver"  # 网约车/货车司机
    CONSTRUCTION = "construction"  # 建筑工人
    SECURITY = "security"  # 保安
    OTHER = "other"


class WorkerError(ValueError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def by_phone(session: Session, phone_hash: str) -> Worker | None:
    return session.exec(select(Worker).where(col(Worker.phone_hash) == phone_hash)).first()


def by_username(session: Session, username: str) -> Worker | None:
    return session.exec(select(Worker).where(col(Worker.username) == username)).first()


def _roster_member(session: Session, phone_hash: str) -> Member | None:
    return session.exec(select(Member).where(col(Member.phone_hash) == phone_hash)).first()


def _new_guest(
    session: Session, *, name: str | None, tail: str, settings: WorkerSettings, now: datetime
) -> str:
    member_id = GUEST_PREFIX + secrets.token_hex(6)
    entry = roster.RosterEntry(
        member_id=member_id,
        display_name=name,
        groups=(GUEST_GROUP,),
        valid_until=as_utc(now) + timedelta(days=settings.guest_days),
        phone_tail=tail,
    )
    roster.upsert(session=session, entries=[entry], by="walk-in", note="guest pass", now=now)
    return member_id


@dataclass(frozen=True, slots=True)
class Enrolment:
    phone_hash: str
    phone_tail: str
    occupation: Occupation
    name: str | None
    lang: str
    venue_id: str | None


def enrol(
    session: Session, enrolment: Enrolment, *, settings: WorkerSettings, now: datetime
) -> Worker:
    """A worker account for a verified phone: the roster's member, or a new guest."""
    known = by_phone(session, enrolment.phone_hash)
    if known is not None:
        return known  # the same phone registering again: the same person
    member = _roster_member(session, enrolment.phone_hash)
    member_id = (
        member.member_id
        if member is not None
        else _new_guest(
            session,
            name=enrolment.name,
            tail=enrolment.phone_tail,
            settings=settings,
            now=now,
        )
    )
    worker_id = secrets.token_hex(8)
    username = f"w-{worker_id}"
    session.add(
        User(
            username=username,
            role=Role.MEMBER,
            member_id=member_id,
            password_hash=PHONE_ONLY,
        )
    )
    worker = Worker(
        id=worker_id,
        username=username,
        member_id=member_id,
        phone_hash=enrolment.phone_hash,
        phone_tail=enrolment.phone_tail,
        occupation=enrolment.occupation.value,
        display_name=enrolment.name,
        lang=enrolment.lang,
        consent_version=CONSENT_VERSION,
        consented_at=as_utc(now),
        joined_venue=enrolment.venue_id,
        created_at=as_utc(now),
        last_seen_at=as_utc(now),
    )
    session.add(worker)
    session.commit()
    session.refresh(worker)
    return worker


def is_guest(member_id: str) -> bool:
    return member_id.startswith(GUEST_PREFIX)


def _retire_guest(session: Session, member_id: str, *, note: str, now: datetime) -> None:
    roster.set_standing(
        session=session,
        member_id=member_id,
        standing=roster.Standing.REVOKED,
        by="walk-in",
        note=note,
        now=now,
    )


def confirm(
    session: Session, *, member_id: str, phone_hash: str, by: str, now: datetime
) -> Worker | None:
    """The union says this phone is its member ``member_id``: link the two.

    Stores the phone's hash on the member (a later sign-in with it is this member) and moves
    a worker already signed up with it onto the member's id, retiring their guest pass.
    Returns that worker, or None if nobody has signed up with the phone yet.
    """
    member = session.get(Member, member_id)
    if member is None:
        raise WorkerError(
            409,
            "member_unknown",
            f"member {member_id!r} is not on the roster; add them (PUT /api/v1/members/"
            f"{member_id}) first",
        )
    session.exec(  # one phone, one member: a number that changed hands moves
        update(Member)
        .where(col(Member.phone_hash) == phone_hash, col(Member.member_id) != member_id)
        .values(phone_hash=None)
    )
    member.phone_hash = phone_hash
    session.add(member)
    worker = by_phone(session, phone_hash)
    previous = None
    if worker is not None and worker.member_id != member_id:
        previous = worker.member_id
        worker.member_id = member_id
        session.add(worker)
        session.exec(
            update(User).where(col(User.username) == worker.username).values(member_id=member_id)
        )
    session.commit()
    if previous is not None and is_guest(previous):
        _retire_guest(session, previous, note=f"confirmed as member by {by}"[:200], now=now)
    if worker is not None:
        session.refresh(worker)
    return worker


def guest_visits(session: Session, member_id: str, *, since: datetime) -> int:
    """Doors this guest was let in at since ``since`` (accepted decisions)."""
    member = col(DeviceEvent.data)["member"].as_string()
    reason = col(DeviceEvent.data)["reason"].as_string()
    return int(
        session.exec(
            select(func.count())
            .select_from(DeviceEvent)
            .where(
                DeviceEvent.type == DECISION_EVENT,
                col(DeviceEvent.ts) >= as_utc(since),
                member == member_id,
                reason == "accepted",
            )
        ).one()
    )


def use_up_guest_pass(
    session: Session, worker: Worker, *, settings: WorkerSettings, now: datetime
) -> bool:
    """End a guest pass whose visits are spent (the doors hear it as a lapse); True if so."""
    if not is_guest(worker.member_id):
        return False
    if guest_visits(session, worker.member_id, since=worker.created_at) < settings.guest_visits:
        return False
    member = session.get(Member, worker.member_id)
    if member is None or (member.valid_until and as_utc(member.valid_until) <= as_utc(now)):
        return True
    entry = roster.entry_of(member).model_copy(update={"valid_until": as_utc(now)})
    roster.upsert(session=session, entries=[entry], by="walk-in", note="visits used", now=now)
    return True


@dataclass(frozen=True, slots=True)
class MyData:
    """Everything yizhan keeps about a worker, as they may see it (PIPL's right to know)."""

    worker: Worker
    member: Member | None
    phones: Sequence[MemberPhone]
    bookings: int
    signups: int
    door_events: int


def my_data(session: Session, worker: Worker) -> MyData:
    member_id = worker.member_id
    member_field = col(DeviceEvent.data)["member"].as_string()
    return MyData(
        worker=worker,
        member=session.get(Member, member_id),
        phones=list(session.exec(select(MemberPhone).where(MemberPhone.member_id == member_id))),
        bookings=session.exec(
            select(func.count()).select_from(Booking).where(Booking.member_id == member_id)
        ).one(),
        signups=session.exec(
            select(func.count())
            .select_from(ActivitySignup)
            .where(ActivitySignup.member_id == member_id)
        ).one(),
        door_events=session.exec(
            select(func.count())
            .select_from(DeviceEvent)
            .where(DeviceEvent.type == DECISION_EVENT, member_field == member_id)
        ).one(),
    )


def delete_account(session: Session, worker: Worker, *, now: datetime) -> int:
    """Delete the worker's account and personal data; returns the door events pseudonymised.

    Gone: the account, the phone's hash and codes, name, occupation, consent, phone keys,
    upcoming bookings and sign-ups. A guest pass is revoked (the doors hear it) with its
    name and phone digits cleared. Door decisions stay for the venue's counts, their member
    id replaced by a pseudonym under a key drawn for this deletion and then forgotten: the
    person's visits still count as one person's, and nobody, the union included, can tie
    them back. A roster member's
    membership is the union's record, not the app's: it stays, without the phone's hash.
    """
    member_id = worker.member_id
    now = as_utc(now)
    for booking in session.exec(
        select(Booking).where(
            Booking.member_id == member_id,
            col(Booking.cancelled).is_(False),
            col(Booking.ends_at) > now,
        )
    ):
        from cloud.bookings import rooms  # noqa: PLC0415  (rooms imports the roster's codes)

        rooms.cancel(session=session, booking=booking, now=now)
    session.exec(
        update(ActivitySignup)
        .where(
            col(ActivitySignup.member_id) == member_id, col(ActivitySignup.cancelled_at).is_(None)
        )
        .values(cancelled_at=now)
    )
    pseudonymised = _pseudonymise_events(session, member_id, key=secrets.token_bytes(32))
    for phone in session.exec(select(MemberPhone).where(MemberPhone.member_id == member_id)):
        session.delete(phone)
    session.exec(update(Member).where(col(Member.member_id) == member_id).values(phone_hash=None))
    user = auth_store.get_user_by_username(session=session, username=worker.username)
    session.exec(PhoneCode.__table__.delete().where(PhoneCode.phone_hash == worker.phone_hash))  # type: ignore[attr-defined]
    session.exec(SmsSent.__table__.delete().where(SmsSent.phone_hash == worker.phone_hash))  # type: ignore[attr-defined]
    session.delete(worker)
    session.commit()
    if user is not None:
        auth_store.delete_user(session=session, user=user)
    if is_guest(member_id):
        _retire_guest(session, member_id, note="account deleted by the worker", now=now)
        member = session.get(Member, member_id)
        if member is not None:
            member.display_name, member.phone_tail = None, None
            session.add(member)
            session.commit()
    return pseudonymised


def _pseudonymise_events(session: Session, member_id: str, *, key: bytes) -> int:
    member_field = col(DeviceEvent.data)["member"].as_string()
    events = session.exec(
        select(DeviceEvent).where(DeviceEvent.type == DECISION_EVENT, member_field == member_id)
    ).all()
    alias = pseudonymize(member_id, key=key)
    for event in events:
        event.data = {**event.data, "member": alias}
        session.add(event)
    return len(events)
