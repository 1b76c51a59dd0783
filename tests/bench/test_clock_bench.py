"""``yizhan bench clock``, short form: the JSON the issue names, and a contender that fails."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from yizhan.bench.clock import run
from yizhan.cli import app


def test_bench_clock_prints_the_named_fields_and_meets_its_target() -> None:
    result = CliRunner().invoke(app, ["bench", "clock", "--json", "--valid", "12"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert [row["offset_s"] for row in figures["offsets"]] == [-172_800, -10_800, 0, 600]
    for row in figures["offsets"]:
        assert row["valid_admitted_ratio"] == 1.0
        assert row["stale_or_replayed_accepted"] == 0
        assert row["stale_or_replayed_presented"] > 0
        assert row["decisions_marked_unsynchronised"] == row["decisions_after_boot"]
    assert figures["met"] is True


def test_the_wall_clock_alone_locks_people_out_and_takes_old_screenshots() -> None:
    """The side-by-side contender shows the bench can fail: the door before trusted time."""
    rows = {row["offset"]: row["wall_clock"] for row in run(valid=12)["offsets"]}
    assert rows["-3h"]["valid_admitted_ratio"] == 0.0
    assert rows["+10min"]["valid_admitted_ratio"] == 0.0
    assert rows["-2d"]["stale_or_replayed_accepted"] > 0
    assert rows["0"]["valid_admitted_ratio"] == 1.0
