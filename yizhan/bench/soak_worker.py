"""One `yizhan cloud ingest` worker as a child process: its memory, its counters, its clean stop."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ops.broker.process import BrokerProcess, free_port
from protocol.mqtt import stop_loop
from protocol.payloads import DeviceState
from protocol.topics import PREFIX

_STOP_TIMEOUT_S: Final = 60.0  # a worker finishes its batch and disconnects well within this
_SCRAPE_TIMEOUT_S: Final = 2.0
# What `cloud ingest` prints on stderr when it stops (cli_render.ingest_summary): "ingest
# stopped: 12 messages received, 30 items stored, 0 duplicates, 0 rejected[, 2 write errors…]".
_FINAL_RE: Final = re.compile(r"ingest stopped: (?P<summary>.*)")
_SUMMARY_WORDS: Final = {
    "messages received": "received",
    "items stored": "stored",
    "duplicates": "duplicates",
    "rejected": "rejected",
    "write errors": "write_errors",
}
_COUNTERS: Final = tuple(_SUMMARY_WORDS.values())
PROBE: Final = "soak-probe"  # venue and device of the subscription probe (not in the fleet)


@dataclass(frozen=True, slots=True)
class WorkerEndpoints:
    """Where the workers find their broker and database, and the group they share."""

    database_url: str
    mqtt_host: str
    mqtt_port: int
    group: str
    work_dir: Path


class IngestProcess:
    """``python -m yizhan cloud ingest --group …`` with ``/metrics`` on a free port."""

    def __init__(self, client_id: str, endpoints: WorkerEndpoints) -> None:
        self.client_id = client_id
        self.metrics_port = free_port()
        self.log = endpoints.work_dir / f"{client_id}.log"
        command = [
            sys.executable, "-m", "yizhan", "cloud", "ingest",
            "--data-dir", str(endpoints.work_dir / client_id),
            "--database-url", endpoints.database_url,
            "--mqtt-host", endpoints.mqtt_host,
            "--mqtt-port", str(endpoints.mqtt_port),
            "--client-id", client_id,
            "--group", endpoints.group,
            "--metrics-port", str(self.metrics_port),
        ]  # fmt: skip
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        self.final: dict[str, int] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_kb(self) -> int | None:
        """Resident memory now (VmRSS), or None once the process is gone."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return None

    def cpu_s(self) -> float | None:
        """User + system CPU seconds so far (fields 14 and 15 of /proc/<pid>/stat)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text(encoding="ascii")
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()  # the command name may contain spaces
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def metrics(self) -> dict[str, float]:
        """The worker's ``yizhan_ingest_*`` values; empty while it does not answer yet."""
        try:
            response = httpx.get(
                f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=_SCRAPE_TIMEOUT_S
            )
        except httpx.HTTPError:
            return {}
        values = {}
        for line in response.text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.split(" ", 1)
                values[name.removeprefix("yizhan_ingest_")] = float(value)
        return values

    def stop(self) -> dict[str, int]:
        """SIGTERM, wait for a clean exit, and return the counters the worker printed."""
        if self.final is not None:
            return self.final
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.final = self._printed_counters()
        return self.final

    def _printed_counters(self) -> dict[str, int]:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        found = _FINAL_RE.findall(text)
        if not found:
            return {}
        counts = {}
        for number, words in re.findall(r"(\d+) ([a-z ]+?)(?=,|$| \()", found[-1]):
            name = _SUMMARY_WORDS.get(words.strip())
            if name is not None:
                counts[name] = int(number)
        return counts

    def tail(self, lines: int = 20) -> str:
        """The end of the worker's log, for an error message."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def wait_subscribed(
    broker: BrokerProcess,
    workers: list[IngestProcess],
    *,
    timeout: float,
    check: Callable[[], None],
) -> None:
    """Return once every worker has received a message through the shared subscription.

    CONNACK comes before SUBACK, and the broker drops what arrives for a group nobody has
    joined yet; a state message that reaches a worker proves its filters are in place.
    The broker hands a group's messages out in turn, so probes reach every member.
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="yz-soak-probe")
    client.connect(broker.host, broker.port)
    client.loop_start()
    deadline = time.monotonic() + timeout
    pause = threading.Event()  # never set: the pause between probes
    try:
        for probe in itertools.count():
            check()
            if all(w.metrics().get("received_total", 0.0) > 0 for w in workers):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"ingest workers never all subscribed (waited {timeout:.0f}s)")
            state = DeviceState(v=1, device=PROBE, status="online", ts=_probe_time(probe))
            client.publish(f"{PREFIX}/{PROBE}/{PROBE}/state", state.model_dump_json(), qos=1)
            pause.wait(0.2)
    finally:
        client.disconnect()
        stop_loop(client)


def _probe_time(probe: int) -> datetime:
    # Each probe newer than the last, so ingest applies it (it keeps only newer states).
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=probe)
