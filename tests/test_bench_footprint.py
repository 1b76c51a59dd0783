"""`yizhan bench footprint` in short, and what each role's start loads (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from yizhan.bench.footprint import box_config

# Builds one box through the real runner, as `yizhan edge run` does after loading its CLI,
# stops it as soon as the runner says it is ready, and prints the top-level packages
# loaded by then. argv: role, config file, "sim" (yizhan.simhw, as `edge run` picks it)
# or "stand-in" (a virtual camera and mock pins, without the simulated crowd and phones).
_BUILD = """
import json, sys, threading
from pathlib import Path

import yizhan.cli  # noqa: F401 - what `yizhan edge run` has loaded before it builds the box
from edge.clock import utc_now
from edge.runner import run_box

role, config, parts = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
stop = threading.Event()


class StopWhenReady:
    def ready(self, status): stop.set()
    def status(self, text): pass
    def watch(self, health): pass
    def stopping(self): pass


def stand_in(settings, resources):
    import numpy as np
    from gpiozero.pins.mock import MockFactory
    from edge.agent import BoxHardware
    from edge.sampler import Sensors
    from firmware_sim.camera import VirtualCamera

    camera = VirtualCamera(np.random.default_rng(1))
    pins = MockFactory()
    resources.callback(pins.close)
    if role == "door":
        from edge.door.runtime import DoorParts
        return BoxHardware(Sensors(), door=DoorParts(frame_source=camera, pin_factory=pins))
    from edge.kiosk.runtime import KioskBoxParts
    return BoxHardware(Sensors(), kiosk=KioskBoxParts(frame_source=camera, pin_factory=pins))


if parts == "sim":
    from yizhan.simhw import sim_hardware as factory
else:
    factory = stand_in
outcome = run_box(config, overrides={}, stop=stop, clock=utc_now,
                  hardware_for=lambda settings: factory, software=None, service=StopWhenReady())
assert outcome.ok, outcome.message
assert stop.is_set(), "the runner never said the box was ready"
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""
_KIOSK = (
    '\n[kiosk]\nkiosk_id = "k1"\nscreen_port = 0\n'
    "[kiosk.pins]\ndrop_sensor = 17\nmotors = { a = 22 }\n"
)


def _loaded(tmp_path: Path, role: str, *, parts: str) -> set[str]:
    """Top-level packages a ``role`` box has loaded once the runner has built it."""
    config = box_config(role, data_dir=tmp_path / "data", mqtt_port=1)
    text = config.config + (_KIOSK if role == "kiosk" else "")
    path = tmp_path / f"{role}.toml"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, role, str(path), parts],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_sensor_hub_loads_no_camera_code_and_no_cloud(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, "sensor-hub", parts="sim")
    assert "edge" in loaded  # the box was built: an empty set would pass the rest
    assert not {"cv2", "numpy", "zxingcpp", "qrcode"} & loaded
    assert not {"cloud", "pydantic_settings"} & loaded  # (pymodbus brings asyncio)


@pytest.mark.parametrize("role", ["door", "kiosk"])
def test_a_camera_role_loads_its_decoder_and_no_cloud(tmp_path: Path, role: str) -> None:
    loaded = _loaded(tmp_path, role, parts="stand-in")
    assert {"edge", "cv2", "zxingcpp"} <= loaded  # built, with the decoder it scans with
    # pydantic-settings brings asyncio and an argparse CLI: ~10 MB a box never uses.
    assert not {"cloud", "pydantic_settings", "asyncio"} & loaded


@pytest.mark.mosquitto
def test_the_bench_measures_both_boxes_and_prints_its_json_last() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "yizhan", "bench", "footprint", "--json", "--seconds", "3"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: a target missed
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bench"] == "footprint"
    assert result["seconds"] >= 3
    figures = ("door_rss_mb", "hub_rss_mb", "door_cpu_percent", "hub_cpu_percent")
    for key in figures:
        assert isinstance(result[key], float | int), key
        assert result[key] > 0, key
    assert set(result["met"]) == set(figures)
    assert all(isinstance(ok, bool) for ok in result["met"].values())
    assert result["meets_target"] == all(result["met"].values())
    assert done.returncode == (0 if result["meets_target"] else 1)
    assert result["targets"] == {"door_rss_mb": 100.0, "hub_rss_mb": 70.0, "cpu_percent": 5.0}
