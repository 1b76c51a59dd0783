"""A diagnostics report: versions that are installed, recent log lines, and never too big."""

from __future__ import annotations

import logging
import platform
from datetime import timedelta

import pytest

from edge.control.diagnostics import build_report, collect_versions
from edge.control.logs import LogRing
from protocol.codec import encode
from protocol.commands import DiagnosticsCommand
from protocol.health import MAX_LOG_LINE_CHARS, Heartbeat
from protocol.payloads import MAX_PAYLOAD_BYTES

from .fakes import DEVICE, NOW

BEAT = Heartbeat(uptime_s=60, outbox_depth=0)


def diagnostics(log_lines: int = 1000) -> DiagnosticsCommand:
    return DiagnosticsCommand(
        device=DEVICE,
        command_id="diag-00000001",
        issued_at=NOW,
        expires_at=NOW + timedelta(minutes=1),
        issued_by="tech-li",
        log_lines=log_lines,
    )


def test_versions_name_python_the_os_and_installed_packages() -> None:
    versions = collect_versions()

    assert versions["python"] == platform.python_version()
    assert versions["os"].startswith(platform.system())
    assert {"paho-mqtt", "opencv", "zxing-cpp", "gpiozero", "pymodbus"} <= versions.keys()


def test_a_missing_package_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edge.control.diagnostics.PACKAGES", (("nothing", ("no-such-dist",)),))

    assert set(collect_versions()) == {"python", "os"}


def test_a_flood_of_long_lines_is_cut_to_fit_the_payload_limit() -> None:
    ring = LogRing()
    logger = logging.getLogger("tests.flood")
    logger.addHandler(ring)
    logger.propagate = False
    try:
        for i in range(3000):  # wide characters: 3 bytes each in UTF-8
            logger.warning("第%d行 %s", i, "门禁" * 400)
    finally:
        logger.removeHandler(ring)
        logger.propagate = True

    lines = ring.lines(1000)
    report = build_report(diagnostics(), heartbeat=BEAT, versions={}, logs=lines, now=NOW)

    assert len(lines) == 1000
    assert all(len(line) <= MAX_LOG_LINE_CHARS for line in lines)
    assert len(encode(report)) < MAX_PAYLOAD_BYTES
    assert 100 < len(report.logs) < 1000
    assert "第2999行" in report.logs[-1]  # the newest lines are the ones kept


def test_the_command_says_how_many_lines() -> None:
    lines = [f"line {i}" for i in range(50)]

    report = build_report(diagnostics(3), heartbeat=BEAT, versions={}, logs=lines, now=NOW)
    none = build_report(diagnostics(0), heartbeat=BEAT, versions={}, logs=lines, now=NOW)

    assert report.logs == ["line 47", "line 48", "line 49"]
    assert none.logs == []


def test_the_ring_keeps_the_newest_lines_oldest_first() -> None:
    ring = LogRing(capacity=3)
    for i in range(5):
        ring.emit(logging.LogRecord("x", logging.INFO, __file__, 1, "n%d", (i,), None))

    assert [line.rsplit(" ", 1)[1] for line in ring.lines(10)] == ["n2", "n3", "n4"]
    assert ring.lines(0) == []
