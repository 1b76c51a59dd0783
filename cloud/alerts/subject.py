"""What an alert is about: the value the rules find and the messages describe."""

from __future__ import annotations

from dataclasses import dataclass

from cloud.alerts.models import AlertKind


@dataclass(frozen=True, slots=True)
class Subject:
    """What an alert is about; ``key`` is the dedupe key of its condition."""

    kind: AlertKind
    venue_id: str
    device_id: str | None = None
    sensor: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.venue_id}:{self.device_id or '-'}:{self.sensor or '-'}"
