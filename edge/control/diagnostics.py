"""A diagnostics report on demand: versions, the heartbeat and recent logs, under the size limit."""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from typing import Final

from edge.clock import Clock
from edge.control.logs import LogRing
from edge.control.verdict import Status, Verdict
from protocol.codec import encode
from protocol.commands import DiagnosticsCommand
from protocol.health import MAX_LOG_LINE_CHARS, Diagnostics, Heartbeat
from protocol.payloads import MAX_PAYLOAD_BYTES
from protocol.topics import Kind

logger = logging.getLogger(__name__)

DirectPublish = Callable[[Kind, bytes], bool]
# Report name -> the distributions that may provide it (OpenCV ships under several names).
PACKAGES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("yizhan", ("yizhan",)),
    ("paho-mqtt", ("paho-mqtt",)),
    ("opencv", ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless",
                "opencv-contrib-python")),
    ("zxing-cpp", ("zxing-cpp",)),
    ("gpiozero", ("gpiozero",)),
    ("pymodbus", ("pymodbus",)),
)  # fmt: skip
# Room left under the payload limit for what the size estimate of the lines cannot see.
_SLACK_BYTES: Final = 1024


def collect_versions() -> dict[str, str]:
    """Python, OS/kernel and the packages that matter on a box; missing ones are skipped."""
    versions = {
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}".strip()[:200],
    }
    for name, distributions in PACKAGES:
        for distribution in distributions:
            try:
                versions[name] = metadata.version(distribution)[:200]
                break
            except metadata.PackageNotFoundError:
                continue
    return versions


def build_report(
    command: DiagnosticsCommand,
    *,
    heartbeat: Heartbeat,
    versions: dict[str, str],
    logs: Sequence[str],
    now: datetime,
) -> Diagnostics:
    """The report with as many of the newest ``logs`` as fit under the payload limit."""
    bare = Diagnostics(
        device=command.device,
        command_id=command.command_id,
        ts=now,
        heartbeat=heartbeat,
        versions=versions,
    )
    budget = MAX_PAYLOAD_BYTES - len(encode(bare)) - _SLACK_BYTES
    newest_first: list[str] = []
    for line in reversed(logs[-command.log_lines :] if command.log_lines else []):
        cut = line[:MAX_LOG_LINE_CHARS]
        budget -= len(json.dumps(cut, ensure_ascii=False).encode()) + 1  # quotes, comma
        if budget < 0:
            break
        newest_first.append(cut)
    report = _with_logs(bare, newest_first)
    while newest_first and len(encode(report)) >= MAX_PAYLOAD_BYTES:  # the estimate was short
        newest_first = newest_first[: len(newest_first) // 2]
        report = _with_logs(bare, newest_first)
    return report


def _with_logs(bare: Diagnostics, newest_first: list[str]) -> Diagnostics:
    return Diagnostics.model_validate({**bare.model_dump(), "logs": newest_first[::-1]})


@dataclass(frozen=True, slots=True)
class DiagnosticsReporter:
    """Answers a diagnostics command: build the report, publish it on the ``diag`` topic."""

    heartbeat: Callable[[], Heartbeat]
    logs: LogRing
    publish: DirectPublish
    clock: Clock
    versions: Callable[[], dict[str, str]] = field(default=collect_versions)

    def __call__(self, command: DiagnosticsCommand) -> Verdict:
        report = build_report(
            command,
            heartbeat=self.heartbeat(),
            versions=self.versions(),
            logs=self.logs.lines(command.log_lines),
            now=self.clock(),
        )
        payload = encode(report)
        if not self.publish(Kind.DIAG, payload):
            return Verdict(
                Status.FAILED, "not connected to the broker; ask again once the box is online"
            )
        return Verdict(Status.DONE, f"published {len(report.logs)} log lines, {len(payload)} bytes")
