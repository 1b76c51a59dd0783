"""`yizhan-edge`, the box's service entry: lean, and a mistake is one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CLI_LIBRARIES = ("typer", "click", "rich", "pygments")


def test_the_service_entry_loads_none_of_the_command_line_libraries() -> None:
    code = (
        "import sys, yizhan.box, httpx\n"
        f"print(sorted(m for m in {CLI_LIBRARIES!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_bad_config_is_one_line_and_a_failure(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text('venue = "station-07"\nrole = "door"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "yizhan.box", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: "), result.stderr
    assert "[door]" in result.stderr
    assert "Traceback" not in result.stderr
