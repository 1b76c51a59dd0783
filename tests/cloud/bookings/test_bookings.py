"""Rooms, bookings and activities through the API, on SQLite and PostgreSQL: who may, the
refusals with their reasons, a slot's last place under concurrency, and attendance paid once
from the door's scans."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from cloud.access import store as access_store
from cloud.access.models import Booking
from cloud.auth.principal import Scope
from cloud.bookings import activities, rooms
from cloud.bookings.models import Activity, Room
from cloud.devices.models import Device
from cloud.models import DeviceEvent
from cloud.points.statement import member_balance
from protocol.sync import BookingSet
from tests.cloud.members.world import NOW, Cloud

# NOW is 2026-12-06 02:00 UTC, 10:00 in Shanghai: the day's 14:00 slot is 06:00 UTC.
SLOT = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
COURT = {"door": "court-1", "name_zh": "羽毛球场", "name_en": "Badminton court", "kind": "court"}


def setup_venue(cloud: Cloud, *, capacity: int = 1) -> dict[str, str]:
    """Room, door and members; returns the admin's headers."""
    admin = cloud.person("ada")
    room = COURT | {"capacity": capacity}
    answer = cloud.http.put("/api/v1/venues/v1/rooms/court-1", json=room, headers=admin)
    assert answer.status_code == 200, answer.text
    batch = [{"member_id": f"m-{i}", "groups": ["rider"]} for i in range(1, 9)]
    batch.append({"member_id": "m-out", "standing": "suspended"})
    cloud.http.post("/api/v1/members/batch", json={"members": batch}, headers=admin)
    with Session(cloud.engine) as session:
        session.add(Device(id="door-1", venue_id="v1", role="door", online=True))
        session.commit()
    return admin


def booking(
    member: str, start: datetime = SLOT, hours: int = 1, **extra: object
) -> dict[str, object]:
    return {
        "member_id": member,
        "starts_at": start.isoformat(),
        "ends_at": (start + hours * HOUR).isoformat(),
    } | extra


def test_a_member_books_their_own_slot_and_the_door_gets_it(cloud: Cloud) -> None:
    setup_venue(cloud)
    mel = cloud.person("mel")  # member m-1
    slots = cloud.http.get("/api/v1/rooms/court-1/slots?day=2026-12-06", headers=mel).json()
    assert len(slots) == 14  # 08:00-22:00 in hours
    assert slots[6]["starts_at"] == SLOT.isoformat()
    made = cloud.http.post("/api/v1/rooms/court-1/bookings", json=booking("m-1"), headers=mel)
    assert made.status_code == 201, made.text
    assert made.json()["door"] == "court-1"
    for_another = cloud.http.post(
        "/api/v1/rooms/court-1/bookings", json=booking("m-2", SLOT + HOUR), headers=mel
    )
    assert for_another.status_code == 403
    with Session(cloud.engine) as session:
        synced = access_store.bookings(
            session=session, venue_id="v1", from_version=0, limit=100, now=NOW
        )
    assert isinstance(synced, BookingSet)
    assert [(b.member_id, b.door_id, b.start) for b in synced.bookings] == [
        ("m-1", "court-1", SLOT)
    ]
    after = cloud.http.get("/api/v1/rooms/court-1/slots?day=2026-12-06", headers=mel).json()
    assert (after[6]["booked"], after[6]["free"]) == (1, 0)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (booking("m-2", SLOT + timedelta(minutes=30)), "not_a_slot"),
        (booking("m-2", datetime(2026, 12, 6, 14, 0, tzinfo=UTC)), "closed"),  # 22:00 local
        (booking("m-2", datetime(2026, 12, 6, 0, 0, tzinfo=UTC)), "in_the_past"),  # 08:00 local
        (booking("m-2", SLOT + timedelta(days=30)), "too_far_ahead"),
        (booking("m-2", hours=5), "too_long"),
        (booking("m-out"), "member_revoked"),
        (booking("nobody"), "member_unknown"),
    ],
)
def test_a_booking_is_refused_with_a_reason(
    cloud: Cloud, body: dict[str, object], code: str
) -> None:
    admin = setup_venue(cloud)
    refused = cloud.http.post("/api/v1/rooms/court-1/bookings", json=body, headers=admin)
    assert refused.status_code in (409, 422), refused.text
    assert refused.json()["error"]["code"] == code


def test_full_slots_overlaps_retries_and_cancelling(cloud: Cloud) -> None:
    admin = setup_venue(cloud, capacity=2)

    def post(body: dict[str, object]) -> httpx.Response:
        answer: httpx.Response = cloud.http.post(
            "/api/v1/rooms/court-1/bookings", json=body, headers=admin
        )
        return answer

    first = post(booking("m-1", booking_id="qlgh-77"))
    assert first.status_code == 201
    assert post(booking("m-1", booking_id="qlgh-77")).json()["id"] == "qlgh-77"  # a retry
    assert post(booking("m-1", SLOT - HOUR, hours=2)).json()["error"]["code"] == "booking_conflict"
    assert post(booking("m-2")).status_code == 201
    assert post(booking("m-3")).json()["error"]["code"] == "slot_full"
    mel = cloud.person("mel")
    cancelled = cloud.http.post("/api/v1/bookings/qlgh-77/cancel", headers=mel)
    assert cancelled.json()["cancelled"] is True
    assert post(booking("m-3")).status_code == 201  # the place came free
    other = cloud.http.post(
        f"/api/v1/bookings/{post(booking('m-4', SLOT + HOUR)).json()['id']}/cancel", headers=mel
    )
    assert other.status_code == 404  # not mel's booking: not even its existence


def test_the_last_place_goes_to_exactly_one_of_many_at_once(cloud: Cloud) -> None:
    setup_venue(cloud, capacity=1)
    start = threading.Barrier(8)
    won: list[str] = []
    lost: list[str] = []

    def try_to_book(member: str) -> None:
        with Session(cloud.engine) as session:
            room = session.get(Room, "court-1")
            assert room is not None
            start.wait()
            try:
                rooms.book(
                    session=session, room=room, member_id=member, starts_at=SLOT,
                    ends_at=SLOT + HOUR, by="test", now=NOW,
                )  # fmt: skip
                won.append(member)
            except rooms.BookingError as exc:
                lost.append(exc.code)

    threads = [threading.Thread(target=try_to_book, args=(f"m-{i}",)) for i in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(won) == 1
    assert lost == ["slot_full"] * 7
    with Session(cloud.engine) as session:
        assert (
            len(rooms.bookings_between(session=session, venue_id="v1", start=SLOT, end=SLOT + HOUR))
            == 1
        )


def test_who_may_set_up_rooms_and_book(cloud: Cloud) -> None:
    setup_venue(cloud)
    mia = cloud.person("mia")  # manager of v1
    assert (
        cloud.http.put(
            "/api/v1/venues/v1/rooms/meet", json=COURT | {"door": "meet"}, headers=mia
        ).status_code
        == 200
    )
    tom = cloud.person("tom")
    assert cloud.http.put("/api/v1/venues/v1/rooms/x", json=COURT, headers=tom).status_code == 403
    platform = cloud.token(Scope.BOOKINGS_WRITE)
    assert (
        cloud.http.post(
            "/api/v1/rooms/court-1/bookings", json=booking("m-2"), headers=platform
        ).status_code
        == 201
    )
    no_scope = cloud.token(Scope.MEMBERS_READ)
    assert (
        cloud.http.post(
            "/api/v1/rooms/court-1/bookings", json=booking("m-3", SLOT + HOUR), headers=no_scope
        ).status_code
        == 403
    )
    listed = cloud.http.get("/api/v1/venues/v1/bookings", headers=mia).json()
    assert [b["member_id"].startswith("p-") for b in listed] == [True]  # a pseudonym for a manager
    csv_file = cloud.http.get("/api/v1/venues/v1/bookings?format=csv", headers=cloud.person("ada"))
    assert csv_file.content.decode("utf-8-sig").splitlines()[1].split(",")[2] == "m-2"


def scan(
    cloud: Cloud, member: str, at: datetime, seq: int, *, device: str = "door-1", venue: str = "v1"
) -> None:
    with Session(cloud.engine) as session:
        data = {"door": "main", "reason": "accepted", "detail": "ok", "member": member, "mode": 1}
        session.add(
            DeviceEvent(
                device_id=device,
                seq=seq,
                venue_id=venue,
                type="access.decision",
                ts=at,
                data=data,
                received_at=at,
            )
        )
        session.commit()


def test_attendance_comes_from_the_door_and_pays_once(cloud: Cloud) -> None:
    admin = setup_venue(cloud)
    mia = cloud.person("mia")
    body = {
        "title": "急救培训 First aid",
        "starts_at": SLOT.isoformat(),
        "ends_at": (SLOT + 2 * HOUR).isoformat(),
        "capacity": 2,
        "points": 30,
    }
    made = cloud.http.post("/api/v1/venues/v1/activities", json=body, headers=mia)
    assert made.status_code == 201, made.text
    activity_id = made.json()["id"]
    signups = f"/api/v1/activities/{activity_id}/signups"
    assert (
        cloud.http.post(signups, json={"member_id": "m-1"}, headers=cloud.person("mel")).status_code
        == 201
    )
    assert cloud.http.post(signups, json={"member_id": "m-2"}, headers=admin).status_code == 201
    full = cloud.http.post(signups, json={"member_id": "m-3"}, headers=admin)
    assert full.json()["error"]["code"] == "activity_full"

    scan(cloud, "m-1", SLOT - timedelta(minutes=10), 1)  # early, within the half hour
    scan(cloud, "m-1", SLOT + HOUR, 2)  # again: paid once
    scan(cloud, "m-3", SLOT, 3)  # not signed up
    with Session(cloud.engine) as session:
        session.add(Device(id="door-9", venue_id="v1", role="kiosk"))
        session.commit()
    scan(cloud, "m-2", SLOT, 4, device="door-9")  # not a door
    for _ in range(2):
        activities.record_door_attendance(cloud.engine, SLOT + 3 * HOUR)
    with Session(cloud.engine) as session:
        assert member_balance(session=session, member_id="m-1").balance == 30
        assert member_balance(session=session, member_id="m-2").balance == 0
    cloud.clock[0] = SLOT + 3 * HOUR
    admin, mia = cloud.person("ada"), cloud.person("mia")  # sign-ins from before have lapsed
    roll = cloud.http.get(f"/api/v1/activities/{activity_id}/roll", headers=admin).json()
    assert roll == {"signed_up": ["m-1", "m-2"], "attended": ["m-1"], "no_shows": ["m-2"]}
    as_manager = cloud.http.get(f"/api/v1/activities/{activity_id}/roll", headers=mia).json()
    assert all(m.startswith("p-") for m in as_manager["signed_up"])


def test_sign_ups_of_many_at_once_never_pass_the_capacity(cloud: Cloud) -> None:
    setup_venue(cloud)
    with Session(cloud.engine) as session:
        night = activities.ActivityIn(
            title="电影之夜", starts_at=SLOT, ends_at=SLOT + HOUR, capacity=3
        )
        activity = activities.create(
            session=session, venue_id="v1", activity_in=night, by="test", now=NOW
        )
        activity_id = activity.id
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def try_to_sign_up(member: str) -> None:
        with Session(cloud.engine) as session:
            row = session.get(Activity, activity_id)
            assert row is not None
            start.wait()
            try:
                activities.sign_up(session=session, activity=row, member_id=member, by="t", now=NOW)
                outcomes.append("in")
            except rooms.BookingError as exc:
                outcomes.append(exc.code)

    threads = [threading.Thread(target=try_to_sign_up, args=(f"m-{i}",)) for i in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["activity_full"] * 5 + ["in"] * 3


def test_bookings_stay_bookings_after_a_room_change(tmp_path: Path, cloud: Cloud) -> None:
    admin = setup_venue(cloud)
    cloud.http.post("/api/v1/rooms/court-1/bookings", json=booking("m-1"), headers=admin)
    closed = cloud.http.put(
        "/api/v1/venues/v1/rooms/court-1", json=COURT | {"active": False}, headers=admin
    )
    assert closed.json()["active"] is False
    assert (
        cloud.http.post(
            "/api/v1/rooms/court-1/bookings", json=booking("m-2"), headers=admin
        ).json()["error"]["code"]
        == "room_closed"
    )
    with Session(cloud.engine) as session:
        assert (
            session.get(
                Booking, cloud.http.get("/api/v1/venues/v1/bookings", headers=admin).json()[0]["id"]
            )
            is not None
        )


def test_a_room_open_until_midnight_has_its_last_slot(cloud: Cloud) -> None:
    admin = setup_venue(cloud)
    nursing: dict[str, object] = {"door": "nursing", "name_zh": "母婴室", "name_en": "Nursing room"}
    nursing |= {"kind": "nursing", "opens": "00:00", "closes": "24:00", "slot_minutes": 30}
    answer = cloud.http.put("/api/v1/venues/v1/rooms/nursing", json=nursing, headers=admin)
    assert answer.status_code == 200, answer.text
    slots = cloud.http.get("/api/v1/rooms/nursing/slots?day=2026-12-06", headers=admin).json()
    assert len(slots) == 48
    assert slots[-1]["ends_at"] == "2026-12-06T16:00:00+00:00"  # midnight in Shanghai
    late = datetime(2026, 12, 6, 15, 30, tzinfo=UTC)  # 23:30 local
    made = cloud.http.post(
        "/api/v1/rooms/nursing/bookings", json=booking("m-1", late, hours=0) | {
            "ends_at": (late + timedelta(minutes=30)).isoformat()
        }, headers=admin,
    )  # fmt: skip
    assert made.status_code == 201, made.text


def test_a_manager_does_not_learn_who_booked(cloud: Cloud) -> None:
    setup_venue(cloud)
    mel = cloud.person("mel")
    cloud.http.post("/api/v1/rooms/court-1/bookings", json=booking("m-1"), headers=mel)
    (seen,) = cloud.http.get("/api/v1/venues/v1/bookings", headers=cloud.person("mia")).json()
    assert seen["booked_by"] is None
    assert "mel" not in str(seen)
    (as_admin,) = cloud.http.get("/api/v1/venues/v1/bookings", headers=cloud.person("ada")).json()
    assert as_admin["booked_by"] == "mel"
