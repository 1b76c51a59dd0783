"""A pushable config from TOML: dates and times reach the box as the same values, the
shipped examples pass their checks, and claim --config / config push take them for real."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from protocol.device_config import config_problems, settings_from_toml
from protocol.door_policy import DoorPolicyConfig
from protocol.errors import PayloadError
from tests.fixtures.secure_broker import require_secure_mosquitto
from yizhan.bench.provision_world import (
    DOOR_WIRING,
    SecureCloud,
    new_box,
    secure_cloud,
    wait_pending,
)
from yizhan.cli_device import device_app

EXAMPLES = Path(__file__).parent.parent / "deploy" / "examples"
BOX_FILE = EXAMPLES / "door.toml"
PUSHABLE = EXAMPLES / "door-policy.toml"
TIMEOUT = 90.0
VENUE = "station-07"
DOOR = "station-07-door-1"


def _toml(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_a_dated_exception_means_the_same_day_after_json() -> None:
    settings = _toml(PUSHABLE)
    wire = json.loads(json.dumps(settings_from_toml(settings)))
    door, pushed = settings["door"], wire["door"]
    assert isinstance(door, dict)
    assert pushed["policy"]["exceptions"][0]["date"] == "2027-02-05"
    local = DoorPolicyConfig.model_validate(door["policy"])
    assert DoorPolicyConfig.model_validate(pushed["policy"]) == local
    assert local.exceptions[0].date == dt.date(2027, 2, 5)


def test_every_toml_value_type_becomes_json_or_is_refused() -> None:
    data = tomllib.loads(
        "at = 2027-02-05T08:00:00+08:00\nlocal = 2027-02-05T08:00:00\nt = 07:30:00\n"
        "[s]\nlist = [2027-02-05, 1.5, true]\n"
    )
    assert json.loads(json.dumps(settings_from_toml(data))) == {
        "at": "2027-02-05T08:00:00+08:00",
        "local": "2027-02-05T08:00:00",
        "t": "07:30:00",
        "s": {"list": ["2027-02-05", 1.5, True]},
    }
    with pytest.raises(PayloadError, match=r"door\.pulse_s: nan cannot be pushed"):
        settings_from_toml(tomllib.loads("[door]\npulse_s = nan\n"))


def test_the_shipped_pushable_example_passes_the_clouds_checks() -> None:
    assert config_problems(settings_from_toml(_toml(PUSHABLE))) == []


def device(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run `yizhan device …` in this process; (exit code, all output)."""
    result = CliRunner().invoke(device_app, list(args), env={"COLUMNS": "200", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash, not an error the CLI reported
    return result.exit_code, result.output


def test_both_shipped_examples_pass_their_checks() -> None:
    from yizhan.cli import app  # noqa: PLC0415 - the root app, for `edge check-config`

    result = CliRunner().invoke(app, ["edge", "check-config", str(BOX_FILE)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output
    code, out = device("config", "check", str(PUSHABLE))
    assert code == 0, out
    assert "pushable (door, sample_interval_s)" in out
    code, out = device("config", "check", str(PUSHABLE), "--box", str(BOX_FILE))
    assert code == 0, out
    assert "door.toml takes it" in out


def test_a_box_file_is_not_pushable_and_says_where_to_check_it() -> None:
    code, out = device("config", "check", str(BOX_FILE))
    assert code == 2
    assert "venue: is the box's own" in out
    assert "door.pins: is the box's own" in out
    assert "yizhan edge check-config" in out


@pytest.fixture
def cloud(tmp_path: Path, db_url: str) -> Iterator[SecureCloud]:
    require_secure_mosquitto()
    with secure_cloud(tmp_path, database_url=db_url) as running:
        yield running


def test_claim_and_push_the_shipped_examples(cloud: SecureCloud) -> None:
    env = {"YIZHAN_CLOUD_URL": cloud.api_url, "YIZHAN_TOKEN": cloud.token}
    door = new_box(cloud, "door-box", hardware='kind = "sim"', wiring=DOOR_WIRING)
    door.power_on()
    try:
        wait_pending(cloud, door.code.serial, timeout=TIMEOUT)
        claim = ("claim", door.code.text(), "--venue", VENUE, "--role", "door", "--device-id", DOOR)
        code, out = device(*claim, "--config", str(BOX_FILE), env=env)
        assert code == 2, out  # refused, not a crash: its identity and wiring are its own
        assert "cannot be pushed" in out
        code, out = device(*claim, "--config", str(PUSHABLE), "--wait", str(TIMEOUT), env=env)
        assert code == 0, out
        assert f"is now {DOOR}" in out

        code, out = device("config", "push", DOOR, str(PUSHABLE), "--wait", str(TIMEOUT), env=env)
        assert code == 0, out
        assert f"applied: {DOOR} runs config version 2" in out
        code, out = device("config", "push", DOOR, str(BOX_FILE), env=env)
        assert code == 2, out
        assert "venue: is the box's own" in out
        code, out = device("list", env=env)
        assert code == 0, out
        assert DOOR in out  # whole, though the output is not a terminal
    finally:
        door.power_off()
