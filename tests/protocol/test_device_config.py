"""Desired config and commands: what the cloud may push, checked the same way on both sides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from protocol.codec import encode
from protocol.commands import (
    RestartCommand,
    RotateCredentialsCommand,
    UnlockCommand,
    WipeCommand,
    command_topic,
    decode_command,
)
from protocol.device_config import (
    DesiredConfig,
    config_problems,
    config_topic,
    decode_config,
    rejected_event_data,
    rejected_reasons,
)
from protocol.errors import PayloadError
from protocol.health import Heartbeat
from protocol.payloads import Event

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def test_an_impossible_schedule_is_refused_with_where_and_why() -> None:
    problems = config_problems(
        {"door": {"policy": {"door_id": "main", "hours": ["mon 25:00-26:00"]}}}
    )
    assert problems
    assert problems[0].startswith("door.policy.hours")
    assert "25:00" in problems[0]


def test_identity_and_wiring_are_not_pushable() -> None:
    problems = config_problems(
        {"mqtt_host": "evil.example", "venue": "x", "door": {"pins": {"relay": 5}}}
    )
    assert any(p.startswith("mqtt_host:") for p in problems)
    assert any(p.startswith("venue:") for p in problems)
    assert any(p.startswith("door.pins:") for p in problems)


def test_a_good_config_has_no_problems_and_round_trips() -> None:
    settings: dict[str, Any] = {
        "sample_interval_s": 30,
        "door": {"policy": {"door_id": "main", "hours": ["daily 06:00-23:00"], "capacity": 40}},
    }
    assert config_problems(settings) == []
    desired = DesiredConfig(
        device="d-1", version=3, issued_at=NOW, issued_by="tech", settings=settings
    )
    assert decode_config(config_topic("v-1", "d-1"), encode(desired)) == desired
    with pytest.raises(PayloadError, match="device"):
        decode_config(config_topic("v-1", "d-2"), encode(desired))


def test_oversized_settings_are_refused() -> None:
    assert "bytes as JSON" in config_problems({"door": {"note": "x" * 70_000}})[0]


def test_rejection_reasons_fit_in_an_event_and_come_back_in_order() -> None:
    problems = [f"problem {i} " + "y" * 300 for i in range(8)]
    data = rejected_event_data(4, problems)
    Event(seq=1, ts=NOW, type="config.rejected", data=data)  # fits the event model
    reasons = rejected_reasons(data)
    assert len(reasons) == 5
    assert reasons[0].startswith("problem 0")
    assert data["errors"] == 8


def _times(lifetime: timedelta) -> dict[str, Any]:
    return {"issued_at": NOW, "expires_at": NOW + lifetime, "issued_by": "tech"}


def test_each_command_has_its_own_longest_life() -> None:
    UnlockCommand(device="d-1", command_id="c" * 16, door="main", **_times(timedelta(minutes=10)))
    with pytest.raises(ValueError, match="at most 600 s"):
        UnlockCommand(device="d-1", command_id="c" * 16, door="main", **_times(timedelta(hours=1)))
    WipeCommand(device="d-1", command_id="c" * 16, **_times(timedelta(days=7)))
    with pytest.raises(ValueError, match="restart"):
        RestartCommand(device="d-1", command_id="c" * 16, **_times(timedelta(hours=2)))


def test_decode_command_picks_the_model_by_topic_and_checks_the_device() -> None:
    rotate = RotateCredentialsCommand(
        device="d-1",
        command_id="c" * 16,
        username="d-1",
        password="n" * 24,
        generation=2,
        **_times(timedelta(minutes=5)),
    )
    topic = command_topic("v-1", "d-1", "rotate-credentials")
    assert decode_command(topic, encode(rotate)) == rotate
    with pytest.raises(PayloadError, match="device"):
        decode_command(command_topic("v-1", "d-2", "rotate-credentials"), encode(rotate))
    with pytest.raises(PayloadError, match="not one of"):
        decode_command(command_topic("v-1", "d-1", "self-destruct"), b"{}")
    # The body of one command on another command's topic does not validate.
    with pytest.raises(PayloadError):
        decode_command(command_topic("v-1", "d-1", "unlock"), encode(rotate))


def test_heartbeat_fits_an_event() -> None:
    beat = Heartbeat(uptime_s=5, outbox_depth=0, cpu_temp_c=51.2, issuer_keys="u-1,u-2")
    Event(seq=1, ts=NOW, type="device.heartbeat", data=beat.event_data())
