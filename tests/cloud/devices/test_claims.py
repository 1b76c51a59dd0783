"""Claiming a box over the API: what a claim creates, and every refusal changing nothing."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from cloud.auth import store
from cloud.auth.models import ApiToken
from cloud.auth.principal import Principal, Role
from cloud.devices.claims import ClaimPolicy, ClaimRequest, claim_box
from cloud.devices.credentials import BundleEndpoint
from cloud.devices.errors import DeviceError
from cloud.devices.models import Device, DeviceDesiredConfig, PendingBox
from protocol.provisioning import ClaimCode, SealedBundle, open_sealed
from tests.cloud.auth_world import NOW, VENUE_A, VENUE_B, World
from tests.cloud.devices.helpers import (
    CLAIM,
    IMPOSSIBLE_HOURS,
    RecordingAdmin,
    claim_body,
    counts,
    new_box,
    say_hello,
)


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def claim(world: World, who: str, body: dict[str, Any]) -> httpx.Response:
    response: httpx.Response = world.client.post(CLAIM, json=body, headers=world.headers(who))
    return response


def sealed_of(engine: Engine, serial: str) -> SealedBundle:
    with Session(engine) as session:
        box = session.get(PendingBox, serial)
        assert box is not None
        assert box.sealed_bundle is not None
        return SealedBundle.model_validate_json(box.sealed_bundle)


def test_a_claim_creates_the_device_its_accounts_and_a_bundle_only_the_label_opens(
    world: World, admin: RecordingAdmin
) -> None:
    code = new_box(world.engine, NOW)

    response = claim(world, "tom", claim_body(code, VENUE_A))

    assert response.status_code == 201, response.text
    device = response.json()
    assert device["id"] == f"{VENUE_A}-door-1"
    assert (device["status"], device["role"], device["serial"]) == ("claimed", "door", code.serial)
    assert device["credential_generation"] == 1
    assert admin.calls == [("add", device["id"])]
    bundle = open_sealed(sealed_of(world.engine, code.serial), code)
    assert (bundle.device, bundle.venue, bundle.mqtt_username) == (
        device["id"],
        VENUE_A,
        device["id"],
    )
    assert bundle.mqtt_password == admin.passwords[device["id"]]
    # Bound to an id with a secret part, which only the bundle tells the box.
    assert bundle.mqtt_client_id == admin.client_ids[device["id"]]
    assert bundle.mqtt_client_id.startswith(f"yz-{device['id']}-")
    # The device's token sees its venue only, and only its id is on the device row.
    assert bundle.api_token is not None
    venues = world.client.get(
        "/api/v1/venues", headers={"Authorization": f"Bearer {bundle.api_token}"}
    ).json()
    assert [v["id"] for v in venues["data"]] == [VENUE_A]
    with Session(world.engine) as session:
        row = session.get(Device, device["id"])
        assert row is not None
        assert row.api_token_id is not None
        token = session.get(ApiToken, row.api_token_id)
        assert token is not None
        assert token.name == f"device:{device['id']}"
        assert bundle.mqtt_password not in str(row.model_dump())


def test_a_manager_claims_for_their_venue_with_a_first_config(
    world: World, admin: RecordingAdmin
) -> None:
    code = new_box(world.engine, NOW)
    settings = {"sample_interval_s": 30}

    response = claim(
        world, "mia", claim_body(code, VENUE_A, device_id="front-door", settings=settings)
    )

    assert response.status_code == 201, response.text
    assert response.json()["config"]["desired_version"] == 1
    with Session(world.engine) as session:
        desired = session.get(DeviceDesiredConfig, ("front-door", 1))
        assert desired is not None
        assert desired.settings == settings
    assert admin.calls == [("add", "front-door")]


def _claimed(world: World, code: ClaimCode) -> None:
    assert claim(world, "ada", claim_body(code, VENUE_A)).status_code == 201


REFUSALS = [
    # (who, body from the box's code, status, error code)
    ("ada", lambda c: claim_body("YZC1-NOT-A-CODE", VENUE_A), 422, "claim_code_invalid"),
    ("ada", lambda c: claim_body(c, "no-such-venue"), 404, "venue_not_found"),
    ("mia", lambda c: claim_body(c, VENUE_B), 404, "venue_not_found"),
    ("ada", lambda c: claim_body(ClaimCode.generate(), VENUE_A), 404, "box_not_seen"),
    ("ada", lambda c: claim_body(ClaimCode(c.serial, "a" * 20), VENUE_A), 403, "claim_code_wrong"),
    ("ada", lambda c: claim_body(c, VENUE_A, device_id="door-alpha"), 409, "device_id_taken"),
    ("ada", lambda c: claim_body(c, VENUE_A, settings=IMPOSSIBLE_HOURS), 422, "config_invalid"),
    ("ada", lambda c: claim_body(c, VENUE_A, settings={"mqtt_host": "x"}), 422, "config_invalid"),
    ("mel", lambda c: claim_body(c, VENUE_A), 403, "forbidden"),
    ("legacy", lambda c: claim_body(c, VENUE_A), 403, "forbidden"),
]


@pytest.mark.parametrize(("who", "body", "status", "code"), REFUSALS)
def test_a_refused_claim_changes_nothing(
    world: World, admin: RecordingAdmin, who: str, body: Any, status: int, code: str
) -> None:
    box = new_box(world.engine, NOW)
    before = counts(world.engine)

    error = error_of(claim(world, who, body(box)), status, code)

    assert counts(world.engine) == before
    assert admin.calls == []
    assert error["message"]


def test_out_of_scope_and_missing_venues_get_the_same_answer(world: World) -> None:
    code = new_box(world.engine, NOW)

    theirs = claim(world, "mia", claim_body(code, VENUE_B)).json()["error"]
    missing = claim(world, "mia", claim_body(code, "no-such-venue")).json()["error"]

    assert theirs["code"] == missing["code"] == "venue_not_found"
    assert theirs["message"].replace(VENUE_B, "X") == missing["message"].replace(
        "no-such-venue", "X"
    )


def test_an_expired_code_says_how_to_renew_it_and_a_renewed_label_works(
    world: World, admin: RecordingAdmin
) -> None:
    code = new_box(world.engine, NOW - timedelta(days=8))
    before = counts(world.engine)

    error = error_of(claim(world, "tom", claim_body(code, VENUE_A)), 410, "claim_code_expired")

    assert "yizhan device label --renew" in error["message"]
    assert counts(world.engine) == before
    renewed = ClaimCode(code.serial, ClaimCode.generate().secret)
    say_hello(world.engine, renewed, NOW)  # the renewed label's new check has its own window
    error_of(claim(world, "tom", claim_body(code, VENUE_A)), 410, "claim_code_expired")
    assert claim(world, "tom", claim_body(renewed, VENUE_A)).status_code == 201
    assert [call for call, _ in admin.calls] == ["add"]


def test_an_already_claimed_box_names_its_device_and_venue(
    world: World, admin: RecordingAdmin
) -> None:
    code = new_box(world.engine, NOW)
    _claimed(world, code)
    before = counts(world.engine)

    error = error_of(claim(world, "tom", claim_body(code, VENUE_A)), 409, "already_claimed")

    assert f"device '{VENUE_A}-door-1' at venue '{VENUE_A}'" in error["message"]
    assert counts(world.engine) == before
    assert len(admin.calls) == 1


def test_a_broker_failure_stores_nothing(world: World, admin: RecordingAdmin) -> None:
    code = new_box(world.engine, NOW)
    admin.down = True
    before = counts(world.engine)

    error_of(claim(world, "tom", claim_body(code, VENUE_A)), 503, "broker_unavailable")

    assert counts(world.engine) == before
    admin.down = False
    assert claim(world, "tom", claim_body(code, VENUE_A)).status_code == 201


def test_wrong_codes_lock_the_box_for_15_minutes(world: World, admin: RecordingAdmin) -> None:
    code = new_box(world.engine, NOW)
    wrong = claim_body(ClaimCode(code.serial, "b" * 20), VENUE_A)
    for _ in range(5):
        error_of(claim(world, "tom", wrong), 403, "claim_code_wrong")

    locked = claim(world, "tom", claim_body(code, VENUE_A))  # even the right code waits

    error = error_of(locked, 429, "claim_locked")
    assert "Retry-After" in locked.headers
    assert "retry after" in error["message"]
    assert admin.calls == []
    world.clock[0] = NOW + timedelta(minutes=16)
    assert claim(world, "tom", claim_body(code, VENUE_A)).status_code == 201


def test_a_decommissioned_box_is_claimed_again_after_a_new_hello(
    world: World, admin: RecordingAdmin
) -> None:
    code = new_box(world.engine, NOW)
    _claimed(world, code)
    first = f"{VENUE_A}-door-1"
    gone = world.client.post(f"/api/v1/devices/{first}/decommission", headers=world.headers("tom"))
    assert gone.status_code == 200, gone.text

    error_of(claim(world, "tom", claim_body(code, VENUE_A)), 404, "box_not_seen")
    say_hello(world.engine, code, NOW)
    again = claim(world, "tom", claim_body(code, VENUE_A))

    assert again.status_code == 201, again.text
    assert again.json()["id"] == f"{VENUE_A}-door-2"
    with Session(world.engine) as session:
        old = session.get(Device, first)
        assert old is not None
        assert (old.status, old.serial) == ("decommissioned", None)


def _policy() -> ClaimPolicy:
    return ClaimPolicy(claim_window=timedelta(days=7), endpoint=BundleEndpoint())


def test_two_claims_racing_for_one_box_have_one_winner(world: World) -> None:
    code = new_box(world.engine, NOW)
    admin = RecordingAdmin()
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def race(venue: str) -> None:
        request = ClaimRequest(code=code, venue_id=venue, role="door")
        by = Principal(subject="tom", role=Role.TECHNICIAN)
        with Session(world.engine) as session:
            start.wait()
            try:
                device = claim_box(
                    session=session, admin=admin, request=request, by=by, now=NOW, policy=_policy()
                )
                outcomes.append(device.id)
            except DeviceError as exc:
                outcomes.append(exc.code)

    threads = [threading.Thread(target=race, args=(v,)) for v in (VENUE_A, VENUE_B)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(o == "already_claimed" for o in outcomes) == [False, True], outcomes
    with Session(world.engine) as session:
        claimed = session.exec(select(Device).where(Device.serial == code.serial)).all()
    assert [d.id for d in claimed] == [o for o in outcomes if o != "already_claimed"]
    assert [call for call, _ in admin.calls] == ["add"]


class _FailingCommit(Session):
    def commit(self) -> None:
        raise RuntimeError("the database went away at commit (test)")


def test_a_failed_commit_takes_the_broker_account_back(world: World) -> None:
    code = new_box(world.engine, NOW)
    admin = RecordingAdmin()
    before = counts(world.engine)
    request = ClaimRequest(code=code, venue_id=VENUE_A, role="kiosk")
    by = Principal(subject="ada", role=Role.ADMIN)

    with _FailingCommit(world.engine) as session, pytest.raises(RuntimeError):
        claim_box(session=session, admin=admin, request=request, by=by, now=NOW, policy=_policy())

    assert admin.calls == [("add", f"{VENUE_A}-kiosk-1"), ("remove", f"{VENUE_A}-kiosk-1")]
    assert counts(world.engine) == before


def test_a_device_token_is_revoked_at_decommissioning(world: World, admin: RecordingAdmin) -> None:
    code = new_box(world.engine, NOW)
    _claimed(world, code)
    bundle = open_sealed(sealed_of(world.engine, code.serial), code)
    assert bundle.api_token is not None
    headers = {"Authorization": f"Bearer {bundle.api_token}"}
    assert world.client.get("/api/v1/venues", headers=headers).status_code == 200

    world.client.post(f"/api/v1/devices/{bundle.device}/decommission", headers=world.headers("ada"))

    assert world.client.get("/api/v1/venues", headers=headers).status_code == 401
    with Session(world.engine) as session:
        assert store.find_api_token(session=session, presented=bundle.api_token, now=NOW) is None
    assert admin.calls == [("add", bundle.device)]  # the account stays until the wipe is answered


def test_a_box_from_before_binding_is_bound_to_the_id_it_uses_and_told_nothing_new(
    world: World, admin: RecordingAdmin
) -> None:
    # Its hello does not say it takes a client id: a bundle naming one would be refused.
    code = new_box(world.engine, NOW, accepts_client_id=False)

    response = claim(world, "tom", claim_body(code, VENUE_A))

    assert response.status_code == 201, response.text
    device_id = response.json()["id"]
    sealed = sealed_of(world.engine, code.serial)
    assert "mqtt_client_id" not in open_sealed(sealed, code).model_dump(exclude_none=True)
    assert admin.client_ids[device_id] == f"yz-{device_id}"  # what such a box connects as
