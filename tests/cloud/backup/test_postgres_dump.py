"""pg_dump and pg_restore as subprocesses: found or clearly missing, and no password in argv."""

import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from cloud.backup import create_backup, restore_backup
from cloud.backup.errors import DatabaseCommandError, ToolMissingError
from cloud.backup.postgres_dump import dump_postgres, libpq_target, restore_postgres
from tests.cloud.backup.conftest import NOW

URL = "postgresql+psycopg://yizhan:p%40ss%20w0rd@db.example:5433/cloud?sslmode=require"


def test_a_missing_pg_dump_names_the_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no PostgreSQL tools

    with pytest.raises(ToolMissingError, match=r"pg_dump was not found.*postgresql-client"):
        create_backup(URL, out_dir=tmp_path / "backups", now=NOW)
    with pytest.raises(ToolMissingError, match=r"pg_restore was not found.*postgresql-client"):
        restore_backup(tmp_path / "any.tar", database_url=URL)
    assert not (tmp_path / "backups").exists()


def test_the_password_travels_in_the_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def record(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        env = kwargs["env"]
        assert isinstance(env, dict)
        calls.append((argv, env))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(subprocess, "run", record)
    dump_postgres(make_url(URL), to=tmp_path / "d.pgdump")
    restore_postgres(tmp_path / "d.pgdump", url=make_url(URL))

    assert len(calls) == 2
    for argv, env in calls:
        assert not any("p@ss" in arg or "p%40ss" in arg for arg in argv)
        assert env["PGPASSWORD"] == "p@ss w0rd"
    dump_argv = calls[0][0]
    assert dump_argv[1:3] == ["--format=custom", "--no-owner"]
    assert dump_argv[-1] == "postgresql://yizhan@db.example:5433/cloud?sslmode=require"
    assert {"--no-owner", "--exit-on-error"} <= set(calls[1][0])


def test_a_url_without_password_leaves_pgpassword_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "from-the-operator")

    uri, env = libpq_target(make_url("postgresql://yizhan@db/cloud"))

    assert uri == "postgresql://yizhan@db/cloud"
    assert env["PGPASSWORD"] == "from-the-operator"


@pytest.mark.postgres
def test_a_failing_dump_says_what_pg_dump_said(pg_url: str, tmp_path: Path) -> None:
    missing = make_url(pg_url).set(database="yizhan_no_such_database")

    with pytest.raises(DatabaseCommandError, match=r"pg_dump failed .*does not exist"):
        dump_postgres(missing, to=tmp_path / "d.pgdump")
