"""The notification bench's short form: real scheduler, real ingest store, real robot."""

from __future__ import annotations

from yizhan.bench.dashboard_notify import measure_notify


def test_a_warm_reading_reaches_the_wecom_robot_within_the_jobs_intervals() -> None:
    result = measure_notify(None, 3, alert_interval_s=1.0, delivery_interval_s=0.2)

    assert result["notify_samples"] == 3
    p50, p95 = result["notify_p50_s"], result["notify_p95_s"]
    assert isinstance(p50, float)
    assert isinstance(p95, float)
    # Bounded by one evaluation interval plus one delivery interval, with room for load.
    assert 0 < p50 <= p95 < 1.0 + 0.2 + 3.0
    assert "every 1 s" in str(result["notify_bound"])
