"""`yizhan bench attacks` as a person runs it, short: every attack counted, none accepted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.mosquitto]

ATTACKS = {
    "cross_device_publish",
    "cross_device_subscribe",
    "client_id_takeover_device",
    "client_id_takeover_provision",
    "poison_seq",
    "hostile_payloads",
    "forged_checkin_points",
    "cross_role_redemption",
    "device_token_reads",
    "login_brute_force",
    "large_unauthenticated_body",
}


@pytest.mark.slow
def test_a_short_attack_run_prints_every_attack_with_none_accepted(
    migrated_pg_url: str, tmp_path: Path
) -> None:
    command = [
        sys.executable, "-m", "yizhan", "bench", "attacks", "--json",
        "--database-url", f"sqlite:///{tmp_path / 'cloud.db'}", "--database-url", migrated_pg_url,
        "--fuzz-messages", "24", "--flood-seconds", "2", "--login-guesses", "8",
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = [json.loads(line) for line in result.stdout.splitlines()[-2:]]

    assert [run["database"] for run in runs] == ["sqlite", "postgresql"]
    for run in runs:
        assert set(run["attacks"]) == ATTACKS
        for name, tally in run["attacks"].items():
            assert tally["attempts"] > 0, name
            assert tally["accepted"] == 0, (name, tally)
        assert run["attacks"]["hostile_payloads"]["attempts"] == 24
        assert run["attacks"]["login_brute_force"]["attempts"] == 9
        assert run["ingest_alive_after"] is True
        # The same requests from the right principal pass: the refusals are the checks.
        assert run["controls"] == {
            "kiosk_reserves_with_its_own_token": True,
            "user_signs_in_from_another_address": True,
        }
        # A stolen door's decisions are trusted, but only inside its offline window.
        assert 0 < run["stolen_door_checkins_paid"] <= run["stolen_door_window_days"] < 30
        assert run["witness_readings"] >= len(ATTACKS) - 2  # after every step and the flood
        assert run["flood_messages_sent"] > 0
        assert run["flood_rejections_counted"] == run["flood_messages_sent"]
        assert 0 <= run["flood_db_growth_mb"] <= 5
