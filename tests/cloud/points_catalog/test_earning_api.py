"""Manual grants, activity attendance and the earning rules over the API."""

from typing import Any

from sqlmodel import Session, select

from cloud.points.models import Posting
from tests.cloud.auth_world import ALICE, VENUE_A, VENUE_B, World
from tests.cloud.points_catalog.factories import balance

GRANTS = "/api/v1/points/grants"
RULES = "/api/v1/points/earning-rules"


def grant(world: World, **body: Any) -> Any:
    return world.client.post(
        GRANTS, json={"member_id": ALICE, **body}, headers=world.headers("ada")
    )


def attend(world: World, who: str = "mia", activity: str = "yoga-0601", **body: Any) -> Any:
    return world.client.post(
        f"/api/v1/activities/{activity}/attendance",
        json={"member_id": ALICE, "venue_id": VENUE_A, **body},
        headers=world.headers(who),
    )


def postings(world: World, kind: str) -> list[Posting]:
    with Session(world.engine) as session:
        return list(session.exec(select(Posting).where(Posting.kind == kind)).all())


def test_a_manual_grant_needs_a_reason(world: World) -> None:
    missing = grant(world, points=20)
    blank = grant(world, points=20, reason="  ")
    given = grant(world, points=20, reason="helped at the flood relief")

    assert missing.status_code == blank.status_code == 422
    assert "reason" in blank.json()["error"]["message"]
    assert given.status_code == 201, given.text
    assert given.json()["reason"] == "helped at the flood relief"
    assert given.json()["granted_by"] == "ada"
    assert given.json()["balance"] == 20
    assert postings(world, "grant")[0].memo == "helped at the flood relief"


def test_a_grant_with_a_key_is_paid_once(world: World) -> None:
    first = grant(world, points=20, reason="volunteer", key="req-42")
    again = grant(world, points=20, reason="volunteer", key="req-42")
    other_reason = grant(world, points=20, reason="another reason", key="req-42")
    other_points = grant(world, points=30, reason="volunteer", key="req-42")

    assert first.status_code == again.status_code == 201
    assert first.json()["posting_id"] == again.json()["posting_id"]
    assert first.json()["key"] == "req-42"
    assert other_reason.status_code == other_points.status_code == 409
    assert balance(world.engine, ALICE) == 20


def test_a_correction_cannot_take_more_than_the_balance(world: World) -> None:
    grant(world, points=20, reason="volunteer")

    too_much = grant(world, points=-25, reason="granted twice by mistake")
    fine = grant(world, points=-20, reason="granted twice by mistake")

    assert too_much.status_code == 409
    assert too_much.json()["error"]["code"] == "insufficient_points"
    assert fine.json()["balance"] == 0


def test_grants_are_for_known_members_and_admins_only(world: World) -> None:
    unknown = grant(world, member_id="M-NOBODY-9", points=5, reason="typo")
    manager = world.client.post(
        GRANTS,
        json={"member_id": ALICE, "points": 5, "reason": "x" * 5},
        headers=world.headers("mia"),
    )

    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "member_not_found"
    assert manager.status_code == 403


def test_attendance_is_recorded_and_paid_once(world: World) -> None:
    first = attend(world)
    again = attend(world)
    another = attend(world, activity="talk-0602", points=15)

    assert first.status_code == 201, first.text
    assert again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["points"] == 50  # the default activity_points
    assert first.json()["posting_key"] == f"activity:yoga-0601:{ALICE}"
    assert first.json()["recorded_by"] == "mia"
    assert another.json()["points"] == 15
    assert len(postings(world, "activity")) == 2
    assert balance(world.engine, ALICE) == 65


def test_a_manager_records_attendance_only_at_their_venues(world: World) -> None:
    theirs = attend(world, venue_id=VENUE_B)
    technician = attend(world, who="tom")

    assert theirs.status_code == 404
    assert technician.status_code == 403
    assert balance(world.engine, ALICE) == 0


def test_the_earning_rules_are_read_and_replaced_by_an_admin(world: World) -> None:
    defaults = world.client.get(RULES, headers=world.headers("ada"))
    put = world.client.put(
        RULES,
        json={"checkin_points": 5, "activity_points": 30, "expiry_days": 365},
        headers=world.headers("ada"),
    )
    bad = world.client.put(
        RULES, json={"checkin_points": -1, "activity_points": 30}, headers=world.headers("ada")
    )
    manager = world.client.get(RULES, headers=world.headers("mia"))

    assert defaults.json()["checkin_points"] == 10
    assert defaults.json()["expiry_days"] is None
    assert put.status_code == 200
    assert put.json()["expiry_days"] == 365
    assert put.json()["updated_by"] == "ada"
    assert world.client.get(RULES, headers=world.headers("ada")).json() == put.json()
    assert bad.status_code == 422
    assert manager.status_code == 403
    assert attend(world, activity="run-0603").json()["points"] == 30
