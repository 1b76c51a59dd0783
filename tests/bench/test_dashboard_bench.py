"""`yizhan bench dashboard` runs every contender against one seeded database."""

from __future__ import annotations

from pathlib import Path

from yizhan.bench.dashboard import run_dashboard_bench

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
