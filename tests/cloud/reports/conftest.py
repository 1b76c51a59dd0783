"""The seeded district (world.py) on SQLite and PostgreSQL, and an app serving it."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.exceptions import StarletteDeprecationWarning

from cloud.api.app import create_app
from cloud.core.db import make_engine
from cloud.settings import CloudSettings
from tests.cloud.reports.world import NOW, seed

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    with Session(engine) as session:
        seed(session)
    yield engine
    engine.dispose()


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = CloudSettings(data_dir=tmp_path)
    app = create_app(settings=settings, engine=engine, clock=lambda: NOW)
    with TestClient(app) as made:
        yield made


def token(client: TestClient, username: str) -> dict[str, str]:
    answer = client.post(
        "/api/v1/auth/token", data={"username": username, "password": "a long enough password"}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}
