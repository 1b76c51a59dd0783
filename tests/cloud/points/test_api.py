"""The points routes: kiosk redemptions and member balances, their roles and error shape."""

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session

from cloud.auth.principal import Role
from cloud.points import redemption
from tests.cloud.auth_world import ALICE, BOB, DEVICE_A, VENUE_A, VENUE_B, World, open_world
from tests.cloud.points.conftest import SLOT, grant, sell

RESERVE = "/api/v1/kiosk/redemptions"


@pytest.fixture
def world(migrated_db_url: str) -> Iterator[World]:
    with open_world(migrated_db_url) as world:
        sell(world.engine, DEVICE_A, venue_id=VENUE_A)
        with Session(world.engine) as session:
            grant(session, ALICE, 10)
        yield world


def reserve(
    world: World, txn: str = "t1", who: str = "legacy", **changes: object
) -> httpx.Response:
    body = {
        "transaction_id": txn,
        "member_id": ALICE,
        "kiosk_id": DEVICE_A,
        "slot": SLOT,
        "price": 10,
    }
    response: httpx.Response = world.client.post(
        RESERVE, json={**body, **changes}, headers=world.headers(who)
    )
    return response


def step(world: World, txn: str, action: str, who: str = "legacy") -> httpx.Response:
    response: httpx.Response = world.client.post(
        f"{RESERVE}/{txn}/{action}", headers=world.headers(who)
    )
    return response


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_reserve_commit_and_read_back(world: World) -> None:
    held = reserve(world)
    assert held.status_code == 200, held.text
    assert held.json()["state"] == "reserved"
    assert held.json()["balance"] == 0
    assert reserve(world).json() == held.json()

    done = step(world, "t1", "commit")
    assert (done.status_code, done.json()["state"]) == (200, "committed")
    read = world.client.get(f"{RESERVE}/t1", headers=world.headers("legacy"))
    assert read.json() == done.json()


def test_cancel_gives_points_back(world: World) -> None:
    reserve(world)

    cancelled = world.client.post(
        f"{RESERVE}/t1/cancel", json={"reason": "jam"}, headers=world.headers("legacy")
    )

    assert (cancelled.json()["state"], cancelled.json()["balance"]) == ("cancelled", 10)
    assert_error(step(world, "t1", "commit"), 409, "invalid_transition")


def test_conflicts_are_409_in_the_one_error_shape(world: World) -> None:
    reserve(world)

    assert_error(reserve(world, price=9), 409, "idempotency_conflict")
    broke = reserve(world, "t2")
    assert_error(broke, 409, "insufficient_points")
    assert broke.json()["error"]["details"][0]["needed"] == 10
    assert_error(step(world, "nope", "commit"), 404, "redemption_not_found")
    assert_error(reserve(world, "t3", price=0), 422, "invalid_request")


def test_late_commit_over_the_api(world: World) -> None:
    reserve(world, ttl_s=10)
    world.clock[0] += timedelta(minutes=1)

    assert redemption.expire_job(world.engine, world.clock[0]) == 1

    done = step(world, "t1", "commit")
    assert (done.json()["state"], done.json()["settlement"]) == ("committed", "late_debit")


def test_kiosk_routes_need_a_service_or_admin(world: World) -> None:
    assert_error(reserve(world, who="nobody"), 401, "unauthorized")
    for who in ("mia", "tom", "mel"):
        assert_error(reserve(world, who=who), 403, "forbidden")
    assert reserve(world, "by-admin", who="ada").status_code == 200


def test_a_venue_scoped_token_cannot_use_another_venues_kiosk(world: World) -> None:
    token = world.api_token(role=Role.SERVICE, venues=[VENUE_B])
    response = world.client.post(
        RESERVE,
        json={
            "transaction_id": "t1",
            "member_id": ALICE,
            "kiosk_id": DEVICE_A,
            "slot": SLOT,
            "price": 1,
        },
        headers={"Authorization": f"Bearer {token}"},
    )

    assert_error(response, 404, "kiosk_not_found")


def test_members_see_their_own_balance_and_statement(world: World) -> None:
    reserve(world)

    own = world.client.get(f"/api/v1/members/{ALICE}/balance", headers=world.headers("mel"))
    other = world.client.get(f"/api/v1/members/{BOB}/balance", headers=world.headers("mel"))
    entries = world.client.get(
        f"/api/v1/members/{ALICE}/entries", params={"limit": 1}, headers=world.headers("mel")
    )

    assert own.json() == {"member_id": ALICE, "balance": 0}
    assert_error(other, 403, "forbidden")
    assert entries.json()["count"] == 2
    assert [e["amount"] for e in entries.json()["data"]] == [-10]
    assert entries.json()["data"][0]["at"].endswith(("Z", "+00:00"))
    for who in ("mia", "tom"):
        refused = world.client.get(f"/api/v1/members/{ALICE}/balance", headers=world.headers(who))
        assert_error(refused, 403, "forbidden")


def test_a_cancel_of_an_unknown_id_refuses_its_late_reserve(world: World) -> None:
    cancelled = world.client.post(
        f"{RESERVE}/late/cancel", json={"reason": "timeout"}, headers=world.headers("legacy")
    )

    assert (cancelled.status_code, cancelled.json()["state"]) == (200, "cancelled")
    assert step(world, "late", "cancel").json()["state"] == "cancelled"
    assert_error(reserve(world, "late"), 409, "invalid_transition")
    assert_error(reserve(world, "t9", price=9), 409, "price_changed")
    assert_error(reserve(world, "t9", slot="7"), 409, "not_on_menu")
