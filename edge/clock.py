"""Trusted time for a box that may boot with the wrong clock and no network.

Most Pi boards have no battery clock: after a power cut during an outage the box boots with
whatever time was saved last (``fake-hwclock``), hours or days behind, and every code that
lives a minute would look "not yet valid". A door must still admit today's members at 3 a.m.
and must never take an old screenshot for a fresh code. :class:`TrustedClock` gives it a
time to judge codes by:

- **Synchronised** (NTP said so since boot, or a battery RTC set the clock): the wall clock.
- **Not synchronised:** a *lower bound* of the true time, never the wall clock (it may be
  ahead as well as behind). The bound starts from a floor persisted on the card (the last
  trusted time seen before the power went), runs on with the monotonic clock, and is lifted
  by times the union's issuer signed: a member code issued at 14:02 proves it is at least
  14:02. Nothing a phone alone signs lifts it, or a member could push the door's clock
  forward and open it for codes that are not yet due.

Judging by a lower bound admits a fresh code (lifting the bound to its issue time first) and
refuses a code that expired before a time the door already knows has passed, so an old
screenshot or a code seen before is refused. What it cannot know is the length of the
outage itself: a code issued while the box was off, shown before any fresher one, is
admitted. ``docs/ARCHITECTURE.md`` ("Trusted time") has the whole argument.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]


def utc_now() -> datetime:
    """The wall clock, timezone-aware: the default :data:`Clock` of every edge part."""
    return datetime.now(UTC)


# systemd-timesyncd touches this file on every synchronisation; /run is emptied at boot.
TIMESYNCD_MARKER: Final = Path("/run/systemd/timesync/synchronized")
RTC_DEVICE: Final = Path("/dev/rtc0")
# A battery clock whose time is this far below what the box already knows has lost its
# battery (it restarts at 2000-01-01 or its build date): not trusted.
RTC_BEHIND_LIMIT: Final = timedelta(minutes=1)
PERSIST_EVERY: Final = timedelta(minutes=5)
_TIME_ERROR: Final = 5  # adjtimex(2): the kernel's clock is not synchronised


class Sync(StrEnum):
    """Where the wall clock's time came from, as far as the box can tell."""

    NTP = "ntp"  # a time server set it since boot: authoritative
    RTC = "rtc"  # a battery real-time clock set it at boot: trusted unless plainly wrong
    NONE = "none"  # saved at the last shutdown, or unknown: judged by the lower bound


TimeSync = Callable[[], Sync]


def assume_synchronised() -> Sync:
    """For a simulated box and tests: the injected clock is the truth."""
    return Sync.NTP


class HostTimeSync:
    """Asks the host whether its clock is synchronised.

    In order: systemd-timesyncd's marker file (readable inside the agent's sandbox, where
    ``ProtectClock=`` refuses even a read-only ``adjtimex``), then ``adjtimex`` itself (chrony,
    ntpd, a development machine), then a fitted battery RTC when the settings say one is.
    """

    def __init__(
        self,
        *,
        rtc: bool,
        marker: Path = TIMESYNCD_MARKER,
        rtc_device: Path = RTC_DEVICE,
        kernel: Callable[[], bool | None] | None = None,
    ) -> None:
        self._rtc, self._marker, self._rtc_device = rtc, marker, rtc_device
        self._kernel = kernel or _kernel_synchronised

    def __call__(self) -> Sync:
        if self._marker.exists() or self._kernel():
            return Sync.NTP
        if self._rtc and self._rtc_device.exists():
            return Sync.RTC
        return Sync.NONE


def _kernel_synchronised() -> bool | None:
    """adjtimex(2) with no changes: False when the kernel says TIME_ERROR, None if refused."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        timex = ctypes.create_string_buffer(512)  # struct timex, zeroed: modes = 0 reads only
        state = libc.adjtimex(timex)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None  # EPERM under systemd's ProtectClock=
    return bool(state != _TIME_ERROR)


class TrustedClock:
    """``now()`` for judging codes; see the module docstring. Thread-safe.

    ``floor_file`` keeps the bound across restarts: written when an issuer-signed time lifts
    it, and by :meth:`persist_if_due` (the door's tick) every ``PERSIST_EVERY`` while the
    time moves on. A lost or unreadable file is not fatal: the wall clock's time at start is
    the only floor there is then.
    """

    def __init__(
        self,
        *,
        wall: Clock,
        sync: TimeSync,
        floor_file: Path,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self._wall, self._sync, self._file, self._monotonic = wall, sync, floor_file, monotonic
        self._lock = threading.Lock()
        saved = _read_floor(floor_file)
        self._anchor = saved if saved is not None else wall()
        self._anchor_mono = monotonic()
        self._persisted = self._anchor if saved is not None else None
        self.source = Sync.NONE
        self.now()

    @property
    def synchronised(self) -> bool:
        """Whether the last :meth:`now` came from a synchronised wall clock."""
        return self.source is not Sync.NONE

    def now(self) -> datetime:
        with self._lock:
            wall, bound = self._wall(), self._bound()
            source = self._sync()
            trusted = source is Sync.NTP or (
                source is Sync.RTC and wall >= bound - RTC_BEHIND_LIMIT
            )
            if source is not self.source:
                logger.log(
                    logging.INFO if trusted else logging.WARNING,
                    "clock %s (wall %s, lower bound %s)",
                    f"synchronised by {source}" if trusted else "not synchronised: judging "
                    "codes by the lower bound of the time",
                    f"{wall:%Y-%m-%d %H:%M:%S}", f"{bound:%Y-%m-%d %H:%M:%S}",
                )  # fmt: skip
            self.source = source if trusted else Sync.NONE
            if not trusted:
                return bound
            self._anchor, self._anchor_mono = wall, self._monotonic()
            return wall

    def learn(self, signed_at: datetime) -> bool:
        """Lift the bound to a time the union's issuer signed; True if it moved.

        Only while unsynchronised (a synchronised clock is right and the issuer's is not),
        and only for times whose signature was checked with an issuer key.
        """
        with self._lock:
            if self.source is not Sync.NONE or signed_at <= self._bound():
                return False
            logger.info("clock: an issuer-signed time lifts the lower bound to %s", signed_at)
            self._anchor, self._anchor_mono = signed_at, self._monotonic()
        self._persist(signed_at)
        return True

    def persist_if_due(self) -> None:
        """Keep the floor fresh on the card; cheap when nothing is due."""
        now = self.now()
        last = self._persisted
        if last is None or now - last >= PERSIST_EVERY or now < last:
            self._persist(now)

    def close(self) -> None:
        self._persist(self.now())

    def _bound(self) -> datetime:
        elapsed = max(0.0, self._monotonic() - self._anchor_mono)
        return self._anchor + timedelta(seconds=elapsed)

    def _persist(self, at: datetime) -> None:
        try:
            _write_floor(self._file, at)
        except OSError as exc:  # a full or failing card must not stop the door deciding
            logger.warning("could not save the clock floor to %s: %s", self._file, exc)
            return
        self._persisted = at


def _read_floor(path: Path) -> datetime | None:
    try:
        text = json.loads(path.read_text(encoding="utf-8"))["floor"]
        floor = datetime.fromisoformat(text)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("clock floor %s is unreadable (%s); starting from the wall clock", path, exc)
        return None
    return floor if floor.tzinfo is not None else floor.replace(tzinfo=UTC)


def _write_floor(path: Path, at: datetime) -> None:
    """Atomic and durable: a power cut leaves the old floor or the new, never half a file."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        json.dump({"floor": at.astimezone(UTC).isoformat()}, out)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
