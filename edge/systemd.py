"""systemd's service protocol: ready, status, stopping, and a watchdog fed while the box is well.

The unit in ``deploy/pi/yizhan-edge.service`` is ``Type=notify`` with ``WatchdogSec``: systemd
starts the box, waits for ``READY=1``, and kills and restarts it when ``WATCHDOG=1`` stops
coming. The pings come from a thread that first asks the running agent whether its loops
still turn (a camera read that hangs, a loop that died), so a wedged door is restarted
instead of standing there alive and useless. Protocol: sd_notify(3), no library needed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Final, Protocol

logger = logging.getLogger(__name__)

Health = Callable[[], list[str]]  # what is wrong now; empty when the box is well
# systemd's advice (sd_watchdog_enabled(3)): ping at half the timeout, so one late ping
# is not yet a restart.
_PINGS_PER_TIMEOUT: Final = 2
_USEC: Final = 1_000_000


class ServiceHooks(Protocol):
    """What the box's main loop tells its service manager (systemd, or nobody)."""

    def ready(self, status: str) -> None: ...

    def status(self, text: str) -> None: ...

    def watch(self, health: Health | None) -> None: ...

    def stopping(self) -> None: ...


class NoService:
    """Not started by systemd (a terminal, a test): nothing to tell."""

    def ready(self, status: str) -> None:
        pass

    def status(self, text: str) -> None:
        pass

    def watch(self, health: Health | None) -> None:
        pass

    def stopping(self) -> None:
        pass


class Notifier:
    """Datagrams to ``$NOTIFY_SOCKET``; a lost message is logged, never raised."""

    def __init__(self, address: str) -> None:
        # "@name" is Linux's abstract namespace, spelled with a leading NUL on the wire.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def send(self, **fields: str) -> bool:
        message = "\n".join(f"{key.upper()}={value}" for key, value in fields.items())
        try:
            self._socket.sendto(message.encode(), self._address)
        except OSError as exc:
            logger.warning("could not tell systemd %r: %s", message, exc)
            return False
        return True

    def close(self) -> None:
        self._socket.close()


def watchdog_interval(environ: Mapping[str, str], *, pid: int) -> float | None:
    """Seconds between pings systemd asks for, or None when no watchdog is on for us."""
    usec, owner = environ.get("WATCHDOG_USEC"), environ.get("WATCHDOG_PID")
    if not usec:
        return None
    if owner and owner.strip() != str(pid):
        return None  # meant for another process (a wrapper that exec'd us would match)
    try:
        timeout = int(usec) / _USEC
    except ValueError:
        logger.warning("WATCHDOG_USEC=%r is not a number of microseconds; no watchdog", usec)
        return None
    if timeout <= 0:
        logger.warning("WATCHDOG_USEC=%r is not positive; no watchdog", usec)
        return None
    return timeout / _PINGS_PER_TIMEOUT


class SystemdService:
    """Tells systemd how the box is, and feeds the watchdog while ``health`` finds nothing."""

    def __init__(self, notifier: Notifier, *, ping_every_s: float | None) -> None:
        self._notifier = notifier
        self._ping_every_s = ping_every_s
        self._health: Health | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_problems: list[str] = []

    def ready(self, status: str) -> None:
        self._notifier.send(ready="1", status=status)
        if self._ping_every_s is not None and self._thread is None:
            self._thread = threading.Thread(target=self._feed, name="systemd-watchdog", daemon=True)
            self._thread.start()

    def status(self, text: str) -> None:
        self._notifier.send(status=text)

    def watch(self, health: Health | None) -> None:
        """Ask ``health`` before each ping from now on (None: the process being alive is enough)."""
        with self._lock:
            self._health = health

    def stopping(self) -> None:
        self._notifier.send(stopping="1", status="stopping")
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._notifier.close()

    def problems(self) -> list[str]:
        with self._lock:
            health = self._health
        if health is None:
            return []
        try:
            return health()
        except Exception as exc:  # a health check that fails is itself a sign of trouble
            logger.exception("the watchdog's health check failed")
            return [f"health check failed: {exc}"]

    def _feed(self) -> None:
        assert self._ping_every_s is not None
        while True:
            problems = self.problems()
            if not problems:
                self._notifier.send(watchdog="1")
            elif problems != self._last_problems:
                # No ping: systemd restarts the box once WatchdogSec passes without one.
                logger.error("not feeding the watchdog: %s", "; ".join(problems))
                self._notifier.send(status="unwell: " + "; ".join(problems))
            self._last_problems = problems
            if self._stop.wait(self._ping_every_s):
                return


def service_from_environ(environ: Mapping[str, str], *, pid: int | None = None) -> ServiceHooks:
    """systemd's hooks when it started us (``$NOTIFY_SOCKET``), otherwise nothing to do."""
    address = environ.get("NOTIFY_SOCKET")
    if not address:
        return NoService()
    interval = watchdog_interval(environ, pid=os.getpid() if pid is None else pid)
    return SystemdService(Notifier(address), ping_every_s=interval)
