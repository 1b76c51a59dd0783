"""`yizhan bench dashboard` runs every contender against one seeded database, and measures
what a busy venue's live updates cost a page."""

from __future__ import annotations

from pathlib import Path

from yizhan.bench.dashboard import measure_live_bytes, run_dashboard_bench
from yizhan.bench.dashboard_live import TARGET_BYTES_PER_MIN

CONTENDERS = (
    "api_venues_50",
    "overview_50",
    "overview_fragment",
    "overview_last_page",
    "overview_district",
    "venue_page",
    "alerts_page",
    "live_scan",
)


def test_each_page_is_timed_beside_the_api_list(tmp_path: Path) -> None:
    result = run_dashboard_bench(venues=60, rounds=2, database_url=None, data_dir=tmp_path)
    assert result["venues"] == 60
    assert result["database"] == "sqlite"
    for name in CONTENDERS:
        figures = result[name]
        assert figures["p50_ms"] > 0, name
        assert figures["p95_ms"] >= figures["p50_ms"], name
        assert figures["ratio_to_api_list"] is not None, name
    assert result["api_venues_50"]["ratio_to_api_list"] == 1.0
    assert result["overview_ratio"] == result["overview_50"]["ratio_to_api_list"]


def test_a_busy_venue_page_costs_less_than_the_target_a_minute() -> None:
    live = measure_live_bytes(None, seconds=12)
    # The page fetched its figures (at most one per 2-s gap), and nothing re-rendered it.
    assert 3 <= live["live_fetches"]["figures"] <= 6
    assert live["live_fetches"]["part:access"] == 1
    assert live["live_sse_bytes_per_min"] > 0
    assert 0 < live["live_bytes_per_min"] <= TARGET_BYTES_PER_MIN
