"""How one run of the agent ends: stopped by its caller, or asked to restart or to wipe."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Final, Literal

from protocol.commands import WipeCommand

Outcome = Literal["stopped", "restart", "wiped"]
# How soon the agent's main loop notices its caller's stop while it waits for the next
# sampling round: the caller's event cannot be waited on together with ours.
_STOP_POLL_S: Final = 0.2


@dataclass(frozen=True, slots=True)
class Ending:
    """What the agent does on its way out: a wipe to carry out, and what run() returns."""

    outcome: Outcome
    wipe: WipeCommand | None = None


class Lifecycle:
    """Requests to end the run, from command and config callbacks; the agent acts on them.

    Once the agent has taken the ending (:meth:`close`), new requests are refused: a wipe
    accepted then would never be carried out.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asked = threading.Event()
        self._restart = False
        self._wipe: WipeCommand | None = None
        self._closed = False

    def restart(self) -> bool:
        """Ask for a restart; False if the run is ending already."""
        with self._lock:
            if self._closed:
                return False
            self._restart = True
        self._asked.set()
        return True

    def wipe(self, command: WipeCommand) -> bool:
        """Ask for a wipe; False if the run is ending already or another wipe is pending."""
        with self._lock:
            if self._closed or self._wipe is not None:
                return False
            self._wipe = command
        self._asked.set()
        return True

    @property
    def pending_wipe(self) -> WipeCommand | None:
        with self._lock:
            return self._wipe

    @property
    def asked(self) -> bool:
        return self._asked.is_set()

    def wait(self, stop: threading.Event, seconds: float) -> None:
        """Sleep up to ``seconds``; return early on a request or on ``stop``."""
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self._asked.wait(min(left, _STOP_POLL_S)):
                return

    def close(self, *, stopped: bool) -> Ending:
        """Take the ending; a wipe outranks a stop, a stop outranks a restart."""
        with self._lock:
            self._closed = True
            if self._wipe is not None:
                return Ending("wiped", self._wipe)
            if stopped or not self._restart:
                return Ending("stopped")
            return Ending("restart")
