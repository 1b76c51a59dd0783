"""`yizhan bench footprint`: a door box's and a sensor hub's memory and idle CPU, as run.

Each box is a real `yizhan-edge` process (the box's service, as the unit runs it) on
firmware_sim hardware against a local Mosquitto on a free port. Once a box's retained
``online`` state reaches the broker, the window opens: its resident memory (VmRSS) is
read every second and its CPU (utime + stime from /proc/PID/stat) at both ends.

What is counted: the whole box process, so the simulated world in it counts too. In the
hub that is the venue rig (a Modbus TCP server, 1-wire and I²C files, beam pins); in the
door, the virtual camera, the simulated door and the crowd. The crowd comes once an hour
on average, so the door is idle, and the camera renders its empty scene once
(``yizhan.simhw.EMPTY_EXPOSURES`` exposures, shown in turn): what remains is the box's own
work, scanning 10 frames a second, with the simulator's frame drawing left out the way
`yizhan bench scan` leaves it out by replaying pre-rendered frames.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ops.broker.process import BrokerError, BrokerOptions, BrokerProcess, free_port

# The targets: a Pi Zero 2 W has 512 MB for the OS, the box and its page cache.
TARGETS: Final = {"door_rss_mb": 100.0, "hub_rss_mb": 70.0, "cpu_percent": 5.0}
VENUE: Final = "footprint"
_START_S: Final = 60.0  # from launch to the retained online state, on a slow shared machine
_STOP_S: Final = 30.0
_RSS_PERIOD_S: Final = 1.0
_LOG_LINE_CHARS: Final = 300
_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
_PINS: Final = (
    "relay = 5\ngreen_led = 6\nred_led = 13\nbuzzer = 19\ndoor_contact = 26\nexit_button = 20\n"
)


class FootprintError(RuntimeError):
    """A box did not come up or died while measured, or no broker started; one line."""


@dataclass(frozen=True, slots=True)
class Box:
    """One box to measure: its device id and the TOML that makes it what it is."""

    device: str
    config: str


@dataclass(slots=True)
class _Running:
    box: Box
    process: subprocess.Popen[bytes]
    log: Path
    rss_kb: list[int] = field(default_factory=list)

    def last_line(self) -> str:
        """What the box said last (its error, when it exited), for a one-line report."""
        lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return lines[-1][-_LOG_LINE_CHARS:] if lines else "(no output)"


def box_config(role: str, *, data_dir: Path, mqtt_port: int) -> Box:
    """A door box or a sensor hub on simulated hardware, sampling at its shipped interval."""
    device = "door-1" if role == "door" else "hub-1"
    head = (
        f'venue = "{VENUE}"\ndevice = "{device}"\nrole = "{role}"\n'
        f"data_dir = {jsonlib.dumps(str(data_dir))}\nmqtt_port = {mqtt_port}\n"
        'drain_on_stop_s = 1\n\n[hardware]\nkind = "sim"\nprofile = "worker-home"\n'
    )
    if role != "door":
        return Box(device, head)
    key = jsonlib.dumps(str(data_dir / "dev-issuer.json"))
    # One visitor an hour on average (the longest gap the settings allow): an idle door.
    door = (
        f"issuer_key_file = {key}\ncrowd_size = 1\ncrowd_gap_s = 3600\n\n"
        f'[door.policy]\ndoor_id = "main"\n\n[door.pins]\n{_PINS}'
    )
    return Box(device, head + door)


def _launch(box: Box, work: Path) -> _Running:
    folder = work / box.device
    folder.mkdir(parents=True)
    config = folder / "box.toml"
    config.write_text(box.config, encoding="utf-8")
    log = folder / "box.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI, fixed arguments
            # As deploy/pi/yizhan-edge.service runs a box: `yizhan-edge --config FILE`.
            [sys.executable, "-m", "yizhan.box", "--config", str(config)],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return _Running(box, process, log)


def _stop(running: _Running) -> None:
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGTERM)  # the CLI stops cleanly on it
        try:
            running.process.wait(timeout=_STOP_S)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()


class _OnlineWatch:
    """Subscribes to every box's state topic; a retained message there means it is up."""

    def __init__(self, host: str, port: int) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="yz-bench-footprint")
        self._client.on_message = self._on_message
        self._client.on_connect = lambda client, *_: client.subscribe(f"yz/v1/{VENUE}/+/state")
        self._client.connect(host, port)
        self._client.loop_start()

    def _on_message(self, _client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self._seen.add(message.topic.split("/")[3])

    def online(self, device: str) -> bool:
        with self._lock:
            return device in self._seen

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _wait(predicate: Callable[[], bool], *, boxes: list[_Running], timeout: float) -> None:
    """Until ``predicate`` holds; a box that exits meanwhile, or the deadline, is an error."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()  # never set: the bounded pause between checks
    while not predicate():
        for running in boxes:
            if running.process.poll() is not None:
                raise FootprintError(
                    f"the {running.box.device} box exited with code "
                    f"{running.process.returncode}: {running.last_line()}"
                )
        if time.monotonic() > deadline:
            raise FootprintError(f"the boxes were not online within {timeout:.0f} s")
        pause.wait(0.1)


def _cpu_ticks(pid: int) -> int:
    # Fields after the parenthesised command name; utime and stime are fields 14 and 15
    # of proc(5), the 12th and 13th after it.
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise FootprintError(f"process {pid} has no VmRSS (exited?)")


def _observe(boxes: list[_Running], seconds: float) -> tuple[list[float], float]:
    """Sample RSS over ``seconds``; each box's CPU seconds, and the wall time measured."""
    started = [_cpu_ticks(running.process.pid) for running in boxes]
    wall = time.monotonic()
    deadline = wall + seconds
    pause = threading.Event()  # never set: the pace of the RSS samples
    while True:
        for running in boxes:
            running.rss_kb.append(_rss_kb(running.process.pid))
        left = deadline - time.monotonic()
        if left <= 0:
            break
        pause.wait(min(_RSS_PERIOD_S, left))
    ended = [_cpu_ticks(running.process.pid) for running in boxes]
    cpu_s = [(end - start) / _CLOCK_TICKS for start, end in zip(started, ended, strict=True)]
    return cpu_s, time.monotonic() - wall


@contextlib.contextmanager
def _boxes(work: Path, roles: tuple[str, ...]) -> Iterator[list[_Running]]:
    """A broker and one box per role, all online; stopped and cleaned up on the way out."""
    with contextlib.ExitStack() as stack:
        broker = BrokerProcess(
            BrokerOptions(port=free_port(), data_dir=work / "broker", prefer="mosquitto")
        )
        try:
            broker.start()
        except BrokerError as exc:
            raise FootprintError(f"no broker for the boxes: {exc}") from exc
        stack.callback(broker.stop)
        watch = _OnlineWatch(broker.host, broker.port)
        stack.callback(watch.close)
        boxes = []
        for role in roles:
            box = box_config(role, data_dir=work / role / "data", mqtt_port=broker.port)
            running = _launch(box, work)
            stack.callback(_stop, running)
            boxes.append(running)
        devices = [running.box.device for running in boxes]
        _wait(lambda: all(map(watch.online, devices)), boxes=boxes, timeout=_START_S)
        yield boxes


def _mb(kb: int) -> float:
    return round(kb / 1024, 1)


def run_footprint(*, seconds: float) -> dict[str, Any]:
    """Start a door box and a sensor hub, measure them over ``seconds``, return the figures."""
    with tempfile.TemporaryDirectory(prefix="yz-footprint-") as tmp:
        work = Path(tmp)
        launched = time.monotonic()
        with _boxes(work, ("door", "sensor-hub")) as boxes:
            start_s = time.monotonic() - launched
            cpu_s, wall = _observe(boxes, seconds)
            for running in boxes:  # one that died in the window was not measured whole
                if running.process.poll() is not None:
                    raise FootprintError(
                        f"the {running.box.device} box exited while measured: {running.last_line()}"
                    )
    door, hub = boxes
    figures: dict[str, float] = {
        "door_rss_mb": _mb(max(door.rss_kb)),
        "hub_rss_mb": _mb(max(hub.rss_kb)),
        "door_cpu_percent": round(100 * cpu_s[0] / wall, 2),
        "hub_cpu_percent": round(100 * cpu_s[1] / wall, 2),
    }
    met = {
        "door_rss_mb": figures["door_rss_mb"] <= TARGETS["door_rss_mb"],
        "hub_rss_mb": figures["hub_rss_mb"] <= TARGETS["hub_rss_mb"],
        "door_cpu_percent": figures["door_cpu_percent"] <= TARGETS["cpu_percent"],
        "hub_cpu_percent": figures["hub_cpu_percent"] <= TARGETS["cpu_percent"],
    }
    return {
        "bench": "footprint",
        "seconds": round(wall, 1),
        **figures,
        "door_rss_mb_first": _mb(door.rss_kb[0]),
        "hub_rss_mb_first": _mb(hub.rss_kb[0]),
        "rss_samples": len(door.rss_kb),
        "start_s": round(start_s, 1),
        "rss": "peak VmRSS of the `yizhan-edge` process, simulated hardware included",
        "cpu": "utime + stime over the window, % of one core; idle door, empty frames pre-drawn",
        "targets": dict(TARGETS),
        "met": met,
        "meets_target": all(met.values()),
    }


def _human(result: dict[str, Any]) -> str:
    cpu_target = TARGETS["cpu_percent"]
    lines = [f"footprint over {result['seconds']} s; online {result['start_s']} s after launch"]
    lines += [
        f"  {key:4}: {result[f'{key}_rss_mb']} MB RSS (target {TARGETS[f'{key}_rss_mb']:g}), "
        f"{result[f'{key}_cpu_percent']} % of a core (target {cpu_target:g})"
        for key in ("door", "hub")
    ]
    missed = [name for name, ok in result["met"].items() if not ok]
    lines.append(f"  missed: {', '.join(missed)}" if missed else "  all targets met")
    return "\n".join(lines)


def main(*, json: bool, seconds: float) -> dict[str, Any]:
    """Print the figures for a person, then (with ``json``) the JSON as the last line."""
    result = run_footprint(seconds=seconds)
    out = _human(result)
    if json:
        out += "\n" + jsonlib.dumps(result)
    sys.stdout.write(out + "\n")
    sys.stdout.flush()
    return result
