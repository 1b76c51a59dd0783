"""What ingest notes from device messages: health, command results, refused configs, diagnostics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from cloud.devices.models import (
    Device,
    DeviceCommand,
    DeviceConfigRejection,
    DeviceDiagnostics,
    DeviceHealth,
    PendingBox,
)
from cloud.ingest.inbound import Inbound, classify
from cloud.ingest.store import IngestStore
from cloud.models import DeviceEvent, Reading, RejectedMessage
from protocol.device_config import rejected_event_data
from protocol.health import Diagnostics, Heartbeat

NOW = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
TS = "2025-05-01T02:59:00Z"


@pytest.fixture
def store(engine: Engine) -> IngestStore:
    store = IngestStore(engine, clock=lambda: NOW)
    store.write([events([event(1, "boot")])])  # registers d1 at v1, as the dev broker allows
    return store


def event(seq: int, kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"seq": seq, "ts": TS, "type": kind, "data": data or {}}


def events(items: list[dict[str, Any]], *, device: str = "d1") -> Inbound:
    payload = json.dumps({"v": 1, "device": device, "items": items}).encode()
    return classify(0, f"yz/v1/v1/{device}/event", payload)


def heartbeat(seq: int, uptime: int, keys: str = "u-2025") -> dict[str, Any]:
    beat = Heartbeat(uptime_s=uptime, outbox_depth=3, software="0.2", issuer_keys=keys)
    return event(seq, "device.heartbeat", beat.event_data())


def result(seq: int, command: str, *, ok: bool, status: str, detail: str = "") -> dict[str, Any]:
    data = {"command": command, "name": "unlock", "ok": ok, "status": status, "detail": detail}
    return event(seq, "command.result", data)


def set_status(engine: Engine, status: str, device: str = "d1") -> None:
    with Session(engine) as session:
        row = session.get(Device, device)
        assert row is not None
        row.status = status
        session.add(row)
        session.commit()


def add_command(
    engine: Engine, command_id: str, *, name: str = "unlock", published: bool = False
) -> None:
    with Session(engine) as session:
        session.add(
            DeviceCommand(
                command_id=command_id,
                device_id="d1",
                venue_id="v1",
                name=name,
                args={},
                issued_by="tom",
                issued_at=NOW,
                expires_at=NOW + timedelta(minutes=2),
                status="published",
                published_at=NOW if published else None,
            )
        )
        session.commit()


def status_of(engine: Engine, command_id: str) -> tuple[str, str | None]:
    with Session(engine) as session:
        row = session.get(DeviceCommand, command_id)
        assert row is not None
        return row.status, row.detail


def test_the_newest_heartbeat_by_seq_is_the_health(engine: Engine, store: IngestStore) -> None:
    store.write([events([heartbeat(10, 100, "u-2025,u-2026")])])
    store.write([events([heartbeat(5, 50), event(6, "device.heartbeat", {"uptime_s": -1})])])

    with Session(engine) as session:
        health = session.get(DeviceHealth, "d1")
        assert health is not None
        assert (health.seq, health.uptime_s, health.issuer_keys) == (10, 100, "u-2025,u-2026")
        stored = session.exec(select(func.count()).select_from(DeviceEvent)).one()
    assert stored == 4  # every heartbeat is kept as an event, the absurd one too

    store.write([events([heartbeat(11, 160)])])
    with Session(engine) as session:
        health = session.get(DeviceHealth, "d1")
        assert health is not None
        assert (health.seq, health.uptime_s) == (11, 160)


def test_a_command_result_moves_an_open_command_once(engine: Engine, store: IngestStore) -> None:
    add_command(engine, "c" * 32)
    add_command(engine, "f" * 32)

    store.write([events([result(2, "c" * 32, ok=True, status="done", detail="opened main")])])
    store.write([events([result(3, "c" * 32, ok=False, status="replayed")])])  # a QoS 1 repeat
    store.write([events([result(4, "f" * 32, ok=False, status="failed", detail="relay stuck")])])

    assert status_of(engine, "c" * 32) == ("done", "done: opened main")
    assert status_of(engine, "f" * 32) == ("failed", "failed: relay stuck")


def test_a_device_cannot_answer_for_another_ones_command(
    engine: Engine, store: IngestStore
) -> None:
    add_command(engine, "c" * 32)

    store.write([events([result(1, "c" * 32, ok=True, status="done")], device="d2")])

    assert status_of(engine, "c" * 32) == ("published", None)


def test_a_refused_config_keeps_its_reasons(engine: Engine, store: IngestStore) -> None:
    reasons = ["door.policy.hours: 25:00 is not a time", "kiosk.slots: unknown key"]
    store.write([events([event(20, "config.rejected", rejected_event_data(3, reasons))])])
    store.write([events([event(19, "config.rejected", rejected_event_data(2, ["old"]))])])

    with Session(engine) as session:
        row = session.get(DeviceConfigRejection, "d1")
        assert row is not None
        assert (row.version, row.errors, row.seq) == (3, reasons, 20)


def diagnostics(device: str = "d1", **extra: Any) -> Inbound:
    report = Diagnostics(
        device=device,
        command_id="d" * 32,
        ts=NOW,
        heartbeat=Heartbeat(uptime_s=5, outbox_depth=0),
        versions={"yizhan": "0.2", "python": "3.11"},
        logs=["started", "synced 120 members"],
    )
    payload = {**report.model_dump(mode="json"), **extra}
    return classify(0, f"yz/v1/v1/{device}/diag", json.dumps(payload).encode())


def test_a_diagnostics_report_is_stored_and_a_bad_one_refused(
    engine: Engine, store: IngestStore
) -> None:
    # A report is stored as the answer to a diagnostics command sent to that device.
    add_command(engine, "d" * 32, name="diagnostics", published=True)
    written = store.write([diagnostics(), diagnostics(versions="not a map")])

    assert (written.diagnostics, written.rejected) == (1, 1)
    with Session(engine) as session:
        (row,) = session.exec(select(DeviceDiagnostics)).all()
        refused = session.exec(select(RejectedMessage)).one()
    assert row.command_id == "d" * 32
    assert row.report["logs"] == ["started", "synced 120 members"]
    assert refused.topic == "yz/v1/v1/d1/diag"


def test_a_decommissioned_device_is_refused_but_its_wipe_answer_counts(
    engine: Engine, store: IngestStore
) -> None:
    add_command(engine, "w" * 32, name="wipe")
    set_status(engine, "decommissioned")
    telemetry = json.dumps(
        {
            "v": 1,
            "device": "d1",
            "items": [{"seq": 7, "ts": TS, "metric": "temperature_c", "value": 4.0}],
        }
    ).encode()

    written = store.write(
        [
            classify(0, "yz/v1/v1/d1/telemetry", telemetry),
            events([result(8, "w" * 32, ok=True, status="accepted")]),
            diagnostics(),
        ]
    )

    assert (written.stored, written.rejected, written.acks) == (0, 3, {})
    with Session(engine) as session:
        assert session.exec(select(Reading)).all() == []
        reasons = session.exec(select(RejectedMessage.reason)).all()
    assert all("decommissioned" in r for r in reasons)
    assert status_of(engine, "w" * 32)[0] == "done"


def test_a_claimed_device_online_as_itself_is_active_and_its_bundle_delivered(
    engine: Engine, store: IngestStore
) -> None:
    set_status(engine, "claimed")
    with Session(engine) as session:
        session.add(
            PendingBox(
                serial="abcdefghij",
                first_seen_at=NOW,
                last_seen_at=NOW,
                device_id="d1",
                claimed_at=NOW,
                sealed_bundle="{}",
            )
        )
        session.commit()

    store.write([events([heartbeat(30, 1)])])

    with Session(engine) as session:
        device = session.get(Device, "d1")
        box = session.get(PendingBox, "abcdefghij")
    assert device is not None
    assert device.status == "active"
    assert box is not None
    assert box.sealed_bundle is None  # the box has its credentials: the sealed copy goes
    assert box.delivered_at is not None


def test_a_device_ingest_meets_first_is_active(engine: Engine, store: IngestStore) -> None:
    with Session(engine) as session:
        device = session.get(Device, "d1")
    assert device is not None
    assert (device.status, device.credential_generation, device.role) == ("active", 0, None)


def fault(seq: int, part: str, problem: str | None = None) -> dict[str, Any]:
    if problem is None:
        return event(seq, "sensor.recovered", {"sensor": part})
    return event(seq, "sensor.fault", {"sensor": part, "problem": problem})


def open_faults(engine: Engine) -> list[tuple[str, str]]:
    from cloud.devices.views import device_detail  # noqa: PLC0415

    with Session(engine) as session:
        device = session.get(Device, "d1")
        assert device is not None
        return [(f.sensor, f.problem) for f in device_detail(session=session, device=device).faults]


def test_a_part_that_faults_is_in_the_devices_health_until_it_recovers(
    engine: Engine, store: IngestStore
) -> None:
    """The door's screen and speaker (and a hub's probes) say sensor.fault / sensor.recovered;
    the newest report per part is what a technician sees with the device."""
    store.write([events([fault(2, "door-screen", "door screen did not take a frame")])])
    store.write(
        [events([fault(3, "door-speaker", "aplay failed"), fault(4, "28-0001", "no probe")])]
    )
    assert open_faults(engine) == [
        ("28-0001", "no probe"),
        ("door-screen", "door screen did not take a frame"),
        ("door-speaker", "aplay failed"),
    ]
    store.write([events([fault(5, "door-screen")])])  # works again
    store.write([events([fault(1, "door-speaker")])])  # a late resend of an older report
    assert open_faults(engine) == [("28-0001", "no probe"), ("door-speaker", "aplay failed")]


def test_a_box_that_invents_parts_is_held_to_a_few(engine: Engine, store: IngestStore) -> None:
    from cloud.ingest.notes import MAX_FAULT_PARTS  # noqa: PLC0415

    names = [f"part-{n:03d}" for n in range(MAX_FAULT_PARTS + 20)]
    store.write([events([fault(10 + n, name, "x") for n, name in enumerate(names)])])
    store.write(
        [events([fault(200, "../../etc", "x"), fault(201, "", "x"), fault(202, "a" * 60, "x")])]
    )
    assert len(open_faults(engine)) == MAX_FAULT_PARTS
    with Session(engine) as session:
        stored = session.exec(select(func.count()).select_from(DeviceEvent)).one()
    assert stored == 1 + len(names) + 3  # every report is still kept as an event
