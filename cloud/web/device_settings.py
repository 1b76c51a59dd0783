"""What the fleet page shows of one box: the keys its role takes (the push form) and its
newest diagnostics report in words (version, uptime, disk, queue, last errors)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from cloud.devices.models import DeviceDiagnostics
from protocol.pushable import KeyInfo, pushable_keys

# Log lines worth a technician's first look: the newest few at WARNING or worse.
LAST_ERRORS: Final = 5
_SERIOUS = re.compile(r"\b(ERROR|CRITICAL|WARNING|Traceback)\b")


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One pushable key as the push form shows it (settings.js fills in the box's value)."""

    info: KeyInfo

    @property
    def name(self) -> str:
        """The key's own name, without its section: the catalog words it by this."""
        return self.info.path.rsplit(".", 1)[-1]

    @property
    def bounds(self) -> str:
        """The range in symbols, the same in both languages: ``0.05–3600``, ``> 0, ≤ 60``."""
        info = self.info
        if info.choices:
            return " / ".join(info.choices)
        low, high = info.minimum, info.maximum
        if (
            low is not None
            and high is not None
            and not (info.exclusive_minimum or info.exclusive_maximum)
        ):
            return f"{low:g}–{high:g}"
        parts = []
        if low is not None:
            parts.append(f"{'>' if info.exclusive_minimum else '≥'} {low:g}")
        if high is not None:
            parts.append(f"{'<' if info.exclusive_maximum else '≤'} {high:g}")
        return ", ".join(parts)

    @property
    def default(self) -> str:
        default = self.info.default
        if isinstance(default, bool):
            return "true" if default else "false"
        if isinstance(default, float):
            return f"{default:g}"
        return "" if default is None else str(default)


def key_rows(role: str) -> list[KeyRow]:
    """The keys a box of ``role`` ("any": a box that never said) takes."""
    return [KeyRow(info) for info in pushable_keys(None if role == "any" else role)]


@dataclass(frozen=True, slots=True)
class DiagnosticsView:
    """A report's key facts; the raw JSON goes behind a <details>."""

    row: DeviceDiagnostics

    @property
    def heartbeat(self) -> dict[str, Any]:
        heartbeat = self.row.report.get("heartbeat")
        return heartbeat if isinstance(heartbeat, dict) else {}

    @property
    def versions(self) -> dict[str, str]:
        versions = self.row.report.get("versions")
        return {str(k): str(v) for k, v in versions.items()} if isinstance(versions, dict) else {}

    @property
    def logs(self) -> list[str]:
        logs = self.row.report.get("logs")
        return [str(line) for line in logs] if isinstance(logs, list) else []

    @property
    def last_errors(self) -> list[str]:
        serious = [line for line in self.logs if _SERIOUS.search(line)]
        return serious[-LAST_ERRORS:][::-1]

    @property
    def raw(self) -> str:
        return json.dumps(self.row.report, indent=2, ensure_ascii=False, sort_keys=True)
