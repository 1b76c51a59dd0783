"""`yizhan venue add|list` against the cloud's real API (in process, on a real database)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from cloud.api.app import create_app
from cloud.auth import store
from cloud.auth.models import ApiTokenCreate
from cloud.auth.principal import Role
from cloud.core.db import make_engine
from cloud.settings import CloudSettings
from yizhan.cli_venue import venue_app
from yizhan.cloud_client import CloudClient, CloudLogin

with warnings.catch_warnings():
    # Starlette prefers the httpx2 fork and warns when it falls back to httpx (see test_api).
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

LONG_ID = "guangzhou-tianhe-riders-station9"  # 32 characters: the longest id there is


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


def _token(engine: Engine, role: Role) -> str:
    with Session(engine) as session:
        token_in = ApiTokenCreate(name=f"test {role.value}", role=role)
        _, bearer = store.create_api_token(session=session, token_in=token_in, created_by="test")
    return bearer


def yizhan(engine: Engine, *args: str, role: Role = Role.ADMIN) -> tuple[int, str]:
    """Run `yizhan venue …` as a caller with ``role``; (exit code, all output)."""
    api = create_app(settings=CloudSettings(mode="development"), engine=engine)
    bearer = _token(engine, role)

    def client() -> CloudClient:
        return CloudClient(CloudLogin(url="http://testserver", token=bearer), http=TestClient(api))

    result = CliRunner().invoke(venue_app, list(args), obj={"client_factory": client})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_add_then_list_shows_whole_ids_when_piped(engine: Engine) -> None:
    code, out = yizhan(engine, "add", LONG_ID, "--name", "天河骑手驿站", "--district", "天河区",
                       "--name-en", "Tianhe Riders")  # fmt: skip
    assert code == 0, out
    assert f"created: venue {LONG_ID}" in out
    code, out = yizhan(engine, "add", "home-03", "--name", "Workers' home", "--kind", "home",
                       "--timezone", "Asia/Urumqi")  # fmt: skip
    assert code == 0, out
    code, out = yizhan(engine, "list")  # CliRunner's output is not a terminal: a pipe
    assert code == 0, out
    assert LONG_ID in out
    assert "…" not in out
    assert "Asia/Urumqi" in out
    assert "Tianhe Riders" in out  # the English name beside the name
    code, out = yizhan(engine, "list", "--json")
    assert code == 0, out
    assert '"district": "天河区"' in out


@pytest.mark.parametrize(
    ("args", "role", "says"),
    [
        (("add", "Station 7", "--name", "x"), Role.ADMIN, "venue id 'Station 7' is not valid"),
        (("add", "s7", "--name", "x", "--timezone", "Mars/Base"), Role.ADMIN, "time zone"),
        (("add", "s7", "--name", "x"), Role.TECHNICIAN, "admin"),
    ],
)
def test_refusals_are_one_line(
    engine: Engine, args: tuple[str, ...], role: Role, says: str
) -> None:
    code, out = yizhan(engine, *args, role=role)
    assert code == 2
    assert says in out
    assert out.count("\n") == 1, out


def test_a_duplicate_id_is_refused_in_one_line(engine: Engine) -> None:
    assert yizhan(engine, "add", "s7", "--name", "Station 7")[0] == 0
    code, out = yizhan(engine, "add", "s7", "--name", "Station 7 again")
    assert code == 2
    assert "venue 's7' exists already" in out
    assert out.count("\n") == 1, out


def test_a_name_in_brackets_is_shown_whole(engine: Engine) -> None:
    code, out = yizhan(engine, "add", "station-09", "--name", "驿站 [north]")
    assert code == 0, out
    assert "驿站 [north]" in out
    code, out = yizhan(engine, "list")
    assert code == 0, out
    assert "驿站 [north]" in out
