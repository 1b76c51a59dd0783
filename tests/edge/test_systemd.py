"""systemd's notify protocol over a real datagram socket, and a watchdog fed only while well."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.scan.scanner import Scanner
from edge.systemd import (
    NoService,
    Notifier,
    SystemdService,
    service_from_environ,
    watchdog_interval,
)
from ops.broker.process import free_port
from tests.helpers import wait_for
from yizhan.journal import JournalFormatter

TIMEOUT = 30.0


class NotifySocket:
    """What systemd listens on: a datagram socket; the messages it got, in order."""

    def __init__(self, address: str) -> None:
        self.address = address
        bind_to = "\0" + address[1:] if address.startswith("@") else address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(bind_to)
        self._socket.settimeout(0.05)
        self.messages: list[dict[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._socket.recv(4096)
            except TimeoutError:
                continue
            lines = data.decode().split("\n")
            self.messages.append(dict(line.split("=", 1) for line in lines))

    def with_key(self, key: str) -> list[dict[str, str]]:
        return [m for m in list(self.messages) if key in m]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(str(tmp_path / "notify"))
    yield listener
    listener.close()


def test_messages_reach_a_path_socket(notify_socket: NotifySocket) -> None:
    notifier = Notifier(notify_socket.address)
    assert notifier.send(ready="1", status="door d-1 at station-07")
    wait_for(lambda: notify_socket.messages, timeout=TIMEOUT, message="no datagram arrived")
    assert notify_socket.messages[0] == {"READY": "1", "STATUS": "door d-1 at station-07"}
    notifier.close()


def test_messages_reach_an_abstract_socket() -> None:
    listener = NotifySocket(f"@yizhan-test-{uuid.uuid4().hex}")
    try:
        notifier = Notifier(listener.address)
        assert notifier.send(watchdog="1")
        wait_for(lambda: listener.messages, timeout=TIMEOUT, message="no datagram arrived")
        assert listener.messages == [{"WATCHDOG": "1"}]
        notifier.close()
    finally:
        listener.close()


def test_a_gone_socket_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(str(tmp_path / "nobody-listens"))
    with caplog.at_level(logging.WARNING):
        assert notifier.send(ready="1") is False
    assert "could not tell systemd" in caplog.text
    notifier.close()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # someone else's
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
    ],
)
def test_the_watchdog_interval_is_half_of_what_systemd_gives(
    environ: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval(environ, pid=4242) == expected


def test_outside_systemd_there_is_nothing_to_tell() -> None:
    assert isinstance(service_from_environ({}), NoService)


def test_a_well_box_feeds_the_watchdog(notify_socket: NotifySocket) -> None:
    service = SystemdService(Notifier(notify_socket.address), ping_every_s=0.02)
    service.watch(list)  # healthy: nothing wrong
    service.ready("hub h-1 at station-07")
    wait_for(
        lambda: len(notify_socket.with_key("WATCHDOG")) >= 3,
        timeout=TIMEOUT,
        message="the watchdog was not fed",
    )
    assert notify_socket.messages[0] == {"READY": "1", "STATUS": "hub h-1 at station-07"}
    service.stopping()
    wait_for(lambda: notify_socket.with_key("STOPPING"), timeout=TIMEOUT, message="no STOPPING=1")


def test_an_unwell_box_is_not_fed_and_says_why(notify_socket: NotifySocket) -> None:
    problems: list[str] = []
    service = SystemdService(Notifier(notify_socket.address), ping_every_s=3600)
    service.watch(lambda: list(problems))
    assert service.problems() == []
    problems.append("door-scan stopped")
    assert service.problems() == ["door-scan stopped"]

    def broken() -> list[str]:
        raise OSError("cannot read /proc")

    service.watch(broken)  # a health check that itself breaks is a problem too
    assert service.problems()[0].startswith("health check failed")
    service.watch(None)  # between agents: being alive is enough
    assert service.problems() == []
    service.stopping()


def test_the_feeder_withholds_pings_while_unwell(notify_socket: NotifySocket) -> None:
    unwell = threading.Event()
    service = SystemdService(Notifier(notify_socket.address), ping_every_s=0.02)
    service.watch(
        lambda: ["the camera loop has not come round for 45 s"] if unwell.is_set() else []
    )
    service.ready("door")
    wait_for(lambda: notify_socket.with_key("WATCHDOG"), timeout=TIMEOUT, message="no ping")
    unwell.set()
    wait_for(
        lambda: any(m.get("STATUS", "").startswith("unwell") for m in notify_socket.messages),
        timeout=TIMEOUT,
        message="the unwell status never came",
    )
    pings = len(notify_socket.with_key("WATCHDOG"))
    # Once the unwell status is out, no ping follows it: wait for ten more feeder rounds.
    rounds = threading.Event()
    rounds.wait(0.2)  # a bounded observation window, not a wait for something to happen
    assert len(notify_socket.with_key("WATCHDOG")) <= pings + 1  # one may have been in flight
    unwell.clear()
    wait_for(
        lambda: len(notify_socket.with_key("WATCHDOG")) > pings + 2,
        timeout=TIMEOUT,
        message="pings did not resume once well",
    )
    service.stopping()


class HungCamera:
    """A V4L2 read that never returns: the classic way a door camera wedges."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.reads = 0

    def read(self) -> np.ndarray | None:
        self.reads += 1
        if self.reads > 1:
            self.release.wait()
        return None

    def close(self) -> None:
        self.release.set()


class NoCodes:
    name = "none"

    def decode(self, frame: object) -> list[str]:
        return []


def test_a_hung_camera_read_shows_as_a_stalled_scan_loop() -> None:
    now = [100.0]
    camera = HungCamera()
    scanner = Scanner(camera, NoCodes(), clock=lambda: now[0], sleep=lambda _s: None)
    assert scanner.stalled_s() == 0.0
    stop = threading.Event()
    thread = threading.Thread(target=scanner.run, args=(lambda _t: None, stop), daemon=True)
    thread.start()
    wait_for(lambda: camera.reads >= 2, timeout=TIMEOUT, message="the scanner never read")
    now[0] += 45.0
    assert scanner.stalled_s() == pytest.approx(45.0)
    stop.set()
    camera.close()
    thread.join(timeout=5)


def test_a_slow_code_handler_is_not_a_stalled_camera() -> None:
    """A kiosk's redemption may wait on the cloud for a minute: the door is working."""
    now = [100.0]
    handling = threading.Event()
    finish = threading.Event()
    scanner = Scanner(ShowsOneCode(), AlwaysCode(), clock=lambda: now[0], sleep=lambda _s: None)

    def slow(_text: str) -> None:
        handling.set()
        finish.wait()

    stop = threading.Event()
    thread = threading.Thread(target=scanner.run, args=(slow, stop), daemon=True)
    thread.start()
    wait_for(handling.is_set, timeout=TIMEOUT, message="the code was never handed on")
    now[0] += 90.0
    assert scanner.stalled_s() == 0.0
    stop.set()
    finish.set()
    thread.join(timeout=5)


class ShowsOneCode:
    def read(self) -> np.ndarray | None:
        return np.zeros((8, 8), dtype=np.uint8)

    def close(self) -> None:
        pass


class AlwaysCode:
    name = "always"

    def decode(self, frame: object) -> list[str]:
        return ["YZ1.code"]


def test_journal_lines_carry_the_syslog_priority() -> None:
    formatter = JournalFormatter()
    record = logging.LogRecord("edge.uplink", logging.WARNING, __file__, 1, "offline", (), None)
    assert formatter.format(record) == "<4>edge.uplink: offline"
    record = logging.LogRecord("edge", logging.ERROR, __file__, 1, "a\nb", (), None)
    assert formatter.format(record) == "<3>edge: a\n<3>b"  # every line keeps its priority


def test_the_service_under_systemd_says_ready_feeds_and_stops(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    """The unit's `yizhan-edge --config FILE`, started the way systemd starts it."""
    environ = dict(os.environ)
    environ |= {
        "NOTIFY_SOCKET": notify_socket.address,
        "WATCHDOG_USEC": "1000000",  # a ping every 0.5 s
        "JOURNAL_STREAM": "8:1234",
    }
    closed_port = free_port()  # nothing listens: the box runs offline, as a door must
    config = tmp_path / "edge.toml"
    config.write_text(
        'venue = "station-07"\ndevice = "hub-01"\n'
        f'data_dir = "{tmp_path / "box"}"\nmqtt_port = {closed_port}\nsample_interval_s = 0.5\n'
        '[hardware]\nkind = "sim"\nprofile = "outdoor-station"\n',
        encoding="utf-8",
    )
    argv = [sys.executable, "-m", "yizhan.box", "--config", str(config)]
    with (tmp_path / "agent.log").open("wb") as log:
        process = subprocess.Popen(argv, env=environ, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(
                lambda: len(notify_socket.with_key("WATCHDOG")) >= 2 or process.poll() is not None,
                timeout=60,
                message="the agent did not become ready and feed the watchdog",
            )
            assert process.poll() is None, (tmp_path / "agent.log").read_text()
            ready = notify_socket.with_key("READY")
            assert ready[0]["STATUS"] == "sensor-hub hub-01 at station-07"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0, (tmp_path / "agent.log").read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    wait_for(lambda: notify_socket.with_key("STOPPING"), timeout=TIMEOUT, message="no STOPPING")
    assert notify_socket.messages.index(ready[0]) < len(notify_socket.messages) - 1
