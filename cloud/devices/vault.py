"""New broker passwords between a rotation being issued and the broker taking them: memory only.

Never in the database: a copy of the store (a backup, a replica, a leaked dump) must not hold
a password any box is about to use. A restart loses them, and the rotations they belong to
simply expire; the boxes keep their current passwords.
"""

from __future__ import annotations

import threading


class RotationVault:
    """command_id -> the new password that command carries; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._passwords: dict[str, str] = {}

    def put(self, command_id: str, password: str) -> None:
        with self._lock:
            self._passwords[command_id] = password

    def get(self, command_id: str) -> str | None:
        with self._lock:
            return self._passwords.get(command_id)

    def pop(self, command_id: str) -> str | None:
        with self._lock:
            return self._passwords.pop(command_id, None)

    def command_ids(self) -> list[str]:
        with self._lock:
            return list(self._passwords)

    def __contains__(self, command_id: object) -> bool:
        with self._lock:
            return command_id in self._passwords
