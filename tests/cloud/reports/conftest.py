"""The seeded district (world.py) on SQLite and PostgreSQL, and an app serving it.

The figures are checked on both databases, each test on its own copy. The HTTP tests, which
add nothing per database but seconds, run on SQLite with one app per module: building the
app (some 300 routes) costs more than everything a test asks of it."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.exceptions import StarletteDeprecationWarning

from cloud.api.app import create_app
from cloud.core.db import make_engine
from cloud.settings import CloudSettings
from tests.cloud.reports.world import NOW, PASSWORD, seed

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

Headers = Callable[[str], dict[str, str]]


def _seeded(url: str) -> Engine:
    engine = make_engine(url)
    with Session(engine) as session:
        seed(session)
    return engine


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = _seeded(migrated_db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def sqlite_engine(
    tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path
) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("reports") / "cloud.db"
    shutil.copyfile(_sqlite_template, path)
    engine = _seeded(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def client(sqlite_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = CloudSettings(data_dir=tmp_path_factory.mktemp("cloud"))
    app = create_app(settings=settings, engine=sqlite_engine, clock=lambda: NOW)
    with TestClient(app) as made:
        yield made


@pytest.fixture(scope="module")
def headers(client: TestClient) -> Headers:
    """``headers("mia")``: a bearer token of that user, logged in once per module."""
    known: dict[str, dict[str, str]] = {}

    def of(username: str) -> dict[str, str]:
        if username not in known:
            answer = client.post(
                "/api/v1/auth/token", data={"username": username, "password": PASSWORD}
            )
            assert answer.status_code == 200, answer.text
            known[username] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        return known[username]

    return of
