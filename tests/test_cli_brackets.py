"""Errors and messages that carry ``[kiosk]``-like text keep it: rich must not read it as markup."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from yizhan.cli import app

BRACKETS = "[kiosk]"


def yizhan(*args: str, stdin: str | None = None) -> tuple[int, str]:
    """Run `yizhan …` in process; (exit code, all output). A traceback fails the test."""
    result = CliRunner().invoke(app, list(args), input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("member", "code", f"bad{BRACKETS}"), id="member"),
        pytest.param(
            (
                "deploy",
                "cloud",
                "--dir",
                "site",
                "--domain",
                f"bad{BRACKETS}",
                "--broker-host",
                "h",
            ),
            id="deploy",
        ),
        pytest.param(("venue", "add", f"bad{BRACKETS}", "--name", "x"), id="venue"),
    ],
)
def test_an_error_keeps_its_brackets(args: tuple[str, ...]) -> None:
    code, out = yizhan(*args)
    assert code == 2
    assert out.startswith("error: ")
    assert f"bad{BRACKETS}" in out


def test_a_device_error_keeps_a_bracketed_path(tmp_path: Path) -> None:
    missing = tmp_path / BRACKETS / "door.toml"
    code, out = yizhan("device", "config", "check", str(missing))
    assert code == 2
    assert out == f"error: cannot read {missing}: No such file or directory\n"


def test_a_device_ok_line_keeps_a_bracketed_path(tmp_path: Path) -> None:
    pushable = tmp_path / BRACKETS / "door.toml"
    pushable.parent.mkdir()
    pushable.write_text("", encoding="utf-8")
    code, out = yizhan("device", "config", "check", str(pushable))
    assert code == 0, out
    assert str(pushable) in out


def test_a_backup_error_keeps_a_bracketed_path(tmp_path: Path) -> None:
    missing = tmp_path / BRACKETS / "backup.tar"
    code, out = yizhan("cloud", "verify-backup", str(missing))
    assert code == 2
    assert str(missing) in out


def test_a_member_wrote_line_keeps_a_bracketed_path(tmp_path: Path) -> None:
    keys = tmp_path / BRACKETS / "keys.json"
    code, out = yizhan(
        "member", "keys", "--key-file", str(tmp_path / "issuer.json"), "--out", str(keys)
    )
    assert code == 0, out
    assert f"wrote {keys}" in out


def _add_user(tmp_path: Path, *options: str, password: str) -> tuple[int, str]:
    return yizhan(
        "cloud", "user", "add", "alice", *options,
        "--password-stdin", "--data-dir", str(tmp_path),
        stdin=password + "\n",
    )  # fmt: skip


def test_a_short_password_is_one_line_saying_what_to_do(tmp_path: Path) -> None:
    code, out = _add_user(tmp_path, "--role", "technician", password="short")
    assert code == 2
    assert out == (
        "error: cannot add user 'alice': the password is too short: use at least 12 characters\n"
    )


def test_an_unknown_venue_is_one_line_that_keeps_its_brackets(tmp_path: Path) -> None:
    code, out = _add_user(
        tmp_path, "--role", "manager", "--venue", f"v{BRACKETS}", password="a long enough one"
    )
    assert code == 2
    assert out.count("\n") == 1
    assert f"'v{BRACKETS}'" in out


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"username": "bad name"}, "the username is not allowed: use 1-64 of A-Z a-z 0-9 _ . @ -"),
        ({"member_id": "m" * 25}, "the member id is too long: use at most 24 characters"),
        ({"password": "p" * 201}, "the password is too long: use at most 200 characters"),
    ],
)
def test_each_refused_field_is_one_line(change: dict[str, str], problem: str) -> None:
    from cloud.auth.cli import AddUserError, add_user  # noqa: PLC0415
    from cloud.auth.principal import Role  # noqa: PLC0415
    from cloud.settings import CloudSettings  # noqa: PLC0415

    fields = {"username": "alice", "member_id": "m-1", "password": "a long enough one"} | change
    with pytest.raises(AddUserError) as refused:
        add_user(
            CloudSettings(mode="development"),
            fields["username"],
            role=Role.MEMBER,
            venues=[],
            member_id=fields["member_id"],
            password=fields["password"],
        )
    assert str(refused.value) == f"cannot add user {fields['username']!r}: {problem}"
