"""The periodic ``device.heartbeat``: uptime, disk, CPU temperature, backlog, versions held."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from edge.outbox import NewEvent
from protocol.health import HEARTBEAT_EVENT, Heartbeat

logger = logging.getLogger(__name__)

# The SoC's sensor on a Raspberry Pi (and most Linux boards), in millidegrees Celsius.
THERMAL_ZONE: Final = Path("/sys/class/thermal/thermal_zone0/temp")
_MB: Final = 1024 * 1024
# What the wire accepts (protocol.health.Heartbeat); a sensor reading outside is broken.
_TEMP_RANGE: Final = (-40.0, 150.0)
_MAX_KEYS_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class HeartbeatSources:
    """Where each heartbeat field comes from; the callables read the live agent."""

    started: datetime
    data_dir: Path
    outbox_depth: Callable[[], int]
    config_version: Callable[[], int]
    credential_generation: Callable[[], int]
    issuer_keys: Callable[[], str | None]
    software: str | None = None
    thermal_path: Path = THERMAL_ZONE


def read_heartbeat(sources: HeartbeatSources, *, now: datetime) -> Heartbeat:
    free_mb, total_mb = disk_mb(sources.data_dir)
    return Heartbeat(
        software=sources.software[:200] if sources.software else None,
        uptime_s=max(0, int((now - sources.started).total_seconds())),
        disk_free_mb=free_mb,
        disk_total_mb=total_mb,
        cpu_temp_c=cpu_temperature(sources.thermal_path),
        outbox_depth=sources.outbox_depth(),
        config_version=sources.config_version(),
        credential_generation=sources.credential_generation(),
        issuer_keys=sources.issuer_keys(),
    )


def heartbeat_event(sources: HeartbeatSources, *, now: datetime) -> NewEvent:
    return NewEvent(now, HEARTBEAT_EVENT, read_heartbeat(sources, now=now).event_data())


def disk_mb(folder: Path) -> tuple[int | None, int | None]:
    """Free and total MB of the file system holding ``folder``; (None, None) if unknown."""
    try:
        usage = shutil.disk_usage(folder)
    except OSError as exc:
        logger.warning("cannot read the disk usage of %s: %s", folder, exc)
        return None, None
    return usage.free // _MB, usage.total // _MB


def cpu_temperature(path: Path) -> float | None:
    """Degrees Celsius from a sysfs thermal file; None when absent, unreadable or absurd."""
    try:
        millidegrees = int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):  # no sensor on this board, or garbage
        return None
    celsius = millidegrees / 1000
    low, high = _TEMP_RANGE
    return celsius if low <= celsius <= high else None


def key_ids(kids: Iterable[str]) -> str:
    """Issuer key ids as the heartbeat carries them: sorted, comma-separated, cut to fit.

    Cut at a comma, so the cloud never sees half a key id and thinks it a different key.
    """
    text = ",".join(sorted(kids))
    if len(text) <= _MAX_KEYS_CHARS:
        return text
    return text[: _MAX_KEYS_CHARS + 1].rsplit(",", 1)[0]
