"""Replicas started from one command line still get MQTT client ids of their own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ops.site.replicas import MAX_CLIENT_ID, replica_client_id


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        ("3f2a9c1b7d4e", "yz-ingest-3f2a9c1b7d4e"),  # what Docker names a container's host
        ("ingest.box.local", "yz-ingest-ingest-box-local"),
        ("x" * 100, ("yz-ingest-" + "x" * 100)[:MAX_CLIENT_ID]),
    ],
)
def test_replicas_get_client_ids_from_their_host_names(hostname: str, expected: str) -> None:
    assert replica_client_id("yz-ingest", hostname) == expected


def test_a_host_name_with_nothing_usable_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing usable"):
        replica_client_id("yz-ingest", "...")


def test_ingest_takes_its_client_id_from_one_place(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "yizhan", "cloud", "ingest", "--client-id", "yz-ingest-a",
         "--client-id-from-hostname"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "not both" in result.stderr
