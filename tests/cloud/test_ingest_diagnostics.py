"""Issue 15: a diagnostics report is stored only as the one answer to a command that asked."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from cloud.devices.models import DeviceCommand
from cloud.ingest.inbound import Inbound, classify
from cloud.ingest.store import IngestStore
from protocol.health import Diagnostics, Heartbeat
from tests.cloud.test_ingest_store import NOW, message, reading

ASKED = "a" * 32


@pytest.fixture
def store(engine: Engine) -> IngestStore:
    store = IngestStore(engine, clock=lambda: NOW)
    # Registers d1 and d2 at v1, as the development broker allows.
    store.write(
        [message("telemetry", [reading(1)]), message("telemetry", [reading(1)], device="d2")]
    )
    return store


def ask(
    engine: Engine,
    command_id: str = ASKED,
    *,
    device: str = "d1",
    name: str = "diagnostics",
    published: bool = True,
    status: str = "published",
) -> None:
    with Session(engine) as session:
        session.add(
            DeviceCommand(
                command_id=command_id,
                device_id=device,
                venue_id="v1",
                name=name,
                issued_by="tom",
                issued_at=NOW,
                expires_at=NOW + timedelta(minutes=2),
                status=status,
                published_at=NOW if published else None,
            )
        )
        session.commit()


def report(command_id: str = ASKED, *, device: str = "d1", log: str = "started") -> Inbound:
    body = Diagnostics(
        device=device,
        command_id=command_id,
        ts=NOW,
        heartbeat=Heartbeat(uptime_s=5, outbox_depth=0),
        versions={"yizhan": "0.2"},
        logs=[log],
    )
    return classify(0, f"yz/v1/v1/{device}/diag", body.model_dump_json().encode())


def stored(engine: Engine) -> list[tuple[str, str, list[str]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT device_id, command_id, report FROM device_diagnostics ORDER BY id")
        ).all()
    return [(r[0], r[1], _logs(r[2])) for r in rows]


def _logs(report: object) -> list[str]:
    data = json.loads(report) if isinstance(report, str) else report
    assert isinstance(data, dict)
    return list(data["logs"])


def refusals(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text('SELECT reason, "count" FROM rejected_message WHERE field_path = :f ORDER BY id'),
            {"f": "command_id"},
        ).all()
    return [(r[0], r[1]) for r in rows]


def test_a_report_nobody_asked_for_is_refused_and_counted(
    engine: Engine, store: IngestStore
) -> None:
    """A stolen box filled device_diagnostics at broker speed, one row per message."""
    written = store.write([report(), report("b" * 32)])

    assert (written.diagnostics, written.rejected) == (0, 2)
    assert stored(engine) == []
    ((reason, count),) = refusals(engine)  # one kind, counted: two unknown commands
    assert count == 2
    assert "answers no diagnostics command sent to device 'd1'" in reason


def test_the_answer_to_a_command_is_stored_once_and_a_flood_is_counted(
    engine: Engine, store: IngestStore
) -> None:
    ask(engine)
    first = store.write([report(log="first"), report(log="second")])
    flood = store.write([report(log=f"again {n}") for n in range(300)])

    assert (first.diagnostics, first.rejected) == (1, 1)
    assert (flood.diagnostics, flood.rejected) == (0, 300)
    assert stored(engine) == [("d1", ASKED, ["first"])]  # the first report is kept
    ((reason, count),) = refusals(engine)
    assert count == 301
    assert "has its report already" in reason


@pytest.mark.parametrize(
    "command",
    [
        {"device": "d2"},  # another box's command
        {"name": "unlock"},  # not a diagnostics command
        {"published": False, "status": "pending"},  # never sent: the box cannot know it
    ],
    ids=["another-device", "not-diagnostics", "unpublished"],
)
def test_a_report_must_answer_a_sent_diagnostics_command_of_its_own_device(
    engine: Engine, store: IngestStore, command: dict[str, object]
) -> None:
    ask(engine, **command)  # type: ignore[arg-type]
    written = store.write([report()])
    assert (written.diagnostics, written.rejected) == (0, 1)
    assert stored(engine) == []


def test_a_report_counts_after_its_command_result_and_after_expiry(
    engine: Engine, store: IngestStore
) -> None:
    """The box publishes the report directly and the result through its outbox, so either
    may arrive first; a broker that held the report while ingest was down delivers it late."""
    ask(engine, status="done")
    ask(engine, "c" * 32, status="expired")
    written = store.write([report(), report("c" * 32)])
    assert written.diagnostics == 2


def test_each_device_answers_for_itself(engine: Engine, store: IngestStore) -> None:
    ask(engine)
    ask(engine, "d" * 32, device="d2")
    written = store.write([report("d" * 32), report("d" * 32, device="d2")])

    assert (written.diagnostics, written.rejected) == (1, 1)
    assert stored(engine) == [("d2", "d" * 32, ["started"])]
