"""What a careful attacker tries next: another site's forms, a fresh pass by deleting the
account, a phone key past the pass, a name that hides text; and what deletion must reach."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlmodel import Session, select

from cloud.access.models import Member
from cloud.bookings.models import Room
from cloud.members import phones, roster
from cloud.models import DeviceEvent
from cloud.worker import accounts
from cloud.worker.models import SmsSent, Worker
from tests.cloud.worker.world import NOW, PHONE, Clock, csrf_field, walk_in, worker_app


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _public_key() -> str:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def test_forms_posted_from_another_site_are_refused(tmp_path: Path, clock: Clock) -> None:
    with worker_app(tmp_path, clock) as (client, _engine, sender, _issuer):
        for headers in (
            {"Sec-Fetch-Site": "cross-site"},
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
        ):
            answer = client.post("/m/signin/code", data={"phone": PHONE}, headers=headers)
            assert answer.status_code == 403, headers
            assert "别的网站" in answer.text
        assert sender.last_code(PHONE) is None  # nothing was texted
        same = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}
        assert client.post("/m/signin/code", data={"phone": PHONE}, headers=same).status_code == 200


def test_a_name_with_control_or_direction_characters_is_refused(
    tmp_path: Path, clock: Clock
) -> None:
    with worker_app(tmp_path, clock) as (client, _engine, sender, _issuer):
        client.post("/m/signin/code", data={"phone": PHONE})
        client.post("/m/signin/verify", data={"phone": PHONE, "code": sender.last_code(PHONE)})
        for name in ("王\x7f", "abc\u202edcba"):
            form = {"occupation": "rider", "name": name, "consent": "yes"}
            answer = client.post("/m/register", data=form)
            assert answer.status_code == 400
            assert "控制符号" in answer.text


def test_deleting_the_account_does_not_buy_a_fresh_guest_pass(tmp_path: Path, clock: Clock) -> None:
    with worker_app(tmp_path, clock) as (client, engine, sender, _issuer):
        walk_in(client, sender)
        with Session(engine) as session:
            first = session.exec(select(Worker)).one().member_id
            until = session.get(Member, first).valid_until  # type: ignore[union-attr]
        clock.now += timedelta(days=3)
        me = client.get("/m/me").text
        client.post("/m/me/delete", data={"csrf": csrf_field(me), "confirm": "yes"})
        with Session(engine) as session:
            assert session.exec(select(SmsSent)).all()  # the limits still see the texts
        clock.now += timedelta(minutes=5)
        walk_in(client, sender)
        with Session(engine) as session:
            worker = session.exec(select(Worker)).one()
            member = session.get(Member, worker.member_id)
            assert worker.member_id == first  # the same pass, continued
            assert member is not None
            assert member.standing == "active"
            assert member.valid_until == until
        # Once a pass has ended, the job forgets which phone held it.
        with Session(engine) as session:
            worker = session.exec(select(Worker)).one()
            accounts.delete_account(session, worker, now=clock.now)
            assert accounts.forget_ended_passes(session, clock.now) == 0
            ended = NOW + timedelta(days=31)
            assert accounts.forget_ended_passes(session, ended) == 1
            assert session.get(Member, first).phone_hash is None  # type: ignore[union-attr]


def test_deletion_withdraws_the_phone_keys_at_every_door(tmp_path: Path, clock: Clock) -> None:
    with worker_app(tmp_path, clock) as (client, engine, sender, issuer):
        walk_in(client, sender)
        with Session(engine) as session:
            worker = session.exec(select(Worker)).one()
            member_id = worker.member_id
            phones.register(
                session, member_id, public_key=_public_key(), label="p", issuer=issuer, now=NOW
            )
        clock.now += timedelta(hours=1)
        me = client.get("/m/me").text
        client.post("/m/me/delete", data={"csrf": csrf_field(me), "confirm": "yes"})
        with Session(engine) as session:
            member = session.get(Member, member_id)
            assert member is not None
            assert member.phone_certs_after is not None
            assert member.phone_certs_after.replace(tzinfo=NOW.tzinfo) > NOW


def test_a_phone_certificate_never_outlives_the_guest_pass(tmp_path: Path, clock: Clock) -> None:
    with worker_app(tmp_path, clock) as (client, engine, sender, issuer):
        walk_in(client, sender)
        with Session(engine) as session:
            member_id = session.exec(select(Worker)).one().member_id
            pass_ends = NOW + timedelta(days=30)
            late = NOW + timedelta(days=27)
            cert = phones.register(
                session, member_id, public_key=_public_key(), label="p", issuer=issuer, now=late
            )
            assert cert.valid_until == pass_ends
            assert cert.valid_until - cert.valid_from == timedelta(days=3)


def test_confirming_a_walk_in_strips_the_guest_record(tmp_path: Path, clock: Clock) -> None:
    with worker_app(tmp_path, clock) as (client, engine, sender, _issuer):
        walk_in(client, sender, name="小张")
        with Session(engine) as session:
            guest = session.exec(select(Worker)).one().member_id
            session.add(
                DeviceEvent(
                    device_id="door-1",
                    seq=1,
                    venue_id="xuhui-riders",
                    type="access.decision",
                    ts=NOW,
                    data={"member": guest, "reason": "accepted"},
                )
            )
            session.commit()
            roster.upsert(
                session=session, entries=[roster.RosterEntry(member_id="M-1")], by="union"
            )
            keys = client.app.state.worker.keys  # type: ignore[attr-defined]
            accounts.confirm(
                session, member_id="M-1", phone_hash=keys.phone_hash(PHONE), by="union", now=NOW
            )
            old = session.get(Member, guest)
            assert old is not None
            assert old.standing == "revoked"
            assert (old.display_name, old.phone_tail, old.phone_hash) == (None, None, None)
            event = session.exec(select(DeviceEvent)).one()
            assert event.data["member"].startswith("p-")


def test_a_guest_cannot_book_where_guests_are_not_admitted(tmp_path: Path, clock: Clock) -> None:
    from cloud.bookings import rooms  # noqa: PLC0415
    from cloud.bookings.rooms import BookingError, RoomIn  # noqa: PLC0415

    with worker_app(tmp_path, clock) as (client, engine, sender, _issuer):
        walk_in(client, sender)
        with Session(engine) as session:
            member_id = session.exec(select(Worker)).one().member_id
            for venue in ("xuhui-riders", "jingan-lib"):  # the library admits no guests
                rooms.put_room(
                    session=session,
                    venue_id=venue,
                    room_id=f"{venue}-room",
                    room_in=RoomIn(
                        door="room-a", name_zh="活动室", name_en="Room", kind="meeting",
                        capacity=4, slot_minutes=60, opens="08:00", closes="20:00",
                        days_ahead=7,
                    ),
                )  # fmt: skip
        page = client.get("/m/book").text
        assert "静安职工书屋" not in page  # not offered to a guest at all
        with Session(engine) as session:
            start = NOW + timedelta(days=1)
            room = session.get(Room, "jingan-lib-room")
            assert room is not None
            with pytest.raises(BookingError) as refused:
                rooms.book(
                    session=session, room=room, member_id=member_id, starts_at=start,
                    ends_at=start + timedelta(hours=1), by="t", now=NOW,
                )  # fmt: skip
            assert refused.value.code == "guests_not_admitted"
            open_room = session.get(Room, "xuhui-riders-room")
            assert open_room is not None
            rooms.book(
                session=session, room=open_room, member_id=member_id, starts_at=start,
                ends_at=start + timedelta(hours=1), by="t", now=NOW,
            )  # fmt: skip
