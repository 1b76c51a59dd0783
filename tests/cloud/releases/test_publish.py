"""Publishing signed manifests and key rotations: what the cloud refuses, and what it keeps."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from cloud.api.app import create_app
from cloud.auth.settings import AuthSettings
from cloud.settings import CloudSettings
from protocol.release import public_of, sign_rotation
from tests.cloud.auth_world import DEVICE_A, JWT_SECRET, NOW, World
from tests.cloud.releases.conftest import TestClient, release_settings
from tests.cloud.releases.helpers import box_token, manifest, publish, upload, wheels_of

RELEASES = "/api/v1/releases"


def post(world: World, raw: bytes, who: str = "ada") -> httpx.Response:
    answer: httpx.Response = world.client.post(RELEASES, content=raw, headers=world.headers(who))
    return answer


def test_publish_keeps_the_bytes_and_lists_the_release(
    world: World, release_key: Ed25519PrivateKey
) -> None:
    wheels = wheels_of("0.2.0", extra=2)
    upload(world, wheels)
    raw = manifest(release_key, "0.2.0", 5, wheels, notes="faster doors")

    first = world.client.post(RELEASES, content=raw, headers=world.headers("ada"))
    again = world.client.post(RELEASES, content=raw, headers=world.headers("ada"))
    box = box_token(world.engine, DEVICE_A)
    fetched = world.client.get(f"{RELEASES}/0.2.0/manifest", headers=box)
    listed = world.client.get(RELEASES, headers=world.headers("mia")).json()
    detail = world.client.get(f"{RELEASES}/0.2.0", headers=world.headers("tom")).json()

    assert first.status_code == 201, first.text
    assert again.status_code == 200
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "application/json"
    assert fetched.content == raw
    assert listed["count"] == 1
    summary = listed["data"][0]
    assert summary["version"] == "0.2.0"
    assert summary["serial"] == 5
    assert summary["machine"] == "aarch64"
    assert summary["python"] == "3.11"
    assert summary["notes"] == "faster doors"
    assert summary["wheel_count"] == 3
    assert summary["total_bytes"] == sum(len(w.data) for w in wheels)
    assert [w["sha256"] for w in detail["wheels"]] == [w.sha256 for w in wheels]


def test_refusals(world: World, release_key: Ed25519PrivateKey) -> None:
    publish(world, release_key, "0.2.0", 5)
    wheels = wheels_of("0.3.0")
    other_key = Ed25519PrivateKey.generate()

    missing = post(world, manifest(release_key, "0.3.0", 6, wheels))
    upload(world, wheels)
    foreign = post(world, manifest(other_key, "0.3.0", 6, wheels))
    tampered = manifest(release_key, "0.3.0", 6, wheels).replace(b'"3.11"', b'"3.12"')
    changed = post(world, tampered)
    older = post(world, manifest(release_key, "0.3.0", 5, wheels))
    same_version = post(world, manifest(release_key, "0.2.0", 9, wheels_of("0.2.0")))
    garbage = post(world, b"not json")

    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "missing_blobs"
    # The dependency wheel is 0.2.0's too, held already: only the new yizhan wheel is missing.
    assert [d["sha256"] for d in missing.json()["error"]["details"]] == [wheels[0].sha256]
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (422, "unknown_key")
    assert (changed.status_code, changed.json()["error"]["code"]) == (422, "bad_signature")
    assert (older.status_code, older.json()["error"]["code"]) == (409, "serial_not_newer")
    assert (same_version.status_code, same_version.json()["error"]["code"]) == (
        409,
        "release_exists",
    )
    assert (garbage.status_code, garbage.json()["error"]["code"]) == (422, "malformed")
    assert [
        r["version"]
        for r in world.client.get(RELEASES, headers=world.headers("ada")).json()["data"]
    ] == ["0.2.0"]


def test_only_an_admin_publishes(world: World, release_key: Ed25519PrivateKey) -> None:
    wheels = wheels_of("0.2.0")
    upload(world, wheels)
    raw = manifest(release_key, "0.2.0", 5, wheels)
    box = box_token(world.engine, DEVICE_A)

    assert post(world, raw, "tom").status_code == 403
    assert post(world, raw, "mia").status_code == 403
    assert world.client.post(RELEASES, content=raw, headers=box).status_code == 403
    assert world.client.get(RELEASES, headers=box).status_code == 200


def test_a_rotation_moves_publishing_to_the_new_key(
    world: World, release_key: Ed25519PrivateKey
) -> None:
    new_key = Ed25519PrivateKey.generate()
    statement = sign_rotation(release_key, public_of(new_key), issued_at=NOW)
    wheels = wheels_of("0.2.0")
    upload(world, wheels)
    rotations = f"{RELEASES}/key-rotations"

    added = world.client.post(rotations, content=statement, headers=world.headers("ada"))
    repeated = world.client.post(rotations, content=statement, headers=world.headers("ada"))
    by_tech = world.client.post(rotations, content=statement, headers=world.headers("tom"))
    stray = sign_rotation(Ed25519PrivateKey.generate(), public_of(new_key), issued_at=NOW)
    unchained = world.client.post(rotations, content=stray, headers=world.headers("ada"))
    old_signed = post(world, manifest(release_key, "0.2.0", 5, wheels))
    new_signed = post(world, manifest(new_key, "0.2.0", 5, wheels))
    box = box_token(world.engine, DEVICE_A)
    served = world.client.get(rotations, headers=box)

    assert added.status_code == 201, added.text
    assert added.json()["new_key_id"] == public_of(new_key).key_id
    assert repeated.status_code == 200
    assert by_tech.status_code == 403
    assert (unchained.status_code, unchained.json()["error"]["code"]) == (
        422,
        "rotation_not_chained",
    )
    assert old_signed.json()["error"]["code"] == "unknown_key"
    assert new_signed.status_code == 201
    assert served.json() == {"statements": [statement.decode()]}
    assert json.loads(served.json()["statements"][0])["key_id"] == public_of(release_key).key_id


def test_without_a_configured_key_publishing_says_what_to_set(
    world: World, tmp_path: Path, release_key: Ed25519PrivateKey
) -> None:
    settings = CloudSettings(
        data_dir=tmp_path / "other",
        auth=AuthSettings(jwt_secret=SecretStr(JWT_SECRET)),
        releases=release_settings(None),
    )
    app = create_app(settings=settings, engine=world.engine, clock=lambda: NOW)
    wheels = wheels_of("0.2.0")
    with TestClient(app) as client:
        token = client.post(
            "/api/v1/auth/token",
            data={"username": "ada", "password": "correct horse battery staple"},
        ).json()["access_token"]
        answer = client.post(
            RELEASES,
            content=manifest(release_key, "0.2.0", 5, wheels),
            headers={"Authorization": f"Bearer {token}"},
        )

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "release_key_missing"
    assert "YZ_CLOUD_RELEASES__KEY_FILE" in answer.json()["error"]["message"]
