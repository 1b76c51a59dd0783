"""The installer's journal: which step of which update a power cut interrupted.

One small JSON file under the install root, replaced atomically at each step
(layout.write_atomic), so after a cut it holds the last step that began. ``recover`` reads
it with the links themselves: the journal says what was under way, the links say where it
got to, and a release folder without its ``.complete`` marker is never trusted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from edge.update.layout import write_atomic


class Step(StrEnum):
    BUILDING = "building"  # unpacking wheels and making the release folder
    SWITCHING = "switching"  # the service stopped, links being changed
    TRIAL = "trial"  # the new release started, not yet healthy
    CONFIRMED = "confirmed"  # healthy: done
    ROLLED_BACK = "rolled_back"  # not healthy in time: back on the old release
    FAILED = "failed"  # never switched


UNDER_WAY = (Step.BUILDING, Step.SWITCHING, Step.TRIAL)


@dataclass(frozen=True, slots=True)
class Entry:
    step: Step
    release: str
    from_release: str | None
    serial: int
    rollout: str = ""
    detail: str = ""


def read(path: Path) -> Entry | None:
    """The last step written, or None when there is none or it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Entry(**{**data, "step": Step(data["step"])})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write(path: Path, entry: Entry) -> None:
    write_atomic(path, json.dumps(asdict(entry), ensure_ascii=False).encode())
