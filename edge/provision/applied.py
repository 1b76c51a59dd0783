"""The cloud config a box applied, kept in ``applied-config.json`` for its next start."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from edge.provision.files import write_private

logger = logging.getLogger(__name__)

APPLIED_CONFIG_FILE: Final = "applied-config.json"


@dataclass(frozen=True)
class AppliedConfig:
    """The cloud config a box applied: its version and its settings fragment."""

    version: int
    settings: dict[str, Any]


def read_applied(data_dir: Path) -> AppliedConfig | None:
    """The applied config in ``data_dir``; None when there is none or it cannot be read.

    A broken file must not stop a box: it runs on its file and claim, says so, and the
    cloud's retained config brings the newest one back on the next connection.
    """
    path = data_dir / APPLIED_CONFIG_FILE
    try:
        return _parse(json.loads(path.read_bytes()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        logger.warning(
            "ignoring %s (%s): running on the settings file and the claim until the cloud "
            "sends its config again",
            path,
            exc.strerror if isinstance(exc, OSError) else str(exc).splitlines()[0][:120],
        )
        return None


def write_applied(data_dir: Path, applied: AppliedConfig) -> None:
    """Keep ``applied`` for the next start; all or nothing, so a power cut cannot tear it."""
    body = {"version": applied.version, "settings": applied.settings}
    write_private(data_dir / APPLIED_CONFIG_FILE, json.dumps(body, default=str).encode())


def _parse(body: Any) -> AppliedConfig:
    if not isinstance(body, dict):
        raise TypeError("it is not a JSON object")
    version, settings = body.get("version"), body.get("settings")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version {version!r} is not a positive integer")
    if not isinstance(settings, dict):
        raise TypeError(f"settings is {type(settings).__name__}, not a table")
    return AppliedConfig(version, settings)
