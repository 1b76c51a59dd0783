"""Pushed config: validated whole, kept on disk, reported, then a restart; or refused, untouched."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge.control.config import ConfigApplier
from edge.settings import AppliedConfig, SettingsLayers, read_applied, write_applied
from protocol.device_config import APPLIED_EVENT, REJECTED_EVENT, rejected_reasons
from protocol.topics import Kind, Topic

from .fakes import DEVICE, NOW, VENUE, Clock, EventLog

TOPIC = Topic(VENUE, DEVICE, Kind.CONFIG)
PINS = {"relay": 5, "green_led": 6, "red_led": 13, "buzzer": 19, "door_contact": 26,
        "exit_button": 20}  # fmt: skip


@dataclass
class Box:
    applier: ConfigApplier
    events: EventLog
    data_dir: Path
    restarts: list[int]

    def push(self, version: int, settings: dict[str, Any], **fields: Any) -> None:
        body = {
            "v": 1,
            "device": DEVICE,
            "version": version,
            "issued_at": NOW.isoformat(),
            "issued_by": "tech-li",
            "settings": settings,
        }
        self.applier(TOPIC, json.dumps(body | fields).encode())

    def rejected(self) -> list[dict[str, Any]]:
        return self.events.of(REJECTED_EVENT)


def door_layers(data_dir: Path) -> SettingsLayers:
    file = {
        "venue": VENUE,
        "device": DEVICE,
        "data_dir": str(data_dir),
        "role": "door",
        "door": {"policy": {"door_id": "main"}, "pins": PINS},
    }
    return SettingsLayers(file, data_dir=data_dir)


def build(tmp_path: Path, *, layers: bool = True, version: int = 0) -> Box:
    events, restarts = EventLog(), []
    applier = ConfigApplier(
        venue=VENUE,
        device=DEVICE,
        layers=door_layers(tmp_path) if layers else None,
        store=lambda v, s: write_applied(tmp_path, AppliedConfig(v, s)),
        version=version,
        events=events,
        on_applied=lambda: restarts.append(1),
        clock=Clock(),
    )
    return Box(applier, events, tmp_path, restarts)


@pytest.fixture
def box(tmp_path: Path) -> Box:
    return build(tmp_path)


def test_a_good_config_is_written_reported_and_restarts_the_agent(box: Box) -> None:
    policy = {"door_id": "main", "hours": ["mon-fri 07:00-22:00"]}
    box.push(3, {"sample_interval_s": 30, "door": {"policy": policy}})

    assert read_applied(box.data_dir) == AppliedConfig(
        3, {"sample_interval_s": 30, "door": {"policy": policy}}
    )
    assert box.events.of(APPLIED_EVENT) == [{"version": 3}]
    assert box.restarts == [1]
    assert box.applier.version == 3


def test_an_impossible_schedule_is_rejected_and_nothing_changes(box: Box) -> None:
    box.push(2, {"sample_interval_s": 30})
    box.push(3, {"door": {"policy": {"door_id": "main", "hours": ["mon-fri 25:00-26:00"]}}})

    [rejected] = box.rejected()
    assert rejected["version"] == 3
    assert "25:00" in rejected_reasons(rejected)[0]
    assert read_applied(box.data_dir) == AppliedConfig(2, {"sample_interval_s": 30})
    assert box.applier.version == 2
    assert box.restarts == [1]  # only for version 2


def test_what_only_the_box_can_check_is_rejected_with_every_problem(box: Box) -> None:
    box.push(4, {"sample_interval_s": 0.001, "batch_size": 9999})

    [rejected] = box.rejected()
    reasons = rejected_reasons(rejected)
    assert rejected["version"] == 4
    assert rejected["errors"] == 2
    assert reasons[0].startswith("sample_interval_s:")
    assert reasons[1].startswith("batch_size:")
    assert read_applied(box.data_dir) is None
    assert box.restarts == []


def test_a_key_the_box_keeps_for_itself_is_refused(box: Box) -> None:
    box.push(5, {"mqtt_host": "broker.evil.example"})

    [rejected] = box.rejected()
    assert rejected["version"] == 5
    assert "mqtt_host: is the box's own" in rejected_reasons(rejected)[0]
    assert read_applied(box.data_dir) is None


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_or_equal_version_is_ignored_quietly(tmp_path: Path, version: int) -> None:
    box = build(tmp_path, version=2)

    box.push(version, {"sample_interval_s": 30})

    assert box.events.events == []
    assert read_applied(tmp_path) is None


def test_a_retained_config_rejected_once_is_not_reported_again(box: Box) -> None:
    for _reconnect in range(3):
        box.push(3, {"sample_interval_s": 0.001})

    assert len(box.rejected()) == 1


@pytest.mark.parametrize(
    ("payload", "version", "hint"),
    [
        (b"{oops", 0, "not JSON"),
        (b'{"v": 1, "device": "door-01", "version": 7}', 7, "issued_at"),
        (b'{"v": 1, "device": "door-02", "version": 7}', 7, "device"),
        (b'{"v": 3}', 0, "schema version 3"),
    ],
)
def test_a_malformed_config_is_rejected_with_its_version_when_known(
    box: Box, payload: bytes, version: int, hint: str
) -> None:
    box.applier(TOPIC, payload)

    [rejected] = box.rejected()
    assert rejected["version"] == version
    assert hint in rejected_reasons(rejected)[0]


def test_a_cleared_retained_config_changes_nothing(box: Box) -> None:
    box.applier(TOPIC, b"")

    assert box.events.events == []


def test_a_config_for_another_device_is_ignored(box: Box) -> None:
    box.applier(Topic(VENUE, "door-02", Kind.CONFIG), b"{}")

    assert box.events.events == []


def test_without_settings_layers_a_pushed_config_is_refused(tmp_path: Path) -> None:
    box = build(tmp_path, layers=False)

    box.push(1, {"sample_interval_s": 30})

    [rejected] = box.rejected()
    assert "cannot apply pushed config" in rejected_reasons(rejected)[0]
    assert read_applied(tmp_path) is None
    assert box.restarts == []


def test_a_config_that_cannot_be_saved_is_reported_and_tried_again(tmp_path: Path) -> None:
    box = build(tmp_path)
    (tmp_path / "applied-config.json").mkdir()  # something in the way of the file

    box.push(3, {"sample_interval_s": 30})
    box.push(3, {"sample_interval_s": 30})

    assert [r["version"] for r in box.rejected()] == [3, 3]
    assert "check its disk" in rejected_reasons(box.rejected()[0])[0]
    assert box.restarts == []
