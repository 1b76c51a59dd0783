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

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from cloud.access.models import Booking, Member
from cloud.aggregates.traffic import DECISION_EVENT
from cloud.auth import store as auth_store
from cloud.auth.models import User
from cloud.auth.principal import Role
from cloud.auth.pseudonym import pseudonymize
from cloud.bookings.models import ActivitySignup
from cloud.core.time import as_utc
from cloud.members import phones, roster
from cloud.members.models import MemberPhone
from cloud.models import DeviceEvent
from cloud.worker.models import PhoneCode, Worker
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


def _member_with_phone(session: Session, phone_hash: str) -> Member | None:
    return session.exec(select(Member).where(col(Member.phone_hash) == phone_hash)).first()


def _guest_pass(
    session: Session,
    *,
    phone_hash: str,
    previous: Member | None,
    name: str | None,
    tail: str,
    settings: WorkerSettings,
    now: datetime,
) -> str:
    """The guest's member id: the phone's pass still running (after an account was deleted,
    a new account continues it: deleting cannot buy a fresh pass), or a new one."""
    live = (
        previous is not None
        and previous.valid_until is not None
        and as_utc(previous.valid_until) > as_utc(now)
    )
    if previous is not None and live:
        member_id, until = previous.member_id, as_utc(previous.valid_until)  # type: ignore[arg-type]
    else:
        member_id = GUEST_PREFIX + secrets.token_hex(6)
        until = as_utc(now) + timedelta(days=settings.guest_days)
    entry = roster.RosterEntry(
        member_id=member_id,
        display_name=name,
        groups=(GUEST_GROUP,),
        valid_until=until,
        phone_tail=tail,
    )
    note = "guest pass continued" if live else "guest pass"
    roster.upsert(session=session, entries=[entry], by="walk-in", note=note, now=now)
    session.exec(  # the phone's hash moves to the pass it now holds
        update(Member).where(col(Member.phone_hash) == phone_hash).values(phone_hash=None)
    )
    session.exec(
        update(Member).where(col(Member.member_id) == member_id).values(phone_hash=phone_hash)
    )
    session.commit()
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
    member = _member_with_phone(session, enrolment.phone_hash)
    if member is not None and not is_guest(member.member_id):
        member_id = member.member_id  # the union's roster knows this phone
    else:
        member_id = _guest_pass(
            session,
            phone_hash=enrolment.phone_hash,
            previous=member,
            name=enrolment.name,
            tail=enrolment.phone_tail,
            settings=settings,
            now=now,
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
    try:
        session.commit()
    except IntegrityError:  # the same form sent twice at once: the first one won
        session.rollback()
        first = by_phone(session, enrolment.phone_hash)
        if first is None:
            raise
        return first
    session.refresh(worker)
    return worker


def is_guest(member_id: str) -> bool:
    return member_id.startswith(GUEST_PREFIX)


def _forget_guest(session: Session, member_id: str, *, keep_phone: bool = False) -> None:
    """A guest pass no longer anyone's: no name, no digits, door events under a pseudonym.

    ``keep_phone`` leaves the phone's keyed hash on a pass that is still running, so that a
    new account with the same phone continues it (enrol); the hourly job clears it when the
    pass ends (:func:`forget_ended_passes`)."""
    _pseudonymise_events(session, member_id, key=secrets.token_bytes(32))
    values: dict[str, object] = {"display_name": None, "phone_tail": None}
    if not keep_phone:
        values["phone_hash"] = None
    session.exec(update(Member).where(col(Member.member_id) == member_id).values(**values))
    session.commit()


def forget_ended_passes(session: Session, now: datetime) -> int:
    """Clear the phone's hash from guest passes that are revoked and past their end."""
    ended = session.exec(
        update(Member)
        .where(
            col(Member.member_id).startswith(GUEST_PREFIX),
            col(Member.phone_hash).is_not(None),
            col(Member.standing) != "active",
            col(Member.valid_until) <= as_utc(now),
        )
        .values(phone_hash=None)
    )
    session.commit()
    return int(ended.rowcount or 0)


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
        _forget_guest(session, previous)
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
    member = session.get(Member, worker.member_id)
    began = as_utc(worker.created_at)
    if member is not None and member.valid_until is not None:  # a continued pass counts on
        began = min(began, as_utc(member.valid_until) - timedelta(days=settings.guest_days))
    if guest_visits(session, worker.member_id, since=began) < settings.guest_visits:
        return False
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

    Gone: the account, name, occupation, consent, the phone's codes, upcoming bookings and
    sign-ups, and the phone keys, withdrawn at every door as a lost phone's are. Door
    decisions stay for the venue's counts, their member id replaced by a pseudonym under a
    key drawn for this deletion and then forgotten: the visits still count as one person's,
    and nobody, the union included, can tie them back. A guest pass is revoked (the doors
    hear it) with its name and digits cleared; while it would still have run, it keeps the
    phone's keyed hash, so a new account with that phone continues it instead of starting
    a fresh one (the hourly job clears the hash when it ends). The texts sent stay for the
    day their limits look back, for the same reason. A roster member's membership is the
    union's record, not the app's: it stays, without the phone's hash.
    """
    member_id = worker.member_id
    now = as_utc(now)
    from cloud.bookings import rooms  # noqa: PLC0415  (rooms imports the roster's codes)

    for booking in session.exec(
        select(Booking).where(
            Booking.member_id == member_id,
            col(Booking.cancelled).is_(False),
            col(Booking.ends_at) > now,
        )
    ):
        rooms.cancel(session=session, booking=booking, now=now)
    session.exec(
        update(ActivitySignup)
        .where(
            col(ActivitySignup.member_id) == member_id, col(ActivitySignup.cancelled_at).is_(None)
        )
        .values(cancelled_at=now)
    )
    by = "account deleted by the worker"
    for phone in phones.phones(session, member_id):
        if phone.revoked_at is None:  # every door refuses its certificates from now on
            phones.revoke(session, member_id, phone.id, by=by, now=now)
    for phone in phones.phones(session, member_id):
        session.delete(phone)
    pseudonymised = _pseudonymise_events(session, member_id, key=secrets.token_bytes(32))
    if not is_guest(member_id):
        session.exec(
            update(Member).where(col(Member.member_id) == member_id).values(phone_hash=None)
        )
    user = auth_store.get_user_by_username(session=session, username=worker.username)
    session.exec(delete(PhoneCode).where(col(PhoneCode.phone_hash) == worker.phone_hash))
    session.delete(worker)
    session.commit()
    if user is not None:
        auth_store.delete_user(session=session, user=user)
    if is_guest(member_id):
        _retire_guest(session, member_id, note=by, now=now)
        _forget_guest(session, member_id, keep_phone=True)
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
