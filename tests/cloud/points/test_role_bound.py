"""Issue 15, findings 2 and 3: points move only for what a box's role really does.

Only a door's own decisions at its venue, dated within its offline window, earn check-in
points; only a kiosk's own token redeems, only as that kiosk, and an item "dispensed"
offline must still be on that kiosk's menu.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.auth.principal import DOOR, KIOSK, SENSOR_HUB
from cloud.devices.models import Device
from cloud.models import DeviceEvent, Venue
from cloud.points import ledger
from cloud.points.earning import (
    DOOR_OFFLINE_WINDOW,
    NOT_A_DOOR,
    OUT_OF_WINDOW,
    award_checkins,
)
from cloud.points.earning_models import JobCursor
from tests.cloud.auth_world import BOB, VENUE_A, VENUE_B, World, open_world
from tests.cloud.points.conftest import SLOT, grant, sell
from tests.cloud.test_device_token_scopes import add_box, auth

VENUE, OTHER_VENUE = "v-points", "v-elsewhere"
RUN_AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MEMBER = "M-ANN-0001"
RESERVE = "/api/v1/kiosk/redemptions"
KIOSK_A, KIOSK_A2, HUB_A = "kiosk-alpha", "kiosk-alpha2", "hub-alpha"

# --- finding 2: the check-in award job ---


@pytest.fixture
def boxes(engine: Engine) -> Engine:
    """Venue v-points with a door, a kiosk and a hub; another venue with its own door."""
    with Session(engine) as session:
        session.add(Venue(id=OTHER_VENUE, name="Elsewhere"))
        session.commit()
        for device_id, venue, role in [
            ("door-1", VENUE, DOOR),
            ("kiosk-1", VENUE, KIOSK),
            ("hub-1", VENUE, SENSOR_HUB),
            ("door-9", OTHER_VENUE, DOOR),
        ]:
            session.add(Device(id=device_id, venue_id=venue, role=role))
        session.commit()
    return engine


def decision(
    engine: Engine,
    device: str,
    seq: int,
    *,
    ts: datetime,
    received_at: datetime = RUN_AT,
    member: str = MEMBER,
) -> None:
    """An accepted access.decision as ``device`` published it for venue v-points."""
    data = {"door": "main", "reason": "accepted", "member": member, "mode": 1}
    with Session(engine) as session:
        session.add(
            DeviceEvent(
                device_id=device,
                seq=seq,
                venue_id=VENUE,
                type="access.decision",
                ts=ts,
                data=data,
                received_at=received_at,
            )
        )
        session.commit()


def balance(engine: Engine, member: str = MEMBER) -> int:
    with Session(engine) as session:
        return ledger.balance(session=session, account=ledger.member_account(member))


def test_a_hub_publishing_thirty_days_of_decisions_earns_nothing(boxes: Engine) -> None:
    for day in range(30):
        decision(boxes, "hub-1", day, ts=RUN_AT - timedelta(days=day, hours=1))

    result = award_checkins(boxes, RUN_AT + timedelta(minutes=1))

    assert (result.awarded, balance(boxes)) == ([], 0)
    assert result.skipped == {NOT_A_DOOR: 30}


def test_only_a_door_of_the_events_venue_earns(boxes: Engine) -> None:
    earlier = RUN_AT - timedelta(hours=1)
    for seq, device in enumerate(["kiosk-1", "door-9", "ghost-7", "door-1"]):
        decision(boxes, device, seq, ts=earlier, member=f"M-{device.upper()}")

    result = award_checkins(boxes, RUN_AT + timedelta(minutes=1))

    assert result.awarded == [f"checkin:{VENUE}:M-DOOR-1:2025-06-01"]
    assert result.skipped == {NOT_A_DOOR: 3}


def test_a_door_earns_only_within_its_offline_window(boxes: Engine) -> None:
    cases = {
        "M-WEEK-OLD": RUN_AT - DOOR_OFFLINE_WINDOW + timedelta(minutes=1),  # paid
        "M-CLOCK-AHEAD": RUN_AT + timedelta(minutes=1),  # a little skew: paid
        "M-YEAR-2020": datetime(2020, 1, 1, tzinfo=UTC),
        "M-YEAR-2100": datetime(2100, 1, 1, tzinfo=UTC),
        "M-EIGHT-DAYS": RUN_AT - timedelta(days=8),
        "M-HOUR-AHEAD": RUN_AT + timedelta(hours=1),
    }
    for seq, (member, ts) in enumerate(cases.items()):
        decision(boxes, "door-1", seq, ts=ts, member=member)

    result = award_checkins(boxes, RUN_AT + timedelta(minutes=1))

    assert sorted(key.split(":")[2] for key in result.awarded) == ["M-CLOCK-AHEAD", "M-WEEK-OLD"]
    assert result.skipped == {OUT_OF_WINDOW: 4}


def test_a_decommissioned_door_earns_only_for_what_came_before(boxes: Engine) -> None:
    gone_at = RUN_AT - timedelta(minutes=30)
    with Session(boxes) as session:
        door = session.get(Device, "door-1")
        assert door is not None
        door.status, door.decommissioned_at = "decommissioned", gone_at
        session.add(door)
        session.commit()
    before, after = gone_at - timedelta(minutes=5), gone_at + timedelta(minutes=5)
    decision(boxes, "door-1", 1, ts=before, received_at=before, member="M-BEFORE")
    decision(boxes, "door-1", 2, ts=after, received_at=after, member="M-AFTER")

    result = award_checkins(boxes, RUN_AT)

    assert result.awarded == [f"checkin:{VENUE}:M-BEFORE:2025-06-01"]
    assert result.skipped == {NOT_A_DOOR: 1}


def test_skipped_decisions_move_the_cursor_and_are_counted_once(boxes: Engine) -> None:
    decision(boxes, "hub-1", 1, ts=RUN_AT - timedelta(hours=1))
    first = award_checkins(boxes, RUN_AT + timedelta(minutes=1))
    # The next run re-reads the overlap: the hub's decision is seen, but not counted again.
    again = award_checkins(boxes, RUN_AT + timedelta(minutes=2))

    assert (first.skipped, again.skipped) == ({NOT_A_DOOR: 1}, {})
    assert again.events_read == 1
    with Session(boxes) as session:
        cursor = session.get(JobCursor, "checkin_awards")
        assert cursor is not None
        assert cursor.position.replace(tzinfo=UTC) == RUN_AT


# --- finding 3: redeeming with a box's token ---


@pytest.fixture
def world(migrated_db_url: str) -> Iterator[World]:
    """Venue A with two kiosks selling slot 1 for 10 points, a sensor hub, and Bob's 300."""
    with open_world(migrated_db_url) as world:
        sell(world.engine, KIOSK_A, KIOSK_A2, venue_id=VENUE_A)
        with Session(world.engine) as session:
            grant(session, BOB, 300)
        yield world


@pytest.fixture
def tokens(world: World) -> dict[str, str]:
    return {device: add_box(world, device, role) for device, role in
            [(KIOSK_A, KIOSK), (KIOSK_A2, KIOSK), (HUB_A, SENSOR_HUB)]}  # fmt: skip


def reserve(world: World, headers: dict[str, str], **changes: object) -> httpx.Response:
    body = {"transaction_id": "t1", "member_id": BOB, "kiosk_id": KIOSK_A, "slot": SLOT}
    response: httpx.Response = world.client.post(
        RESERVE, json={**body, "price": 10, **changes}, headers=headers
    )
    return response


def step(world: World, headers: dict[str, str], action: str, txn: str = "t1") -> httpx.Response:
    if action == "get":
        got: httpx.Response = world.client.get(f"{RESERVE}/{txn}", headers=headers)
        return got
    response: httpx.Response = world.client.post(f"{RESERVE}/{txn}/{action}", headers=headers)
    return response


def bobs_balance(world: World) -> int:
    with Session(world.engine) as session:
        return ledger.balance(session=session, account=ledger.member_account(BOB))


def assert_refused(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    message: str = error["message"]
    return message


def test_a_hubs_token_cannot_spend_a_members_points(world: World, tokens: dict[str, str]) -> None:
    hub = auth(tokens[HUB_A])

    held = reserve(world, hub, kiosk_id=HUB_A, price=100, dispensed=True)

    message = assert_refused(held, 403, "wrong_device")
    assert "sensor-hub 'hub-alpha'" in message
    assert "only a kiosk's token" in message
    assert_refused(step(world, hub, "commit"), 403, "wrong_device")
    assert bobs_balance(world) == 300


def test_a_kiosks_token_redeems_only_as_that_kiosk(world: World, tokens: dict[str, str]) -> None:
    kiosk = auth(tokens[KIOSK_A])

    message = assert_refused(reserve(world, kiosk, kiosk_id=KIOSK_A2), 403, "wrong_kiosk")
    assert f"send kiosk_id {KIOSK_A!r}" in message
    assert reserve(world, kiosk).status_code == 200
    done = step(world, kiosk, "commit")
    assert (done.status_code, done.json()["state"]) == (200, "committed")
    assert bobs_balance(world) == 290


def test_a_kiosk_cannot_touch_another_kiosks_redemption(
    world: World, tokens: dict[str, str]
) -> None:
    assert reserve(world, auth(tokens[KIOSK_A2]), kiosk_id=KIOSK_A2).status_code == 200
    kiosk = auth(tokens[KIOSK_A])

    for action in ("commit", "cancel", "get"):
        assert_refused(step(world, kiosk, action), 403, "wrong_kiosk")

    still = step(world, auth(tokens[KIOSK_A2]), "get")
    assert (still.json()["state"], bobs_balance(world)) == ("reserved", 290)


def test_another_venues_redemption_is_not_found_and_names_no_kiosk(
    world: World, tokens: dict[str, str]
) -> None:
    sell(world.engine, "kiosk-bravo", venue_id=VENUE_B)
    bravo = auth(add_box(world, "kiosk-bravo", KIOSK, venue=VENUE_B))
    assert reserve(world, bravo, kiosk_id="kiosk-bravo").status_code == 200
    kiosk = auth(tokens[KIOSK_A])

    for action in ("commit", "cancel", "get"):
        refused = step(world, kiosk, action)
        assert_refused(refused, 404, "redemption_not_found")
        assert "kiosk-bravo" not in refused.text

    still = step(world, bravo, "get")
    assert (still.json()["state"], bobs_balance(world)) == ("reserved", 290)


def test_a_kiosk_cancels_an_id_it_never_reserved(world: World, tokens: dict[str, str]) -> None:
    # A reserve that timed out is cancelled before the cloud saw it (edge/kiosk/settle.py).
    cancelled = step(world, auth(tokens[KIOSK_A]), "cancel", txn="lost")

    assert (cancelled.status_code, cancelled.json()["state"]) == (200, "cancelled")


def test_an_item_dispensed_offline_must_be_on_the_kiosks_menu(
    world: World, tokens: dict[str, str]
) -> None:
    kiosk = auth(tokens[KIOSK_A])

    off_menu = reserve(world, kiosk, slot="7", dispensed=True)
    overpriced = reserve(world, kiosk, price=100, dispensed=True)

    assert "nothing was charged" in assert_refused(off_menu, 409, "not_on_menu")
    assert "nothing was charged" in assert_refused(overpriced, 409, "price_changed")
    assert bobs_balance(world) == 300
    # The price on the kiosk's cached menu, below today's: paid as the member saw it.
    stale = reserve(world, kiosk, transaction_id="t2", price=9, dispensed=True)
    assert (stale.status_code, stale.json()["balance"]) == (200, 291)
    assert step(world, kiosk, "commit", txn="t2").json()["state"] == "committed"


def test_admins_still_redeem_for_any_kiosk(world: World, tokens: dict[str, str]) -> None:
    ada = world.headers("ada")

    assert reserve(world, ada, kiosk_id=KIOSK_A2).status_code == 200
    assert step(world, ada, "commit").json()["state"] == "committed"
