"""The agent's control plane: commands end or change a run, config restarts it, heartbeats flow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from edge.control.seen import adopt_legacy
from edge.provision.identity import IDENTITY_FILE
from edge.settings import AppliedConfig, read_applied
from ops.broker.process import free_port
from protocol.commands import RESULT_EVENT
from protocol.device_config import APPLIED_EVENT, REJECTED_EVENT, rejected_reasons
from protocol.health import HEARTBEAT_EVENT
from protocol.topics import Kind, Topic

from .agent_box import Hardware, Running, box_file, claim, start, utc_now
from .fakes import DEVICE, VENUE, command_fields


@pytest.fixture
def hardware() -> Iterator[Hardware]:
    hw = Hardware()
    yield hw
    hw.factory.close()


@pytest.fixture
def running() -> Iterator[list[Running]]:
    """Agents a test started; stopped and closed after it, whatever happened."""
    started: list[Running] = []
    yield started
    for run in started:
        run.stop.set()
        run.thread.join(timeout=30)
        run.agent.close()


def send(run: Running, name: str, **overrides: object) -> None:
    """Deliver a command as the uplink would: on the box's own cmd topic, issued now."""
    now = utc_now()
    fields = command_fields(name, issued_at=now, expires_at=now + timedelta(minutes=1))
    payload = json.dumps(fields | overrides, default=str).encode()
    run.agent.control.commands(Topic(VENUE, DEVICE, Kind.CMD, name), payload)


def push(run: Running, version: int, settings: dict[str, object]) -> None:
    body = {"v": 1, "device": DEVICE, "version": version, "issued_at": utc_now().isoformat(),
            "issued_by": "tech-li", "settings": settings}  # fmt: skip
    run.agent.control.config(Topic(VENUE, DEVICE, Kind.CONFIG), json.dumps(body).encode())


def test_a_stopped_agent_says_so(
    tmp_path: Path, hardware: Hardware, running: list[Running]
) -> None:
    run = start(box_file(tmp_path, port=free_port()), hardware=hardware)
    running.append(run)

    run.stop.set()

    assert run.report().outcome == "stopped"


def test_a_restart_command_is_answered_then_ends_the_run(
    tmp_path: Path, hardware: Hardware, running: list[Running]
) -> None:
    run = start(box_file(tmp_path, port=free_port()), hardware=hardware)
    running.append(run)

    send(run, "restart")

    assert run.report().outcome == "restart"
    [result] = run.events(RESULT_EVENT)
    assert (result["data"]["command"], result["data"]["status"]) == ("restar-0001", "done")


def test_a_heartbeat_is_written_right_after_start(
    tmp_path: Path, hardware: Hardware, running: list[Running]
) -> None:
    thermal = tmp_path / "thermal"
    thermal.write_text("51000\n")
    file = box_file(tmp_path / "box", port=free_port(), role="door")
    run = start(file, hardware=hardware, identity=claim(tmp_path / "box"), thermal_path=thermal)
    running.append(run)

    [beat] = run.wait_event(HEARTBEAT_EVENT)

    data = beat["data"]
    assert data["software"] == "yizhan test"
    assert data["cpu_temp_c"] == 51.0
    assert data["credential_generation"] == 1
    assert data["config_version"] == 0
    assert data["issuer_keys"] == ""  # a door that has not synced its keys yet
    assert data["disk_total_mb"] >= data["disk_free_mb"] > 0
    assert data["outbox_depth"] >= 0


def test_a_sensor_hub_heartbeat_has_no_keys_and_no_missing_temperature(
    tmp_path: Path, hardware: Hardware, running: list[Running]
) -> None:
    run = start(box_file(tmp_path, port=free_port()), hardware=hardware,
                thermal_path=tmp_path / "no-such-file")  # fmt: skip
    running.append(run)

    [beat] = run.wait_event(HEARTBEAT_EVENT)

    assert "issuer_keys" not in beat["data"]
    assert "cpu_temp_c" not in beat["data"]


def test_a_good_config_is_applied_and_restarts_the_agent(
    tmp_path: Path, hardware: Hardware, running: list[Running]
) -> None:
    run = start(box_file(tmp_path, port=free_port()), hardware=hardware)
    running.append(run)

    push(run, 2, {"sample_interval_s": 30})

    assert run.report().outcome == "restart"
    assert read_applied(tmp_path) == AppliedConfig(2, {"sample_interval_s": 30})
    assert [e["data"] for e in run.events(APPLIED_EVENT)] == [{"version": 2}]


def test_a_bad_config_is_rejected_and_the_agent_keeps_running(
    tmp_path: Path, hardware: Hardware, running: list[Running]
) -> None:
    run = start(box_file(tmp_path, port=free_port(), role="door"), hardware=hardware)
    running.append(run)
    push(run, 2, {"sample_interval_s": 30})
    run.report()
    run.agent.close()
    running.clear()

    again = start(box_file(tmp_path, port=free_port(), role="door"), hardware=hardware)
    running.append(again)
    push(again, 3, {"door": {"policy": {"door_id": "main", "hours": ["mon-fri 25:00-26:00"]}}})

    [rejected] = again.events(REJECTED_EVENT)
    assert rejected["data"]["version"] == 3
    assert "'25:00' is not a time" in rejected_reasons(rejected["data"])[0]
    assert read_applied(tmp_path) == AppliedConfig(2, {"sample_interval_s": 30})
    assert again.thread.is_alive()
    assert not again.agent.control.lifecycle.asked
    again.stop.set()
    assert again.report().outcome == "stopped"


def test_an_agent_without_layers_refuses_pushed_config(
    tmp_path: Path, hardware: Hardware, running: list[Running]
) -> None:
    run = start(box_file(tmp_path, port=free_port()), hardware=hardware, with_layers=False)
    running.append(run)

    push(run, 1, {"sample_interval_s": 30})

    [rejected] = run.events(REJECTED_EVENT)
    assert "cannot apply pushed config" in rejected_reasons(rejected["data"])[0]
    assert read_applied(tmp_path) is None
    assert run.thread.is_alive()


def test_a_wipe_removes_the_door_caches_and_the_identity(
    tmp_path: Path, hardware: Hardware, running: list[Running]
) -> None:
    identity = claim(tmp_path)
    run = start(box_file(tmp_path, port=free_port(), role="door"), hardware=hardware,
                identity=identity)  # fmt: skip
    running.append(run)
    access = tmp_path / f"{DEVICE}-access"
    assert (access / "members.db").exists()

    send(run, "wipe")

    assert run.report().outcome == "wiped"
    assert not access.exists()
    assert not (tmp_path / IDENTITY_FILE).exists()
    [result] = run.events(RESULT_EVENT)
    assert result["data"]["status"] == "done"
    assert f"wiped {DEVICE}-access; forgot the identity" == result["data"]["detail"]


def test_unlock_on_a_sensor_hub_is_refused_and_the_agent_carries_on(
    tmp_path: Path, hardware: Hardware, running: list[Running]
) -> None:
    run = start(box_file(tmp_path, port=free_port()), hardware=hardware)
    running.append(run)

    send(run, "unlock")
    send(run, "unlock")

    results = [e["data"] for e in run.events(RESULT_EVENT)]
    assert [r["status"] for r in results] == ["refused", "replayed"]
    assert "this box is a sensor-hub and has no door" in results[0]["detail"]
    assert run.thread.is_alive()


def test_an_older_box_keeps_the_unlock_ids_it_executed(tmp_path: Path) -> None:
    legacy = tmp_path / f"{DEVICE}-access" / "commands.db"
    legacy.parent.mkdir()
    legacy.write_bytes(b"ids")
    (tmp_path / f"{DEVICE}-access" / "commands.db-wal").write_bytes(b"wal")
    new = tmp_path / f"{DEVICE}-commands.db"

    adopt_legacy(new, legacy=legacy)

    assert new.read_bytes() == b"ids"
    assert (tmp_path / f"{DEVICE}-commands.db-wal").read_bytes() == b"wal"
    assert not legacy.exists()
