"""deploy/pi: the install script stages the box's files, and systemd accepts the unit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import missing_service

PI = Path(__file__).resolve().parents[2] / "deploy" / "pi"
UNIT = "/etc/systemd/system/yizhan-edge.service"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")
# systemd-analyze security scores 0 (locked down) to 10 (exposed); 1.5 when written.
MAX_EXPOSURE = "2.0"


def unit_settings(text: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit, repeated keys kept in order."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def stage(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(PI / "install.sh"), "--root", str(root), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    result = stage(root)
    assert result.returncode == 0, result.stderr
    return root


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        missing_service("systemd-analyze is not installed (Debian package: systemd)")
    return found


def bootable(root: Path) -> Path:
    """The staged files plus what --root leaves out: systemd's own units and the venv."""
    target = root / SYSTEM_UNITS.relative_to("/")
    shutil.copytree(SYSTEM_UNITS, target, symlinks=True, dirs_exist_ok=True)
    settings = unit_settings((root / UNIT.lstrip("/")).read_text())
    for line in settings["ExecStart"] + settings.get("ExecStartPre", []):
        # The release's Python (current, previous); --root installs no release.
        executable = root / line.split()[0].lstrip("+").lstrip("/")
        executable.parent.mkdir(parents=True, exist_ok=True)
        executable.write_text("#!/bin/sh\n")
        executable.chmod(0o755)
    return root


def test_the_unit_passes_systemd_analyze_verify(staged: Path) -> None:
    analyze = systemd_analyze()
    root = bootable(staged)
    result = subprocess.run(
        [analyze, "verify", f"--root={root}", UNIT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # not even an ignored unknown key


def test_the_unit_is_locked_down(staged: Path) -> None:
    analyze = systemd_analyze()
    root = bootable(staged)
    result = subprocess.run(
        [analyze, "security", "--offline=yes", f"--root={root}", UNIT,
         f"--threshold={int(float(MAX_EXPOSURE) * 10)}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    assert "Overall exposure level" in result.stdout


def test_the_unit_says_what_the_issue_asks() -> None:
    unit = unit_settings((PI / "yizhan-edge.service").read_text())
    assert unit["Type"] == ["notify"]
    assert unit["Restart"] == ["always"]
    assert int(unit["WatchdogSec"][0]) >= 10
    assert unit["User"] == ["yizhan"]
    assert set(unit["SupplementaryGroups"][0].split()) >= {"gpio", "video", "dialout"}
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["ReadWritePaths"] == ["/var/lib/yizhan"]  # the data dir, and only it
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["CapabilityBoundingSet"] == [""]
    assert unit["DevicePolicy"] == ["closed"]
    # Never give up: a door that stopped restarting stays shut.
    assert unit["StartLimitIntervalSec"] == ["0"]


def test_install_stages_config_state_and_system_files(staged: Path) -> None:
    modes = {
        "etc/yizhan": 0o750,
        "etc/yizhan/edge.toml": 0o640,  # holds the provisioning password
        "var/lib/yizhan": 0o750,
        "etc/systemd/system/yizhan-edge.service": 0o644,
        "etc/udev/rules.d/60-yizhan.rules": 0o644,
        "etc/systemd/journald.conf.d/60-yizhan.conf": 0o644,
    }
    for path, mode in modes.items():
        assert (staged / path).stat().st_mode & 0o777 == mode, path
    journald = (staged / "etc/systemd/journald.conf.d/60-yizhan.conf").read_text()
    assert "SystemMaxUse=64M" in journald


def test_the_installed_config_is_a_valid_unclaimed_box(staged: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "yizhan", "edge", "check-config",
         str(staged / "etc/yizhan/edge.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=os.environ | {"COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "unclaimed box" in result.stderr
    assert "/var/lib/yizhan" in (staged / "etc/yizhan/edge.toml").read_text()


def test_install_again_keeps_an_edited_config(staged: Path) -> None:
    config = staged / "etc/yizhan/edge.toml"
    config.write_text(config.read_text() + "\n# edited on site\n")
    result = stage(staged)
    assert result.returncode == 0, result.stderr
    assert "keeping /etc/yizhan/edge.toml" in result.stdout
    assert config.read_text().endswith("# edited on site\n")


def test_a_wrong_option_is_refused_with_a_hint(tmp_path: Path) -> None:
    result = stage(tmp_path / "root", "--bogus")
    assert result.returncode != 0
    assert "unknown option '--bogus' (try --help)" in result.stderr


def test_an_rtc_is_loaded_at_boot_once_however_often_install_runs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for _ in range(2):
        result = stage(root, "--rtc", "ds3231")
        assert result.returncode == 0, result.stderr
    config = (root / "boot/firmware/config.txt").read_text()
    assert config.splitlines().count("dtoverlay=i2c-rtc,ds3231") == 1
    assert "rtc = true" in result.stdout


def test_an_unknown_rtc_is_refused_naming_the_ones_there_are(tmp_path: Path) -> None:
    result = stage(tmp_path / "root", "--rtc", "ds1307x")
    assert result.returncode != 0
    assert "unknown RTC 'ds1307x'; use one of: ds3231" in result.stderr
    assert not (tmp_path / "root/boot").exists()


def test_udev_rules_only_hand_devices_to_the_agents_groups() -> None:
    groups = set()
    for line in (PI / "60-yizhan.rules").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        pairs = [part.strip() for part in line.split(",")]
        assert all(("==" in p) or ("=" in p) for p in pairs), line
        for pair in pairs:
            if pair.startswith("GROUP="):
                groups.add(pair.split("=", 1)[1].strip('"'))
            if pair.startswith("MODE="):
                assert pair == 'MODE="0660"', line  # never world-accessible
    assert groups == {"gpio", "i2c", "video", "dialout", "spi", "audio"}
