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

The installer runs as root in a folder the agent owns, so every access it makes here goes
through folder handles opened with ``O_NOFOLLOW`` (``_at``): a link the agent planted
(``updates -> /etc``, ``problem/1.0 -> /etc/shadow``) is refused, never followed, and root
never deletes anything here but its own request and health files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from edge.update.layout import write_atomic
from protocol.release import ReleaseWheel, UpdateReport

logger = logging.getLogger(__name__)

_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
MAX_REQUEST_BYTES: Final = 512 * 1024


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

    # -- safe access for the installer (root)
    @contextlib.contextmanager
    def _at(self, *folders: str) -> Iterator[int]:
        """A handle on ``updates/<folders…>``; OSError if any part is a link or missing."""
        fd = os.open(self.folder, _DIR_FLAGS)
        try:
            for name in folders:
                inner = os.open(name, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = inner
            yield fd
        finally:
            os.close(fd)

    def _read(self, folders: tuple[str, ...], name: str, limit: int) -> bytes | None:
        try:
            with self._at(*folders) as at:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=at)
                with os.fdopen(fd, "rb") as file:
                    if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                        return None
                    return file.read(limit + 1)[: limit + 1]
        except OSError:
            return None

    def _unlink(self, folders: tuple[str, ...], name: str) -> None:
        with contextlib.suppress(OSError), self._at(*folders) as at:
            os.unlink(name, dir_fd=at)

    def open_wheel(self, wheel: ReleaseWheel) -> BinaryIO:
        """The downloaded wheel, opened without following links; OSError if unusable."""
        with self._at("wheels", wheel.sha256) as at:
            fd = os.open(wheel.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=at)
        file = os.fdopen(fd, "rb")
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            file.close()
            raise OSError(f"{wheel.name} in the spool is not a plain file")
        return file

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

    def has_request(self) -> bool:
        with contextlib.suppress(OSError), self._at() as at:
            return stat.S_ISREG(os.stat("request.json", dir_fd=at, follow_symlinks=False).st_mode)
        return False

    def read_request(self) -> Request | None:
        raw = self._read((), "request.json", MAX_REQUEST_BYTES)
        if raw is None or len(raw) > MAX_REQUEST_BYTES:
            return None
        try:
            data = json.loads(raw)
            return Request(
                manifest=str(data["manifest"]).encode(),
                rollout=str(data.get("rollout", ""))[:40],
                statements=[str(raw).encode() for raw in data.get("statements", [])][:20],
                downloaded_bytes=max(0, int(data.get("downloaded_bytes", 0))),
                reused_bytes=max(0, int(data.get("reused_bytes", 0))),
            )
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None

    def clear_request(self) -> None:
        self._unlink((), "request.json")

    # -- the accepted command, so an agent restarted while it waits carries on with it
    @property
    def pending_file(self) -> Path:
        return self.folder / "pending.json"

    def save_pending(self, command_json: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.pending_file, command_json, mode=0o640)

    def read_pending(self) -> bytes | None:
        try:
            return self.pending_file.read_bytes()[:MAX_REQUEST_BYTES]
        except OSError:
            return None

    def clear_pending(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.pending_file.unlink()

    # -- outcome: installer -> agent
    @property
    def outcome_file(self) -> Path:
        return self.folder / "outcome.json"

    def write_outcome(self, report: UpdateReport) -> None:
        """Left for the agent (0644 whatever the umask); not written through a link."""
        try:
            with self._at() as at:
                temp = f".outcome.{secrets.token_hex(4)}.tmp"
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                fd = os.open(temp, flags, 0o644, dir_fd=at)
                with os.fdopen(fd, "wb") as file:
                    os.fchmod(file.fileno(), 0o644)
                    file.write(report.model_dump_json().encode())
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temp, "outcome.json", src_dir_fd=at, dst_dir_fd=at)
                os.fsync(at)
        except OSError as exc:
            logger.warning("cannot leave the update outcome for the agent: %s", exc)

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
        """What keeps this release from healthy; written only when it changed (SD wear)."""
        path = self.problem_file(version)
        data = text[:200].encode()
        with contextlib.suppress(OSError):
            if path.read_bytes() == data:
                return
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            path.unlink()
        path.write_bytes(data)  # a hint for the failure report: no sync needed

    def is_healthy(self, version: str) -> bool:
        with contextlib.suppress(OSError), self._at("healthy") as at:
            return stat.S_ISREG(os.stat(version, dir_fd=at, follow_symlinks=False).st_mode)
        return False

    def problem(self, version: str) -> str:
        raw = self._read(("problem",), version, 200)
        return raw[:200].decode("utf-8", "replace") if raw else ""

    def forget_health(self, version: str) -> None:
        self._unlink(("healthy",), version)
        self._unlink(("problem",), version)
