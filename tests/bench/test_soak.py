"""`yizhan bench soak` as a person runs it: a short soak prints its audit as the last line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.mosquitto]

SECONDS = 20
DEVICES = 6


@pytest.mark.slow
def test_short_soak_prints_the_audit_and_loses_nothing(pg_url: str, tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "yizhan", "bench", "soak", "--json",
        "--seconds", str(SECONDS), "--devices", str(DEVICES), "--database-url", pg_url,
    ]  # fmt: skip
    result = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SECONDS + 300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    soak = json.loads(result.stdout.splitlines()[-1])

    assert soak["seconds"] == SECONDS
    assert soak["devices"] == DEVICES
    assert soak["broker"] == "mosquitto"
    assert soak["database"] == "postgresql"
    assert set(soak["confirmed_per_agent"]) == {f"soak-{i:03d}" for i in range(DEVICES)}
    assert soak["issued"] == soak["stored"] == soak["readings_sent"] > 0
    assert soak["lost"] == 0
    assert soak["duplicates"] == 0
    assert soak["outside_issued"] == soak["rejected"] == soak["dropped"] == 0
    assert soak["unconfirmed_at_stop"] == 0
    assert soak["stored_per_s"] > 0
    assert soak["stored_rate_series"]
    assert set(soak["workers"]) == {"yz-ingest-a", "yz-ingest-b"}
    for worker in soak["workers"].values():
        assert worker["stored"] > 0
        assert worker["baseline_mib"] > 0
        assert worker["final_mib"] > 0
        assert isinstance(worker["growth"], float)
        assert len(worker["rss_mib"]) > 10
    assert sum(w["stored"] for w in soak["workers"].values()) == soak["stored"]
    assert soak["both_workers_stored"] is True
    assert soak["storage"]["rows"] > 0
    assert soak["storage"]["bytes_per_reading"] > 0
