"""`yizhan bench sdcard`: both sync modes over the same simulated day, side by side."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any, cast

from yizhan.bench.sdcard import Day, measure


def test_both_contenders_write_the_same_day_and_normal_syncs_far_less() -> None:
    day = Day(hours=2, entries=50)
    result = measure(day)
    normal, full = cast(list[dict[str, Any]], result["contenders"])
    assert (normal["synchronous"], full["synchronous"]) == ("NORMAL", "FULL")
    rounds_items = day.rounds * 10  # nine readings and a heartbeat a round
    for row in (normal, full):
        assert row["items_per_day"] == (rounds_items + day.entries) * 12  # scaled to 24 h
        assert row["bytes_written_per_day"] > 0
        assert row["log_bytes_per_day"] == 0  # a healthy day logs nothing at WARNING
    if shutil.which("strace") is not None:
        assert normal["syncs_per_day"] * 10 < full["syncs_per_day"]
        ratios = cast(dict[str, float], result["ratios"])
        assert ratios["syncs_per_day_normal_vs_full"] < 0.1


def test_the_command_prints_its_json_last() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "yizhan", "bench", "sdcard", "--json", "--hours", "0.5"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["bench"] == "sdcard"
    assert last["day"]["hours"] == 0.5
    assert [c["synchronous"] for c in last["contenders"]] == ["NORMAL", "FULL"]
