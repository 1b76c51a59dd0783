"""`yizhan bench drain` in a short form: a door box's backlog and a small fleet's, both emptied
through a real broker and ingest worker, every seq stored once, the door deciding meanwhile."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from yizhan.bench.drain import DrainOptions, run_drain_bench
from yizhan.cli import app

FIELDS = {
    "readings", "drain_s", "readings_per_s", "door_decisions", "door_p99_ms", "database",
    "boxes", "fleet_readings", "fleet_drain_s", "lost", "duplicates_stored", "left",
    "meets_target",
}  # fmt: skip
SMALL = DrainOptions(
    readings=3_000,
    door_rate=50.0,  # several decisions even in a drain of a fraction of a second
    door_baseline_s=0.2,
    fleet_boxes=5,
    fleet_processes=1,
    workers=1,
    timeout_s=120.0,
)


@pytest.mark.slow  # ~10 s, 18 s on a busy machine: three child processes start
@pytest.mark.mosquitto
def test_every_outbox_empties_with_every_seq_stored_once_while_the_door_decides() -> None:
    result = run_drain_bench(SMALL)
    assert set(result) >= FIELDS
    assert result["database"] == "sqlite"
    assert result["left"] == 0
    assert result["lost"] == 0
    assert result["duplicates_stored"] == 0
    # The backlogs, the door's decisions and the box's own round of readings are all in.
    assert result["stored"] > result["readings"] + result["fleet_readings"]
    assert result["boxes"] == 5
    assert result["fleet_readings"] == 5 * 540
    assert result["door_decisions"] > 0
    assert result["door_refused"] == 0
    assert result["meets_target"] is None  # the target is for 100,000 on PostgreSQL


def test_a_sqlite_database_url_is_a_one_line_error() -> None:
    outcome = CliRunner().invoke(
        app, ["bench", "drain", "--database-url", "sqlite:///elsewhere.db", "--fleet-boxes", "0"]
    )
    assert outcome.exit_code == 2
    assert outcome.output.strip().splitlines() == [
        (
            "error: cannot use sqlite:///elsewhere.db: --database-url names a PostgreSQL "
            "server to make a fresh database beside; for SQLite give none (a fresh file is used)"
        )
    ]
