"""Logging in, JWTs, API tokens, users, venue writes, pseudonyms and CSV, on a real database."""

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from pydantic import SecretStr, ValidationError
from sqlmodel import Session, select

from cloud.auth import store
from cloud.auth.cli import AddUserError, add_user
from cloud.auth.models import ApiToken, ApiTokenCreate, User
from cloud.auth.passwords import PRODUCTION_COST, password_cost
from cloud.auth.principal import Role
from cloud.auth.pseudonym import pseudonymize
from cloud.auth.settings import AuthSettings
from cloud.settings import CloudSettings, ProcessRole
from tests.cloud.auth_world import (
    ALICE,
    BOB,
    DEVICE_A,
    JWT_SECRET,
    LEGACY_TOKEN,
    NOW,
    PASSWORD,
    VENUE_A,
    VENUE_B,
    World,
    open_world,
)

ME = "/api/v1/auth/me"
EVENTS = "/api/v1/access-events"


@pytest.fixture
def world(migrated_db_url: str) -> Iterator[World]:
    with open_world(migrated_db_url) as world:
        yield world


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    error: dict[str, Any] = body["error"]
    return error


# --- login and JWTs ----------------------------------------------------------------------


@pytest.mark.usefixtures("production_password_cost")
def test_login_gives_a_jwt_that_opens_the_api(world: World) -> None:
    response = world.client.post(
        "/api/v1/auth/token", data={"username": "mia", "password": PASSWORD}
    )

    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    claims = jwt.decode(
        body["access_token"], JWT_SECRET, algorithms=["HS256"], options={"verify_exp": False}
    )
    assert (claims["sub"], claims["role"], claims["venues"]) == ("mia", "manager", [VENUE_A])
    me = world.client.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {
        "subject": "mia",
        "role": "manager",
        "venue_ids": [VENUE_A],
        "member_id": None,
    }


@pytest.mark.usefixtures("production_password_cost")
def test_wrong_password_and_unknown_user_get_the_same_401(world: World) -> None:
    wrong = world.client.post("/api/v1/auth/token", data={"username": "mia", "password": "no"})
    unknown = world.client.post(
        "/api/v1/auth/token", data={"username": "nobody", "password": PASSWORD}
    )

    assert error_of(wrong, 401) == error_of(unknown, 401)
    assert wrong.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.usefixtures("production_password_cost")
def test_a_disabled_account_cannot_log_in_and_its_tokens_stop(world: World) -> None:
    headers = world.headers("mia")
    with Session(world.engine) as session:
        user = store.get_user_by_username(session=session, username="mia")
        assert user is not None
        user.disabled = True
        session.add(user)
        session.commit()

    assert world.client.get(ME, headers=headers).status_code == 401
    login = world.client.post("/api/v1/auth/token", data={"username": "mia", "password": PASSWORD})
    assert login.status_code == 401


def test_an_expired_jwt_is_401(world: World) -> None:
    headers = world.headers("ada")
    world.clock[0] = NOW + timedelta(minutes=31)

    error = error_of(world.client.get(ME, headers=headers), 401)

    assert "expired" in error["message"]


def test_a_jwt_is_judged_by_the_clouds_clock_not_the_wall_clock(world: World) -> None:
    """A clock ahead of the wall (a test's, a replica's) still takes its own fresh tokens."""
    world.clock[0] = datetime.now(UTC) + timedelta(days=400)
    assert world.client.get(ME, headers=world.headers("ada")).status_code == 200
    claims: dict[str, Any] = {"iss": "yizhan-cloud", "sub": "ada", "role": "admin"}
    ahead = world.clock[0] + timedelta(minutes=10)  # minted ten minutes in the future
    claims |= {"venues": None, "iat": ahead, "exp": ahead + timedelta(minutes=5)}
    early = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    error = error_of(world.client.get(ME, headers={"Authorization": f"Bearer {early}"}), 401)
    assert "future" in error["message"]


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize(
    ("key", "algorithm"),
    [("an attacker's own secret of 32 chars!", "HS256"), (JWT_SECRET, "HS512")],
)
def test_a_forged_jwt_is_401(world: World, key: str, algorithm: str) -> None:
    claims: dict[str, Any] = {"iss": "yizhan-cloud", "sub": "ada", "role": "admin"}
    claims |= {"venues": None, "iat": NOW, "exp": NOW + timedelta(minutes=5)}
    forged = jwt.encode(claims, key, algorithm=algorithm)

    assert world.client.get(ME, headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_an_unsigned_jwt_is_401(world: World) -> None:
    claims: dict[str, Any] = {"iss": "yizhan-cloud", "sub": "ada", "role": "admin"}
    claims |= {"iat": NOW, "exp": NOW + timedelta(minutes=5)}
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]

    assert world.client.get(ME, headers={"Authorization": f"Bearer {unsigned}"}).status_code == 401


@pytest.mark.usefixtures("production_password_cost")
def test_passwords_are_stored_as_argon2id(world: World) -> None:
    with Session(world.engine) as session:
        hashes = [u.password_hash for u in session.exec(select(User))]

    assert hashes
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)
    assert all("$m=65536,t=3,p=4$" in h for h in hashes)  # RFC 9106's second profile


def test_a_hash_made_at_another_cost_is_upgraded_at_login(world: World) -> None:
    with Session(world.engine) as session:
        cheap = session.exec(select(User).where(User.username == "mia")).one().password_hash
    assert "$m=8,t=1,p=1$" in cheap  # the suite seeds at the test-only cost

    with password_cost(PRODUCTION_COST):
        assert world.login("mia")

    with Session(world.engine) as session:
        upgraded = session.exec(select(User).where(User.username == "mia")).one().password_hash
    assert "$m=65536,t=3,p=4$" in upgraded
    assert world.login("mia")  # and the upgraded hash still lets her in


# --- API tokens ----------------------------------------------------------------------------


def test_an_api_token_works_until_revoked(world: World) -> None:
    created = world.client.post(
        "/api/v1/auth/tokens",
        json={"name": "door box A", "role": "service", "venue_ids": [VENUE_A]},
        headers=world.headers("ada"),
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}

    assert world.client.get(ME, headers=bearer).json()["venue_ids"] == [VENUE_A]
    listed = world.client.get("/api/v1/auth/tokens", headers=world.headers("ada")).json()
    assert "token" not in listed["data"][0]
    assert token not in str(listed)

    token_id = created.json()["id"]
    revoked = world.client.delete(f"/api/v1/auth/tokens/{token_id}", headers=world.headers("ada"))
    assert revoked.json()["revoked_at"] is not None
    assert world.client.get(ME, headers=bearer).status_code == 401


def test_only_a_hash_of_the_token_is_stored(world: World) -> None:
    secret = world.api_token()

    with Session(world.engine) as session:
        row = session.exec(select(ApiToken)).one()
    assert secret.split(".", 1)[1] not in row.model_dump_json()


def test_an_expired_or_mangled_api_token_is_401(world: World) -> None:
    with Session(world.engine) as session:
        _, secret = store.create_api_token(
            session=session,
            token_in=ApiTokenCreate(name="short", expires_at=NOW + timedelta(minutes=1)),
            created_by="ada",
        )
    assert world.client.get(ME, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    mangled = secret[:-2] + ("AA" if not secret.endswith("AA") else "BB")
    assert world.client.get(ME, headers={"Authorization": f"Bearer {mangled}"}).status_code == 401

    world.clock[0] = NOW + timedelta(minutes=2)
    assert world.client.get(ME, headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_the_legacy_token_is_a_service_principal(world: World) -> None:
    me = world.client.get(ME, headers={"Authorization": f"Bearer {LEGACY_TOKEN}"}).json()

    assert me == {
        "subject": "token:legacy",
        "role": "service",
        "venue_ids": None,
        "member_id": None,
    }


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret", [None, "changeme", "secret" * 6, "x" * 40, "my-jwt-secret-my-jwt-secret-1234"]
)
def test_production_refuses_a_missing_or_default_jwt_secret(secret: str | None) -> None:
    auth = AuthSettings(jwt_secret=None if secret is None else SecretStr(secret))

    with pytest.raises(ValidationError, match="YZ_CLOUD_AUTH__JWT_SECRET"):
        CloudSettings(mode="production", auth=auth)


def test_production_refuses_a_weak_pseudonym_key() -> None:
    auth = AuthSettings(jwt_secret=SecretStr(JWT_SECRET), pseudonym_key=SecretStr("changeme"))

    with pytest.raises(ValidationError, match="YZ_CLOUD_AUTH__PSEUDONYM_KEY"):
        CloudSettings(mode="production", auth=auth)


def test_production_takes_the_jwt_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("YZ_CLOUD_MODE", "production")
    monkeypatch.setenv("YZ_CLOUD_AUTH__JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv("YZ_CLOUD_BROKER__SECURITY", "dynsec")
    monkeypatch.setenv("YZ_CLOUD_BROKER__CONTROL_PASSWORD", LEGACY_TOKEN)

    settings = CloudSettings()

    assert settings.auth.jwt_secret is not None
    assert settings.auth.jwt_secret.get_secret_value() == JWT_SECRET
    assert settings.broker.security == "dynsec"


@pytest.mark.parametrize("role", ["ingest", "database"])
def test_processes_that_sign_no_one_in_need_no_jwt_secret(role: ProcessRole) -> None:
    settings = CloudSettings(mode="production", role=role)

    assert settings.auth.jwt_secret is None
    with pytest.raises(ValidationError, match="YZ_CLOUD_AUTH__JWT_SECRET"):
        CloudSettings(mode="production", role="api")


def test_a_blank_variable_is_an_unset_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # How compose.yaml withholds a secret from a container that does not use it.
    monkeypatch.setenv("YZ_CLOUD_MODE", "production")
    monkeypatch.setenv("YZ_CLOUD_AUTH__JWT_SECRET", "")

    assert CloudSettings(role="ingest").auth.jwt_secret is None
    with pytest.raises(ValidationError, match="needs the JWT secret, none is set"):
        CloudSettings(role="api")


def test_the_environment_cannot_choose_a_role(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the command knows what it runs; an .env line must not switch a server's checks off.
    monkeypatch.setenv("YZ_CLOUD_MODE", "production")
    monkeypatch.setenv("YZ_CLOUD_ROLE", "database")

    with pytest.raises(ValidationError, match="needs the JWT secret, none is set"):
        CloudSettings()
    assert CloudSettings(role="database").role == "database"


def test_an_empty_mode_is_an_error_not_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YZ_CLOUD_MODE", "")

    with pytest.raises(ValidationError, match="mode"):
        CloudSettings(role="database")


# --- users ---------------------------------------------------------------------------------


def test_admin_creates_updates_and_deletes_a_user(world: World) -> None:
    admin = world.headers("ada")
    body = {"username": "max", "role": "manager", "password": PASSWORD, "venue_ids": [VENUE_B]}

    created = world.client.post("/api/v1/auth/users", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert "hash" not in created.text
    assert PASSWORD not in created.text
    user_id = created.json()["id"]
    assert world.client.get(ME, headers=world.headers("max")).json()["venue_ids"] == [VENUE_B]

    changed = world.client.patch(
        f"/api/v1/auth/users/{user_id}", json={"venue_ids": [VENUE_A, VENUE_B]}, headers=admin
    )
    assert changed.json()["venue_ids"] == [VENUE_A, VENUE_B]
    assert world.client.get(ME, headers=world.headers("max")).json()["venue_ids"] == [
        VENUE_A,
        VENUE_B,
    ]

    assert world.client.delete(f"/api/v1/auth/users/{user_id}", headers=admin).status_code == 204
    assert world.client.get(ME, headers=world.headers("max")).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"username": "x", "role": "manager", "password": PASSWORD},  # a manager of nothing
        {"username": "x", "role": "member", "password": PASSWORD},  # a member of nobody
        {"username": "x", "role": "manager", "password": PASSWORD, "venue_ids": ["nope"]},
        {"username": "ada", "role": "admin", "password": PASSWORD},  # taken
        {"username": "x", "role": "admin", "password": "short"},
    ],
)
def test_bad_users_are_422(world: World, body: dict[str, Any]) -> None:
    response = world.client.post("/api/v1/auth/users", json=body, headers=world.headers("ada"))

    assert error_of(response, 422)["code"] == "invalid_request"


@pytest.mark.usefixtures("production_password_cost")
def test_cli_adds_a_user_who_can_log_in(world: World, migrated_db_url: str) -> None:
    settings = CloudSettings(database_url=migrated_db_url)

    add_user(
        settings, "kim", role=Role.TECHNICIAN, venues=[VENUE_B], member_id=None, password=PASSWORD
    )

    assert world.client.get(ME, headers=world.headers("kim")).json()["venue_ids"] == [VENUE_B]
    with pytest.raises(AddUserError, match="taken"):
        add_user(settings, "kim", role=Role.ADMIN, venues=[], member_id=None, password=PASSWORD)


# --- venues --------------------------------------------------------------------------------


def test_admin_creates_changes_and_deletes_a_venue(world: World) -> None:
    admin = world.headers("ada")

    created = world.client.post(
        "/api/v1/venues", json={"id": "library-3", "name": "Library"}, headers=admin
    )
    assert created.status_code == 201, created.text
    changed = world.client.patch(
        "/api/v1/venues/library-3",
        json={"timezone": "Asia/Urumqi", "district": "天山区"},
        headers=admin,
    )
    assert changed.json()["timezone"] == "Asia/Urumqi"
    assert changed.json()["district"] == "天山区"  # the dashboard filters by it
    assert world.client.delete("/api/v1/venues/library-3", headers=admin).status_code == 204
    assert world.client.get("/api/v1/venues/library-3", headers=admin).status_code == 404


def test_a_venue_with_devices_is_not_deleted(world: World) -> None:
    response = world.client.delete(f"/api/v1/venues/{VENUE_A}", headers=world.headers("ada"))

    assert error_of(response, 409)["code"] == "venue_in_use"


def test_a_venue_id_must_suit_mqtt_topics(world: World) -> None:
    response = world.client.post(
        "/api/v1/venues", json={"id": "Bad/Id", "name": "x"}, headers=world.headers("ada")
    )

    assert error_of(response, 422)["code"] == "invalid_request"


# --- access events -------------------------------------------------------------------------


def members_seen(world: World, who: str, **params: str) -> list[str | None]:
    body = world.client.get(EVENTS, params=params, headers=world.headers(who)).json()
    return [event["member"] for event in body["data"]]


def test_admin_sees_member_ids(world: World) -> None:
    assert sorted(members_seen(world, "ada")) == sorted([ALICE, ALICE, BOB, BOB])  # type: ignore[type-var]


def test_a_manager_sees_stable_pseudonyms_of_their_venue_only(world: World) -> None:
    seen = members_seen(world, "mia")

    key = world.client.app.state.api.auth.pseudonym_key  # type: ignore[attr-defined]
    alice, bob = pseudonymize(ALICE, key=key), pseudonymize(BOB, key=key)
    assert sorted(seen) == sorted([alice, alice, bob])  # type: ignore[type-var]
    assert ALICE not in str(seen)
    assert BOB not in str(seen)


def test_a_manager_cannot_filter_by_member_id(world: World) -> None:
    response = world.client.get(EVENTS, params={"member_id": ALICE}, headers=world.headers("mia"))

    assert error_of(response, 403)["code"] == "forbidden"


def test_a_member_sees_only_their_own_decisions(world: World) -> None:
    assert members_seen(world, "mel") == [ALICE, ALICE]


def test_access_events_filter_by_reason_venue_and_time(world: World) -> None:
    assert members_seen(world, "ada", reason="expired") == [BOB]
    assert members_seen(world, "ada", venue_id=VENUE_B) == [BOB]
    since = (NOW - timedelta(hours=1, minutes=1, seconds=30)).isoformat()
    assert sorted(members_seen(world, "ada", since=since)) == sorted([ALICE, BOB])  # type: ignore[type-var]


def test_access_events_are_paginated(world: World) -> None:
    page = world.client.get(
        EVENTS, params={"limit": 1, "offset": 1}, headers=world.headers("ada")
    ).json()

    assert page["count"] == 4
    assert len(page["data"]) == 1


def test_access_events_export_as_csv_with_pseudonyms_for_managers(world: World) -> None:
    response = world.client.get(EVENTS, params={"format": "csv"}, headers=world.headers("mia"))

    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["device_id"] for r in rows] == [DEVICE_A] * 3
    assert all(r["member"].startswith("p-") for r in rows)
    assert list(rows[0]) == [
        "ts",
        "venue_id",
        "device_id",
        "seq",
        "door",
        "reason",
        "member",
        "mode",
        "detail",
    ]


def test_devices_export_as_csv(world: World) -> None:
    response = world.client.get(
        "/api/v1/devices", params={"format": "csv"}, headers=world.headers("ada")
    )

    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == [
        "id",
        "venue_id",
        "online",
        "last_seen_at",
        "state_at",
        "software",
        "role",
        "status",
        "serial",
    ]
    assert [r[0] for r in rows[1:]] == [DEVICE_A, "door-bravo"]


def test_devices_show_their_state(world: World) -> None:
    device = world.client.get(f"/api/v1/devices/{DEVICE_A}", headers=world.headers("tom")).json()

    assert device == {
        "id": DEVICE_A,
        "venue_id": VENUE_A,
        "online": True,
        "software": "1.2",
        "last_seen_at": None,
        "state_at": None,
        # Registered before claiming existed: no role or serial, active, no own account.
        "role": None,
        "status": "active",
        "serial": None,
        "credential_generation": 0,
        "health": None,
        "config": {
            "desired_version": None,
            "applied_version": None,
            "applied_at": None,
            "rejected_version": None,
            "rejected_errors": [],
        },
        "faults": [],
        "commands": [],
    }
