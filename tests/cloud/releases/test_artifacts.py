"""The artifact store, on disk and on a real S3-compatible server: the same behaviour."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from cloud.api.app import create_app
from cloud.auth.settings import AuthSettings
from cloud.releases.artifacts import ArtifactStore, DiskStore, S3Location, S3Store
from cloud.releases.errors import HashMismatchError
from cloud.releases.settings import ReleaseSettings
from cloud.settings import CloudSettings
from tests.cloud.auth_world import JWT_SECRET, NOW, PASSWORD, World
from tests.cloud.releases.conftest import TestClient
from tests.cloud.releases.helpers import BLOBS

DATA = b"wheel bytes " * 50_000  # 600 KB: several chunks
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(params=["disk", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "disk":
        yield DiskStore(tmp_path / "blobs")
    else:
        location: S3Location = request.getfixturevalue("s3_location")
        yield S3Store(location, spool_dir=tmp_path)


def read(store: ArtifactStore, start: int, end: int) -> bytes:
    return b"".join(store.open_range(SHA, start, end))


def test_put_then_read_whole_and_ranges(store: ArtifactStore) -> None:
    assert not store.exists(SHA)
    assert store.size(SHA) is None

    assert store.put(SHA, io.BytesIO(DATA)) is True
    assert store.put(SHA, io.BytesIO(DATA)) is False

    assert store.exists(SHA)
    assert store.size(SHA) == len(DATA)
    assert read(store, 0, len(DATA) - 1) == DATA
    assert read(store, 300_001, len(DATA) - 1) == DATA[300_001:]
    assert read(store, 5, 5) == DATA[5:6]


def test_bytes_that_hash_otherwise_are_not_kept(store: ArtifactStore) -> None:
    with pytest.raises(HashMismatchError) as caught:
        store.put(SHA, io.BytesIO(DATA + b"!"))

    assert caught.value.actual == hashlib.sha256(DATA + b"!").hexdigest()
    assert not store.exists(SHA)


def test_a_name_that_is_not_a_sha256_is_refused(store: ArtifactStore) -> None:
    with pytest.raises(ValueError, match="not a sha256"):
        store.exists("../../etc/passwd")


def test_disk_store_leaves_no_partial_file(tmp_path: Path) -> None:
    store = DiskStore(tmp_path / "blobs")
    with pytest.raises(HashMismatchError):
        store.put(SHA, io.BytesIO(b"short"))

    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []


def test_s3_settings_need_their_secrets() -> None:
    with pytest.raises(ValidationError, match="YZ_CLOUD_RELEASES__S3_SECRET_KEY"):
        ReleaseSettings(
            store="s3", s3_endpoint="127.0.0.1:9000", s3_bucket="rel", s3_access_key="a"
        )


def test_the_api_serves_wheels_from_the_s3_store(
    world: World, tmp_path: Path, s3_location: S3Location
) -> None:
    releases = ReleaseSettings(
        store="s3",
        s3_endpoint=s3_location.endpoint,
        s3_bucket=s3_location.bucket,
        s3_access_key=SecretStr(s3_location.access_key),
        s3_secret_key=SecretStr(s3_location.secret_key),
        s3_secure=False,
        s3_region="us-east-1",
    )
    settings = CloudSettings(
        data_dir=tmp_path / "s3-cloud",
        auth=AuthSettings(jwt_secret=SecretStr(JWT_SECRET)),
        releases=releases,
    )
    app = create_app(settings=settings, engine=world.engine, clock=lambda: NOW)
    with TestClient(app) as client:
        login = {"username": "tom", "password": PASSWORD}
        token = client.post("/api/v1/auth/token", data=login).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        stored = client.put(f"{BLOBS}/{SHA}", content=DATA, headers=headers)
        resumed = client.get(f"{BLOBS}/{SHA}", headers={**headers, "Range": "bytes=100-"})

    assert stored.status_code == 201, stored.text
    assert resumed.status_code == 206
    assert resumed.content == DATA[100:]
    assert S3Store(s3_location).size(SHA) == len(DATA)
