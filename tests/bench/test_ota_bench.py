"""The short form of `yizhan bench ota`: three boxes (one a door) take the three rollouts.

The figures are the bench's to judge (`yizhan bench ota --json`); here they must make sense.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from yizhan.bench.ota import OtaOptions, run


@pytest.mark.slow
@pytest.mark.mosquitto
def test_a_small_fleet_takes_a_good_a_bad_and_a_one_wheel_release(tmp_path: Path) -> None:
    options = OtaOptions(boxes=3, doors=1, soak_s=0.5, health_deadline_s=15)
    figures = run(tmp_path, database_url=None, options=options)
    assert figures["boxes"] == 3
    assert figures["good_status"] == "done"
    assert figures["good_running"] == 3
    assert figures["bad_status"] == "stopped"  # it stopped itself at the threshold
    assert figures["bad_updated_before_stop"] == 1  # the first stage, one box
    assert figures["bad_rolled_back"] == 1
    assert figures["bad_left_broken"] == 0
    assert figures["one_wheel_status"] == "done"
    assert 0 < figures["one_wheel_bytes_per_box"] < figures["full_bytes_per_box"] / 20
    assert figures["decisions_lost"] == 0
    assert figures["max_door_gap_s"] > 0  # the door decided before and after its switches
