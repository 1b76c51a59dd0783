"""`yizhan bench scan`'s screen-and-voice part, short: both doors decide every frame, the
screen shows every verdict and the idle count, and the JSON carries the issue's fields."""

from __future__ import annotations

import math
import shutil

from tests.fixtures import missing_service
from yizhan.bench.door_face import run_face_bench


def test_both_doors_decide_every_frame_and_the_screen_shows_each_verdict() -> None:
    if shutil.which("espeak-ng") is None:
        missing_service("espeak-ng is not installed (apt-get install espeak-ng)")
    result = run_face_bench(frames=6, seed=3, gap_s=0.05, idle_changes=2, show_s=1.0)
    assert result["decisions_screen_on"] == result["decisions_screen_off"] == 6
    for name in (
        "relay_p99_ms_screen_on",
        "relay_p99_ms_screen_off",
        "decision_to_screen_p99_ms",
        "idle_update_p99_ms",
    ):
        assert math.isfinite(result[name]), name
        assert result[name] > 0, name
    # Six verdicts (accepted and expired in turn, so each a new frame) and the idle screens.
    assert result["screen_frames"] >= 6 + 2
    assert result["voice_clips"] == "espeak-ng"
    assert result["face_problems"] == {}
