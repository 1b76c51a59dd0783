"""The factory claim code: made once, kept, renewed on request, never silently replaced."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from edge.provision.errors import ProvisionError
from edge.provision.factory import factory_path, load_or_create
from protocol.provisioning import ClaimCode


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_makes_a_private_file(tmp_path: Path) -> None:
    code = load_or_create(tmp_path / "box")

    path = factory_path(tmp_path / "box")
    assert _mode(path) == 0o600
    body = json.loads(path.read_text())
    assert (body["serial"], body["secret"]) == (code.serial, code.secret)
    assert ClaimCode.parse(code.text()) == code  # the label reads back


def test_later_starts_reuse_it(tmp_path: Path) -> None:
    assert load_or_create(tmp_path) == load_or_create(tmp_path)


def test_renew_keeps_the_serial_and_draws_a_new_secret(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)

    renewed = load_or_create(tmp_path, renew=True)

    assert renewed.serial == first.serial
    assert renewed.secret != first.secret
    assert load_or_create(tmp_path) == renewed
    assert _mode(factory_path(tmp_path)) == 0o600


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "Expecting property name"),
        ('{"v": 1, "serial": "abc"}', "serial or secret is missing"),
        ('{"v": 1, "serial": "ABCDEFGHIJ", "secret": "x"}', "is not 10 base32"),
        ("[]", "not a version 1 factory file"),
    ],
)
def test_a_corrupt_file_is_an_error_naming_the_file_and_the_fix(
    tmp_path: Path, content: str, why: str
) -> None:
    path = factory_path(tmp_path)
    path.write_text(content)

    with pytest.raises(ProvisionError) as raised:
        load_or_create(tmp_path)

    message = str(raised.value)
    assert str(path) in message
    assert why in message
    assert "yizhan device label" in message
    assert path.read_text() == content  # never replaced behind the label's back
    with pytest.raises(ProvisionError):
        load_or_create(tmp_path, renew=True)
