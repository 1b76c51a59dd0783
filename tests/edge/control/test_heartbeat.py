"""The heartbeat's fields, read from the box: uptime, disk, CPU temperature, backlog, versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.control.heartbeat import (
    HeartbeatSources,
    cpu_temperature,
    heartbeat_event,
    key_ids,
    read_heartbeat,
)
from protocol.health import HEARTBEAT_EVENT

from .fakes import NOW, Clock


def sources(tmp_path: Path, *, thermal: Path, keys: str | None = "k1,k2") -> HeartbeatSources:
    return HeartbeatSources(
        started=NOW,
        data_dir=tmp_path,
        outbox_depth=lambda: 17,
        config_version=lambda: 4,
        credential_generation=lambda: 2,
        issuer_keys=lambda: keys,
        software="yizhan 0.6.0",
        thermal_path=thermal,
    )


def test_every_field_comes_from_the_box(tmp_path: Path) -> None:
    thermal = tmp_path / "temp"
    thermal.write_text("48312\n")
    clock = Clock()
    clock.advance(3725.9)

    beat = read_heartbeat(sources(tmp_path, thermal=thermal), now=clock())

    assert beat.software == "yizhan 0.6.0"
    assert beat.uptime_s == 3725
    assert beat.cpu_temp_c == pytest.approx(48.312)
    assert beat.outbox_depth == 17
    assert (beat.config_version, beat.credential_generation) == (4, 2)
    assert beat.issuer_keys == "k1,k2"
    assert beat.disk_total_mb is not None
    assert beat.disk_free_mb is not None
    assert 0 < beat.disk_free_mb <= beat.disk_total_mb


def test_a_box_without_a_thermal_sensor_leaves_the_temperature_out(tmp_path: Path) -> None:
    event = heartbeat_event(sources(tmp_path, thermal=tmp_path / "missing", keys=None), now=NOW)

    assert event.type == HEARTBEAT_EVENT
    assert "cpu_temp_c" not in event.data
    assert "issuer_keys" not in event.data  # a sensor hub holds no issuer keys
    assert event.data["uptime_s"] == 0


@pytest.mark.parametrize("text", ["", "hot", "999999", "-60000", "\xff"])
def test_an_unreadable_or_absurd_temperature_is_left_out(tmp_path: Path, text: str) -> None:
    thermal = tmp_path / "temp"
    thermal.write_text(text, encoding="latin-1")

    assert cpu_temperature(thermal) is None


def test_a_data_dir_that_is_gone_leaves_the_disk_out(tmp_path: Path) -> None:
    beat = read_heartbeat(sources(tmp_path / "gone", thermal=tmp_path / "missing"), now=NOW)

    assert (beat.disk_free_mb, beat.disk_total_mb) == (None, None)


def test_key_ids_are_sorted_and_cut_at_a_comma() -> None:
    assert key_ids(["u-2026", "u-2025"]) == "u-2025,u-2026"
    assert key_ids([]) == ""
    many = [f"key-{i:04d}" for i in range(40)]  # 40 x 9 chars: past the 200-char field

    text = key_ids(many)

    assert len(text) <= 200
    assert text.split(",") == many[: len(text.split(","))]
