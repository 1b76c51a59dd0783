"""Fixtures of release tests: the seeded world with a release key and a blob store, boxes."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr
from starlette.exceptions import StarletteDeprecationWarning

from cloud.api.app import create_app
from cloud.auth.settings import AuthSettings
from cloud.core.db import make_engine
from cloud.releases.artifacts import S3Location, S3Store
from cloud.releases.settings import ReleaseSettings, StageSpec
from cloud.settings import CloudSettings
from ops.broker.process import free_port
from protocol.release import public_of
from tests.cloud.auth_world import JWT_SECRET, LEGACY_TOKEN, NOW, World, seed
from tests.cloud.releases.helpers import Boxes
from tests.fixtures import missing_service

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

__all__ = ["TestClient", "release_settings"]

# Short soaks in seconds of the test's own clock: the tests move the clock, never sleep.
TEST_STAGES = [
    StageSpec(count=1, soak_s=60),
    StageSpec(percent=50, soak_s=60),
    StageSpec(percent=100, soak_s=0),
]


@pytest.fixture
def release_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def key_file(tmp_path: Path, release_key: Ed25519PrivateKey) -> Path:
    path = tmp_path / "release-key.json"
    path.write_text(public_of(release_key).to_json())
    return path


def release_settings(key_file: Path | None, **fields: object) -> ReleaseSettings:
    return ReleaseSettings.model_validate(
        {"key_file": key_file, "default_stages": TEST_STAGES, "stage_timeout_s": 3600, **fields}
    )


@pytest.fixture
def world(migrated_db_url: str, tmp_path: Path, key_file: Path) -> Iterator[World]:
    engine = make_engine(migrated_db_url)
    user_ids = seed(engine)
    clock = [NOW]
    settings = CloudSettings(
        mode="development",
        data_dir=tmp_path / "cloud",
        api_token=SecretStr(LEGACY_TOKEN),
        auth=AuthSettings(jwt_secret=SecretStr(JWT_SECRET), jwt_minutes=30),
        releases=release_settings(key_file),
    )
    app = create_app(settings=settings, engine=engine, clock=lambda: clock[0])
    try:
        with TestClient(app) as client:
            yield World(client=client, engine=engine, user_ids=user_ids, clock=clock)
    finally:
        engine.dispose()


@pytest.fixture
def boxes(world: World) -> Boxes:
    return Boxes(world.engine, world.clock)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3-compatible server (moto's, from PyPI) on a free loopback port: host:port.

    One per session (per xdist worker); each test takes its own bucket."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        missing_service("moto[s3] and flask are not installed (pip install -e '.[dev]')")
    port = free_port()
    log_path = tmp_path_factory.mktemp("s3") / "moto.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_listening(port, process, deadline=time.monotonic() + S3_START_S)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


S3_START_S = 30.0


def _wait_listening(port: int, process: subprocess.Popen[bytes], *, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"the S3 server exited with {process.returncode} before listening")
            if time.monotonic() > deadline:
                pytest.fail(f"the S3 server did not listen on {port} within {S3_START_S} s")
            time.sleep(0.05)  # polling a port that is not open yet; bounded by the deadline


@pytest.fixture
def s3_location(s3_endpoint: str) -> S3Location:
    """A fresh bucket on the test S3 server."""
    location = S3Location(
        endpoint=s3_endpoint,
        bucket=f"yz-{uuid.uuid4().hex[:12]}",
        access_key="test-access",
        secret_key="test-secret-key",
        secure=False,
        region="us-east-1",
    )
    S3Store(location).ensure_bucket()
    return location
