"""The agent's side of the hand-over: its state folder's ``updates/``.

The agent (which may write only here) leaves downloaded wheels and a request; the
installer (root) leaves the outcome; the new agent leaves a health marker. Nothing here is
trusted by the installer: it checks the manifest and every wheel again itself.

::

    <data_dir>/updates/
      wheels/<sha256>/<name>.whl   downloaded and checked (``.part`` while downloading)
      request.json                 {"manifest": …, "rollout": …, "statements": […]}
      outcome.json                 the installer's UpdateReport, until the agent sent it
      healthy/<version>            the new agent passed its self-check
      problem/<version>            what the new agent found wrong, for the failure report
"""

from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from edge.update.layout import write_atomic
from protocol.release import ReleaseWheel, UpdateReport


@dataclass(frozen=True, slots=True)
class Request:
    manifest: bytes
    rollout: str
    statements: list[bytes]
    # What the agent fetched for it and what it had already: carried into the outcome.
    downloaded_bytes: int = 0
    reused_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Spool:
    folder: Path

    @classmethod
    def of(cls, data_dir: Path) -> Spool:
        return cls(data_dir / "updates")

    @property
    def wheels(self) -> Path:
        return self.folder / "wheels"

    def wheel_path(self, wheel: ReleaseWheel) -> Path:
        return self.wheels / wheel.sha256 / wheel.name

    def has_wheel(self, wheel: ReleaseWheel) -> bool:
        return self.wheel_path(wheel).is_file()

    def drop_wheels(self, keep: set[str] | None = None) -> None:
        if not self.wheels.is_dir():
            return
        for entry in self.wheels.iterdir():
            if keep is None or entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)

    # -- request: agent -> installer
    @property
    def request_file(self) -> Path:
        return self.folder / "request.json"

    def write_request(self, request: Request) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {
            "manifest": request.manifest.decode(),
            "rollout": request.rollout,
            "statements": [raw.decode() for raw in request.statements],
            "downloaded_bytes": request.downloaded_bytes,
            "reused_bytes": request.reused_bytes,
        }
        write_atomic(self.request_file, json.dumps(data).encode(), mode=0o640)

    def read_request(self) -> Request | None:
        try:
            data = json.loads(self.request_file.read_text(encoding="utf-8"))
            return Request(
                manifest=str(data["manifest"]).encode(),
                rollout=str(data.get("rollout", ""))[:40],
                statements=[str(raw).encode() for raw in data.get("statements", [])][:20],
                downloaded_bytes=max(0, int(data.get("downloaded_bytes", 0))),
                reused_bytes=max(0, int(data.get("reused_bytes", 0))),
            )
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def clear_request(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.request_file.unlink()

    # -- outcome: installer -> agent
    @property
    def outcome_file(self) -> Path:
        return self.folder / "outcome.json"

    def write_outcome(self, report: UpdateReport) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.outcome_file, report.model_dump_json().encode())

    def read_outcome(self) -> UpdateReport | None:
        try:
            return UpdateReport.model_validate_json(self.outcome_file.read_bytes())
        except (OSError, ValueError):
            return None

    def clear_outcome(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.outcome_file.unlink()

    # -- health: new agent -> installer
    def healthy_marker(self, version: str) -> Path:
        return self.folder / "healthy" / version

    def problem_file(self, version: str) -> Path:
        return self.folder / "problem" / version

    def mark_healthy(self, version: str) -> None:
        marker = self.healthy_marker(version)
        marker.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(marker, b"ok\n")

    def note_problem(self, version: str, text: str) -> None:
        path = self.problem_file(version)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text[:200].encode())

    def is_healthy(self, version: str) -> bool:
        return self.healthy_marker(version).is_file()

    def problem(self, version: str) -> str:
        try:
            return self.problem_file(version).read_text(encoding="utf-8")[:200]
        except OSError:
            return ""

    def forget_health(self, version: str) -> None:
        for path in (self.healthy_marker(version), self.problem_file(version)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
