"""A door box run as its service runs it (`python -m yizhan.box`), with a [door.screen]:
the screen draws (the service loads Pillow for it) and, with no broker, says it is offline."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers import wait_for
from yizhan.bench.footprint import box_config

_SCREEN = '\n[door.screen]\ndriver = "emulator"\nframes_dir = "{frames}"\nstation_zh = "测试驿站"\n'


def test_the_service_draws_the_door_screen_offline(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    box = box_config("door", data_dir=tmp_path / "data", mqtt_port=1)  # no broker there
    config = tmp_path / "door.toml"
    config.write_text(box.config + _SCREEN.format(frames=frames), encoding="utf-8")
    log = tmp_path / "box.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "yizhan.box", "--config", str(config)],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: any(frames.glob("frame-*.png")) or process.poll() is not None,
            timeout=90,
            message="the door's first frame",
        )
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    said = log.read_text(errors="replace")
    assert "Traceback" not in said, said[-3000:]
    assert "door-screen does not work" not in said
