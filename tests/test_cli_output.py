"""What the CLI prints for a person: help without placeholders on flags, start and stop lines,
where the cloud listens, and the checks a technician runs on config files."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
from rich.console import Console

from ops.broker.process import free_port
from tests.helpers import wait_for
from tests.test_cli import yizhan
from yizhan.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "deploy" / "examples"
# The commands whose options this module's owner answers for (the others have their own tests).
OWN_MODULES = frozenset({"yizhan.cli", "yizhan.cli_bench"})


def test_check_config_pushable_accepts_the_shipped_policy_and_refuses_a_box_file(
    tmp_path: Path,
) -> None:
    policy = yizhan(
        "edge", "check-config", "--pushable", str(EXAMPLES / "door-policy.toml"), cwd=tmp_path
    )
    assert policy.returncode == 0, policy.stderr
    assert "pushable (door, sample_interval_s)" in policy.stderr
    box_file = yizhan(
        "edge", "check-config", "--pushable", str(EXAMPLES / "door.toml"), cwd=tmp_path
    )
    assert box_file.returncode == 2
    assert "door.toml cannot be pushed" in box_file.stderr
    assert "door.pins: is the box's own and cannot be pushed" in box_file.stderr


def test_check_config_points_a_pushable_file_to_pushable(tmp_path: Path) -> None:
    result = yizhan("edge", "check-config", str(EXAMPLES / "door-policy.toml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "check it with `yizhan edge check-config --pushable" in result.stderr
    box_file = yizhan("edge", "check-config", str(EXAMPLES / "door.toml"), cwd=tmp_path)
    assert box_file.returncode == 0, box_file.stderr


@pytest.mark.parametrize(
    "command", [[], ["edge", "run"], ["cloud", "ingest"], ["bench", "access"], ["demo"]]
)
def test_help_shows_no_type_on_flags(command: list[str], tmp_path: Path) -> None:
    result = yizhan(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "<bool>" not in result.stdout
    assert "--help" in result.stdout


def _own_commands(group: Any, path: str = "yizhan") -> list[tuple[str, Any]]:
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += _own_commands(command, f"{path} {name}")
        elif getattr(command.callback, "__module__", None) in OWN_MODULES:
            found.append((f"{path} {name}", command))
    return found


def test_every_option_of_our_commands_says_what_it_is() -> None:
    commands = _own_commands(typer.main.get_command(app))
    assert len(commands) > 10
    missing = [
        f"{path} {'/'.join(param.opts)}"
        for path, command in commands
        for param in command.params
        if param.param_type_name == "option" and not param.help
    ]
    assert missing == []


def test_cloud_data_dir_defaults_to_the_environment(tmp_path: Path) -> None:
    help_text = yizhan("cloud", "ingest", "--help", cwd=tmp_path).stdout
    assert "YZ_CLOUD_DATA_DIR" in help_text
    chosen = tmp_path / "from-env"
    env = {**os.environ, "YZ_CLOUD_DATA_DIR": str(chosen)}
    result = subprocess.run(
        [sys.executable, "-m", "yizhan", "cloud", "migrate"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (chosen / "cloud.db").exists()
    assert not (tmp_path / ".yizhan").exists()


def _start(args: list[str], cwd: Path, **env: str) -> subprocess.Popen[str]:
    """The command running, its stderr in cwd/stderr.txt (read while it runs)."""
    with (cwd / "stderr.txt").open("w", encoding="utf-8") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "yizhan", *args],
            cwd=cwd, env={**os.environ, **env}, stderr=stderr, stdout=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip


def _said(cwd: Path) -> str:
    return (cwd / "stderr.txt").read_text(encoding="utf-8")


def _stop(process: subprocess.Popen[str], cwd: Path) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=120)  # generous: CI runs four test workers on two cores
        except subprocess.TimeoutExpired:
            process.kill()  # never leave it running into the next test
            process.wait()
            raise AssertionError(f"it did not stop on Ctrl-C; it said:\n{_said(cwd)}") from None
    return _said(cwd)


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_cloud_serve_says_where_it_listens_and_uses_the_env_data_dir(tmp_path: Path) -> None:
    port = free_port()
    chosen = tmp_path / "from-env"
    process = _start(
        ["cloud", "serve", "--port", str(port)], tmp_path, YZ_CLOUD_DATA_DIR=str(chosen)
    )
    try:
        wait_for(lambda: "serving" in _said(tmp_path), timeout=60, message="no serving line")
        wait_for(lambda: _answers(port), timeout=30, message="cloud serve never listened")
    finally:
        said = _stop(process, tmp_path)
    assert (chosen / "cloud.db").exists()
    base = f"http://127.0.0.1:{port}"
    assert f"serving the dashboard at {base}/ and the API docs at {base}/docs" in said
    assert not (tmp_path / ".yizhan").exists()


def test_cloud_ingest_stops_with_a_summary_and_uses_the_env_data_dir(tmp_path: Path) -> None:
    chosen = tmp_path / "from-env"
    metrics = free_port()
    args = ["cloud", "ingest", "--mqtt-port", str(free_port()), "--metrics-port", str(metrics)]
    # No broker answers; the scheduled jobs are another test's business.
    process = _start(args, tmp_path, YZ_CLOUD_DATA_DIR=str(chosen), YZ_CLOUD_JOBS__ENABLED="false")
    try:  # the metrics port answers once ingest is up and listens for Ctrl-C
        wait_for(lambda: _answers(metrics), timeout=60, message="cloud ingest never started")
    finally:
        said = _stop(process, tmp_path)
    assert (chosen / "cloud.db").exists()
    assert "ingest stopped: 0 messages received, 0 items stored" in said
    assert "IngestStats(" not in said


def test_an_unclaimed_box_prints_its_claim_code_without_verbose(tmp_path: Path) -> None:
    (tmp_path / "box.toml").write_text(
        f'data_dir = "box"\n[provision]\nmqtt_host = "127.0.0.1"\nmqtt_port = {free_port()}\n'
        'username = "yz-provision"\npassword = "a-test-provisioning-password"\n',
        encoding="utf-8",
    )
    result = yizhan("edge", "run", "--config", "box.toml", "--duration", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "this box is not claimed yet; its claim code is YZC1-" in result.stderr
    assert "claim it with `yizhan device claim YZC1-" in result.stderr
    assert "edge stopped: before the box ran (not claimed yet)" in result.stderr


def test_a_box_says_what_it_runs_and_stops_with_a_summary(tmp_path: Path) -> None:
    result = yizhan(
        "edge", "run", "--venue", "v1", "--device", "d1", "--sim-profile", "library",
        "--data-dir", "box", "--mqtt-port", str(free_port()), "--sample-interval", "0.2",
        "--duration", "1", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "running: sensor-hub d1 at v1" in result.stderr
    assert "readings taken, 0 rows confirmed by the cloud" in result.stderr
    assert "AgentReport(" not in result.stderr


def test_the_demo_header_counts_venues_as_its_tally_does(tmp_path: Path) -> None:
    from edge.provision.factory import load_or_create  # noqa: PLC0415
    from yizhan.demo import DemoOptions, _announce, _fleet, _Logins  # noqa: PLC0415

    options = DemoOptions(duration_s=1, venues=3, data_dir=tmp_path, http_port=8000, speed=1)
    fleet = _fleet(options, 1883)
    out = io.StringIO()
    broker: Any = SimpleNamespace(kind="embedded", url="mqtt://127.0.0.1:1883")
    poster = "/m/join/v?p=tag"
    box = load_or_create(tmp_path / "box")
    logins = _Logins(password="pw", new_box=box, poster=poster, voice="40 prompts written")
    _announce(Console(file=out, width=200), broker, options, fleet, logins)
    venues = len({settings.venue for settings in fleet})  # as _tally counts them
    assert venues == 3
    assert f"— 3 venues, {len(fleet)} boxes," in out.getvalue()
    assert "worker app http://127.0.0.1:8000/m/" in out.getvalue()
    assert poster in out.getvalue()
    assert f"door       {tmp_path / 'door-screen'}/" in out.getvalue()
