"""The role matrix: every /api/v1 route, every role, read from the app's own OpenAPI schema.

Routes other features add later are covered without touching this file. Only what the path
cannot tell goes in the small tables below: which routes a member may use, which are admin
only, and example query parameters a route needs before it can answer at all.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from cloud.auth.principal import Role
from tests.cloud.auth_world import (
    ACTIVITY_A,
    ALICE,
    BOB,
    BOOKING_A,
    DEVICE_A,
    DEVICE_B,
    ROOM_A,
    VENUE_A,
    VENUE_B,
    World,
    open_world,
)

LOGIN = ("POST", "/api/v1/auth/token")
ADMIN, MANAGER, TECH, SERVICE = Role.ADMIN, Role.MANAGER, Role.TECHNICIAN, Role.SERVICE
# Who may use a route when it is not the staff default (every role but member).
STAFF = frozenset({ADMIN, MANAGER, TECH, SERVICE})
ROLES_BY_PREFIX: dict[str, frozenset[Role]] = {
    "/api/v1/auth/users": frozenset({ADMIN}),
    "/api/v1/auth/tokens": frozenset({ADMIN}),
    "/api/v1/sync/": frozenset({SERVICE, ADMIN, TECH}),
    # The roster is the union's: admins, and integration tokens with a scope (not in WHO).
    "/api/v1/members": frozenset({ADMIN}),
    # Walk-ins are the roster's too: admins, and integration tokens with a members scope.
    "/api/v1/walkins": frozenset({ADMIN}),
    # Notifications belong to a person: staff only, never a service token.
    "/api/v1/notify/": frozenset({ADMIN, MANAGER, TECH}),
}
ROLES_BY_ROUTE: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", "/api/v1/auth/me"): STAFF | {Role.MEMBER},
    ("GET", "/api/v1/access-events"): STAFF | {Role.MEMBER},
    ("POST", "/api/v1/venues"): frozenset({ADMIN}),
    # A manager changes only their venue's hours (the body decides; the walk sends none).
    ("PATCH", "/api/v1/venues/{venue_id}"): frozenset({ADMIN, MANAGER}),
    ("DELETE", "/api/v1/venues/{venue_id}"): frozenset({ADMIN}),
    ("POST", "/api/v1/venues/{venue_id}/poster/renew"): frozenset({ADMIN}),
    ("PUT", "/api/v1/venues/{venue_id}/occupancy"): frozenset({ADMIN, MANAGER}),
    ("PUT", "/api/v1/venues/{venue_id}/occupancy/settings"): frozenset({ADMIN, MANAGER}),
    ("GET", "/api/v1/alert-rules"): frozenset({ADMIN, MANAGER, TECH}),
    ("PUT", "/api/v1/alert-rules/{rule_id}"): frozenset({ADMIN, MANAGER}),
    ("PUT", "/api/v1/venues/{venue_id}/alert-rules/{kind}"): frozenset({ADMIN, MANAGER}),
    ("DELETE", "/api/v1/venues/{venue_id}/alert-rules/{kind}"): frozenset({ADMIN, MANAGER}),
    ("GET", "/api/v1/venues/{venue_id}/sensor-roles"): frozenset({ADMIN, MANAGER, TECH}),
    ("PUT", "/api/v1/venues/{venue_id}/sensor-roles/{device_id}/{sensor}"): frozenset(
        {ADMIN, MANAGER, TECH}
    ),
    ("DELETE", "/api/v1/venues/{venue_id}/sensor-roles/{device_id}/{sensor}"): frozenset(
        {ADMIN, MANAGER, TECH}
    ),
    ("POST", "/api/v1/alerts/{alert_id}/ack"): frozenset({ADMIN, MANAGER, TECH}),
    # A venue's escalation order: its admins and managers.
    ("GET", "/api/v1/notify/venues/{venue_id}/escalation"): frozenset({ADMIN, MANAGER}),
    ("POST", "/api/v1/alerts/{alert_id}/resolve"): frozenset({ADMIN, MANAGER, TECH}),
    # Points: kiosks (a service token) and admins redeem; a member reads their own balance.
    ("POST", "/api/v1/kiosk/redemptions"): frozenset({ADMIN, SERVICE}),
    ("POST", "/api/v1/kiosk/redemptions/{txn}/commit"): frozenset({ADMIN, SERVICE}),
    ("POST", "/api/v1/kiosk/redemptions/{txn}/cancel"): frozenset({ADMIN, SERVICE}),
    ("GET", "/api/v1/kiosk/redemptions/{txn}"): frozenset({ADMIN, SERVICE}),
    ("GET", "/api/v1/members/{member_id}/balance"): frozenset({ADMIN, SERVICE, Role.MEMBER}),
    ("GET", "/api/v1/members/{member_id}/entries"): frozenset({ADMIN, SERVICE, Role.MEMBER}),
    # Catalog and earning: admins own products, rules and grants; staff keep the slots.
    ("POST", "/api/v1/products"): frozenset({ADMIN}),
    ("PATCH", "/api/v1/products/{product_id}"): frozenset({ADMIN}),
    ("DELETE", "/api/v1/products/{product_id}"): frozenset({ADMIN}),
    ("GET", "/api/v1/kiosks/{kiosk_id}/slots"): frozenset({ADMIN, MANAGER, TECH}),
    ("PUT", "/api/v1/kiosks/{kiosk_id}/slots/{slot}"): frozenset({ADMIN, MANAGER, TECH}),
    ("POST", "/api/v1/kiosks/{kiosk_id}/slots/{slot}/restock"): frozenset({ADMIN, MANAGER, TECH}),
    ("GET", "/api/v1/kiosks/{kiosk_id}/stock-movements"): frozenset({ADMIN, MANAGER, TECH}),
    ("GET", "/api/v1/points/earning-rules"): frozenset({ADMIN}),
    ("PUT", "/api/v1/points/earning-rules"): frozenset({ADMIN}),
    ("POST", "/api/v1/points/grants"): frozenset({ADMIN}),
    ("POST", "/api/v1/activities/{activity_id}/attendance"): frozenset({ADMIN, MANAGER}),
    # Devices: technicians run the fleet; managers claim boxes and send everyday commands
    # for their own venues; admins do everything; a device's own token does none of it.
    ("GET", "/api/v1/devices/pending"): frozenset({ADMIN, TECH}),
    ("POST", "/api/v1/devices/claim"): frozenset({ADMIN, TECH, MANAGER}),
    ("POST", "/api/v1/devices/{device_id}/commands/{name}"): frozenset({ADMIN, TECH, MANAGER}),
    ("GET", "/api/v1/devices/{device_id}/commands"): frozenset({ADMIN, TECH, MANAGER}),
    # A manager pushes only a door's policy (the body decides; the walk sends none).
    ("PUT", "/api/v1/devices/{device_id}/config"): frozenset({ADMIN, TECH, MANAGER}),
    ("POST", "/api/v1/devices/{device_id}/config/check"): frozenset({ADMIN, TECH, MANAGER}),
    ("GET", "/api/v1/devices/{device_id}/config"): frozenset({ADMIN, TECH, MANAGER}),
    ("POST", "/api/v1/devices/{device_id}/decommission"): frozenset({ADMIN, TECH}),
    ("GET", "/api/v1/devices/{device_id}/diagnostics"): frozenset({ADMIN, TECH}),
    ("GET", "/api/v1/members/{member_id}/bookings"): frozenset({ADMIN, Role.MEMBER}),
    # Rooms and activities: a venue's admin and managers run them, members use them.
    ("GET", "/api/v1/venues/{venue_id}/rooms"): frozenset({ADMIN, MANAGER, Role.MEMBER}),
    ("PUT", "/api/v1/venues/{venue_id}/rooms/{room_id}"): frozenset({ADMIN, MANAGER}),
    ("GET", "/api/v1/rooms/{room_id}/slots"): frozenset({ADMIN, MANAGER, Role.MEMBER}),
    ("POST", "/api/v1/rooms/{room_id}/bookings"): frozenset({ADMIN, MANAGER, Role.MEMBER}),
    ("POST", "/api/v1/bookings/{booking_id}/cancel"): frozenset({ADMIN, MANAGER, Role.MEMBER}),
    ("GET", "/api/v1/venues/{venue_id}/bookings"): frozenset({ADMIN, MANAGER}),
    ("POST", "/api/v1/venues/{venue_id}/activities"): frozenset({ADMIN, MANAGER}),
    ("GET", "/api/v1/venues/{venue_id}/activities"): frozenset({ADMIN, MANAGER, Role.MEMBER}),
    ("GET", "/api/v1/activities/{activity_id}/roll"): frozenset({ADMIN, MANAGER}),
    ("POST", "/api/v1/activities/{activity_id}/cancel"): frozenset({ADMIN, MANAGER}),
    ("POST", "/api/v1/activities/{activity_id}/signups"): frozenset({ADMIN, MANAGER, Role.MEMBER}),
    ("DELETE", "/api/v1/activities/{activity_id}/signups/{member_id}"): frozenset(
        {ADMIN, MANAGER, Role.MEMBER}
    ),
    ("GET", "/api/v1/issuer-keys"): frozenset({ADMIN, TECH}),
    ("POST", "/api/v1/issuer-keys"): frozenset({ADMIN}),
    ("POST", "/api/v1/issuer-keys/{kid}/retire"): frozenset({ADMIN}),
    # Releases: staff and boxes read them; technicians upload wheels, admins publish; managers
    # see versions and rollouts but neither start nor stop one.
    ("PUT", "/api/v1/releases/blobs/{sha256}"): frozenset({ADMIN, TECH}),
    ("POST", "/api/v1/releases"): frozenset({ADMIN}),
    ("POST", "/api/v1/releases/key-rotations"): frozenset({ADMIN}),
    ("GET", "/api/v1/releases/devices"): frozenset({ADMIN, MANAGER, TECH}),
    ("POST", "/api/v1/rollouts"): frozenset({ADMIN, TECH}),
    ("GET", "/api/v1/rollouts"): frozenset({ADMIN, MANAGER, TECH}),
    ("GET", "/api/v1/rollouts/{rollout_id}"): frozenset({ADMIN, MANAGER, TECH}),
    ("POST", "/api/v1/rollouts/{rollout_id}/{action}"): frozenset({ADMIN, TECH}),
    # Reports and exports are for all staff (the default); e-mailed report subscriptions
    # belong to a person, so not to a service token.
    ("GET", "/api/v1/reports/subscriptions"): frozenset({ADMIN, MANAGER, TECH}),
    ("POST", "/api/v1/reports/subscriptions"): frozenset({ADMIN, MANAGER, TECH}),
    ("DELETE", "/api/v1/reports/subscriptions/{subscription_id}"): frozenset(
        {ADMIN, MANAGER, TECH}
    ),
}
# Query parameters a route refuses to answer without (else 422 hides the real status).
QUERY_EXAMPLES: dict[str, dict[str, str]] = {
    "/api/v1/venues/{venue_id}/telemetry": {"metric": "temperature_c"},
    "/api/v1/sync/members/delta": {"from_version": "0"},
    "/api/v1/rooms/{room_id}/slots": {"day": "2025-06-01"},
}
# Routes a member calls with a body of their own: the walk sends none, so the answer is the
# body's 422, never 403.
MEMBER_WRITES = frozenset(
    {
        ("POST", "/api/v1/rooms/{room_id}/bookings"),
        ("POST", "/api/v1/activities/{activity_id}/signups"),
    }
)
# What a manager of venue A must never find in any answer.
SECRETS_OF_B = (VENUE_B, DEVICE_B, ALICE, BOB)
WHO = {"mia": MANAGER, "tom": TECH, "legacy": SERVICE}


@dataclass(frozen=True)
class Route:
    method: str
    path: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    def url(self, **values: str) -> str:
        return re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), "unknown-id"), self.path)

    def roles(self) -> frozenset[Role]:
        if self.key in ROLES_BY_ROUTE:
            return ROLES_BY_ROUTE[self.key]
        for prefix, roles in ROLES_BY_PREFIX.items():
            if self.path.startswith(prefix):
                return roles
        return STAFF


def api_routes(world: World) -> list[Route]:
    paths = world.client.get("/openapi.json").json()["paths"]
    routes = [
        Route(method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/v1/")
        for method in operations
    ]
    return [r for r in routes if r.key != LOGIN]


def call(world: World, who: str, route: Route, **values: str) -> httpx.Response:
    response: httpx.Response = world.client.request(
        route.method,
        route.url(**values),
        params=QUERY_EXAMPLES.get(route.path, {}),
        headers=world.headers(who),
    )
    return response


def ids_of_a(world: World) -> dict[str, str]:
    return {
        "venue_id": VENUE_A,
        "device_id": DEVICE_A,
        "user_id": str(world.user_ids["mia"]),
        "member_id": ALICE,  # the member mel is: /members/{member_id} routes answer her
        "room_id": ROOM_A,
        "booking_id": BOOKING_A,
        "activity_id": ACTIVITY_A,
    }


def ids_of_b() -> dict[str, str]:
    return {"venue_id": VENUE_B, "device_id": DEVICE_B}


@pytest.fixture
def world(migrated_db_url: str) -> Iterator[World]:
    with open_world(migrated_db_url) as world:
        yield world


def test_the_matrix_sees_the_known_routes(world: World) -> None:
    keys = {r.key for r in api_routes(world)}

    assert {
        ("GET", "/api/v1/venues"),
        ("GET", "/api/v1/devices/{device_id}"),
        ("GET", "/api/v1/access-events"),
        ("GET", "/api/v1/sync/keys"),
        ("POST", "/api/v1/auth/users"),
    } <= keys


def test_no_credentials_is_401_everywhere(world: World) -> None:
    wrong = {
        f"{r.method} {r.path}: {status}"
        for r in api_routes(world)
        if (status := call(world, "nobody", r, **ids_of_a(world)).status_code) != 401
    }

    assert wrong == set()


def test_a_member_is_403_except_on_their_own_data(world: World) -> None:
    wrong = []
    for route in api_routes(world):
        response = call(world, "mel", route, **ids_of_a(world))
        if route.key in MEMBER_WRITES:
            if response.status_code != 422:
                wrong.append(f"{route.key}: {response.status_code}, expected the body's 422")
        elif Role.MEMBER in route.roles():
            if response.status_code != 200 or BOB in response.text:
                wrong.append(f"{route.key}: {response.status_code} {response.text[:200]}")
        elif response.status_code != 403:
            wrong.append(f"{route.key}: {response.status_code}, expected 403")

    assert wrong == [], "\n".join(wrong)


def test_a_manager_never_reaches_another_venue(world: World) -> None:
    wrong = []
    for route in api_routes(world):
        if MANAGER not in route.roles():
            continue  # 403 whatever the venue: see test_each_role_gets_403_off_its_routes
        if {"venue_id", "device_id"} & set(route.params):
            theirs = call(world, "mia", route, **ids_of_b())
            # Venue B must look like no venue at all: 404 (or 403), or at least the very
            # answer a venue that does not exist gets (a 422 for a missing body, say).
            missing = call(world, "mia", route, venue_id="no-such-venue", device_id="no-such")
            hidden = theirs.status_code in (403, 404) or (
                theirs.status_code == missing.status_code and theirs.text == missing.text
            )
            if not hidden:
                wrong.append(
                    f"{route.key} on venue B: {theirs.status_code}; scope it with "
                    "cloud.api.auth_deps.ScopedVenue, or add the query it needs to QUERY_EXAMPLES"
                )
        response = call(world, "mia", route, **ids_of_a(world))
        leaked = [s for s in SECRETS_OF_B if s in response.text]
        if response.status_code in (401, 403) or response.status_code >= 500 or leaked:
            wrong.append(f"{route.key} on venue A: {response.status_code}, leaks {leaked}")

    assert wrong == [], "\n".join(wrong)


def test_a_manager_lists_only_their_venues(world: World) -> None:
    body = world.client.get("/api/v1/venues", headers=world.headers("mia")).json()

    assert [v["id"] for v in body["data"]] == [VENUE_A]
    assert body["count"] == 1


@pytest.mark.parametrize("who", sorted(WHO))
def test_each_role_gets_403_off_its_routes(world: World, who: str) -> None:
    wrong = []
    for route in api_routes(world):
        status = call(world, who, route, **ids_of_a(world)).status_code
        allowed = WHO[who] in route.roles()
        if status == 401 or (status == 403) == allowed:
            wrong.append(f"{route.key}: {status}, expected {'not ' if allowed else ''}403")

    assert wrong == [], "\n".join(wrong)


def test_an_admin_is_never_refused(world: World) -> None:
    wrong = []
    for route in api_routes(world):
        # Deletes aim at ids that do not exist, so the walk does not remove its own world.
        ids = {} if route.method == "DELETE" else ids_of_a(world)
        status = call(world, "ada", route, **ids).status_code
        if status in (401, 403) or status >= 500:
            wrong.append(f"{route.key}: {status}")

    assert wrong == [], "\n".join(wrong)


def test_a_scoped_api_token_is_scoped_like_a_manager(world: World) -> None:
    token = world.api_token(venues=[VENUE_A])
    headers = {"Authorization": f"Bearer {token}"}

    venues = world.client.get("/api/v1/venues", headers=headers).json()
    other = world.client.get(f"/api/v1/venues/{VENUE_B}", headers=headers)
    bookings = world.client.get(f"/api/v1/sync/venues/{VENUE_B}/bookings", headers=headers)

    assert [v["id"] for v in venues["data"]] == [VENUE_A]
    assert other.status_code == 404
    assert bookings.status_code == 404


def test_another_managers_venue_looks_like_no_venue(world: World) -> None:
    theirs = world.client.get(f"/api/v1/venues/{VENUE_B}", headers=world.headers("mia"))
    missing = world.client.get("/api/v1/venues/no-such-venue", headers=world.headers("mia"))

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["code"] == missing.json()["error"]["code"]
