"""``yizhan bench clock``: a door booted offline with a wrong clock, on trusted time.

For each clock offset, one door (real SQLite caches, mock GPIO relay, real policy) admits
members at true time while synchronised, saves its floor, loses power for ten minutes, and
boots with no network and its wall clock off by the offset. Then members show what they
would show: fresh codes from the union app and from the offline phone (valid, must open),
interleaved with what must not open: screenshots older than the cut, codes already used
before it, each fresh code shown twice, and screenshots from the outage once a fresher code
was seen. The same scenario runs side by side on the plain wall clock (the door before
trusted time), for the ratio.

Time is virtual (each presentation moves the true time 1-5 s): the scenario covers minutes
of a morning in a fraction of a second, and does not depend on the machine's own clock.
"""

from __future__ import annotations

import json as jsonlib
import random
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero.pins.mock import MockFactory

from edge.access.keys import KeyRing
from edge.access.members import MemberCache
from edge.access.occupancy import Occupancy
from edge.access.passback import Passback
from edge.access.policy import DoorPolicy
from edge.access.reasons import Reason
from edge.access.replay import ReplayCache
from edge.access.verifier import Verifier
from edge.clock import TrustedClock
from edge.door.controller import DECISION_EVENT, DoorController
from edge.door.monitor import DoorMonitor
from edge.hardware.door import DoorHardware, DoorPins
from edge.outbox import NewEvent
from firmware_sim.clock import BoardClock
from protocol.access import MemberRecord, MemberStatus
from protocol.door_policy import DoorPolicyConfig
from protocol.membercode import IssuerKey, certify_phone, issue, prove

OFFSETS: Final = (
    ("-2d", timedelta(days=-2)),
    ("-3h", timedelta(hours=-3)),
    ("0", timedelta(0)),
    ("+10min", timedelta(minutes=10)),
)
OUTAGE: Final = timedelta(minutes=10)
TRUE_START: Final = datetime(2026, 12, 6, 2, 40, tzinfo=UTC)  # 10:40 at night, Asia/Shanghai
_PINS: Final = DoorPins(
    relay=5, green_led=6, red_led=13, buzzer=19, door_contact=26, exit_button=20
)
_MEMBERS: Final = 5_000
_PHONES: Final = 20


@dataclass
class Tally:
    valid: int = 0
    admitted: int = 0
    bad: int = 0
    bad_accepted: int = 0
    unsynchronised_marked: int = 0
    refusals: dict[str, int] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        return {
            "valid_presented": self.valid,
            "valid_admitted": self.admitted,
            "valid_admitted_ratio": round(self.admitted / self.valid, 4) if self.valid else None,
            "stale_or_replayed_presented": self.bad,
            "stale_or_replayed_accepted": self.bad_accepted,
        }


class Door:
    """One door's real stack over files in ``folder``; ``trusted=False``: the old wall clock."""

    def __init__(self, folder: Path, time: BoardClock, key: IssuerKey, *, trusted: bool) -> None:
        self.folder, self.time, self.key, self.trusted = folder, time, key, trusted
        self.events: list[NewEvent] = []
        self._open()

    def _open(self) -> None:
        self._stack = stack = ExitStack()
        folder, time = self.folder, self.time
        clock = TrustedClock(
            wall=time.wall,
            sync=time.synchronised,
            floor_file=folder / "clock.json",
            monotonic=time.monotonic,
        )
        stack.callback(clock.close)
        now: Callable[[], datetime] = clock.now if self.trusted else time.wall
        members = MemberCache(folder / "members.db")
        stack.callback(members.close)
        replay = ReplayCache(folder / "replay.db")
        stack.callback(replay.close)
        passback = Passback(folder / "passback.db")
        stack.callback(passback.close)
        factory = MockFactory()
        stack.callback(factory.close)
        hardware = DoorHardware(_PINS, clock=now, pin_factory=factory)
        stack.callback(hardware.close)
        keys = KeyRing({self.key.kid: self.key.public_key()}, 1)
        self.members = members
        self.controller = DoorController(
            door_id="door-01",
            verifier=Verifier(
                keys, members, replay, clock=now, trusted=clock if self.trusted else None
            ),
            policy=DoorPolicy(
                DoorPolicyConfig(door_id="door-01"),
                occupancy=Occupancy(folder / "occupancy.json", clock=now, has_beams=False),
                bookings=None,
                passback=passback,
                clock=now,
            ),
            hardware=hardware,
            monitor=DoorMonitor().attach(hardware),
            events=self.events.extend,
            clock=now,
        )

    def present(self, text: str) -> Reason:
        return self.controller.present(text).reason

    def close(self) -> None:
        self._stack.close()

    def reboot(self, offset: timedelta) -> None:
        """Three more minutes of running, a power cut of OUTAGE, a boot offline and wrong."""
        self.time.advance(180)
        self.close()
        self.time.advance(OUTAGE.total_seconds())
        self.time.reboot(offset)
        self._open()


def _scenario(door: Door, offset: timedelta, rng: random.Random, valid: int) -> Tally:
    time, key = door.time, door.key
    door.members.apply_snapshot(
        1,
        (MemberRecord(f"M{n:08d}", MemberStatus.ACTIVE) for n in range(_MEMBERS)),
        synced_at=time.true,
    )
    phones = [Ed25519PrivateKey.generate() for _ in range(_PHONES)]
    certs = [
        certify_phone(
            f"M{n:08d}",
            key=key,
            phone_public_key=phone.public_key(),
            now=time.true - timedelta(days=2),
        )
        for n, phone in enumerate(phones)
    ]
    used_before = []
    for n in range(_PHONES, _PHONES + 20):  # the evening before the cut, synchronised
        code = issue(f"M{n:08d}", key=key, now=time.true)
        if door.present(code) is not Reason.ACCEPTED:
            raise RuntimeError("the door refused a fresh code while synchronised")
        used_before.append(code)
        time.advance(rng.uniform(1, 5))
    cut_at = time.true
    door.reboot(offset)
    boot_events = len(door.events)
    tally = Tally()

    def bad(code: str) -> None:
        tally.bad += 1
        reason = door.present(code)
        if reason is Reason.ACCEPTED:
            tally.bad_accepted += 1
        tally.refusals[reason.value] = tally.refusals.get(reason.value, 0) + 1

    bad(issue("M00004000", key=key, now=cut_at - timedelta(hours=1)))  # before anything fresh
    member = _PHONES + 100
    for i in range(valid):
        time.advance(rng.uniform(1, 5))
        if i % 4 == 3:
            phone = i % _PHONES
            code = prove(certs[phone], phone_key=phones[phone], now=time.true)
        else:
            code = issue(f"M{member:08d}", key=key, now=time.true)
            member += 1
        tally.valid += 1
        tally.admitted += door.present(code) is Reason.ACCEPTED
        bad(code)  # the same code again: a screenshot passed back through the fence
        if i % 5 == 0:
            bad(rng.choice(used_before))
            if offset < -OUTAGE:  # a screenshot taken when it was what the wrong clock says
                bad(issue(f"M{rng.randrange(_MEMBERS):08d}", key=key, now=time.wall()))
            age = timedelta(minutes=rng.uniform(62, 3 * 24 * 60))
            bad(issue(f"M{rng.randrange(_MEMBERS):08d}", key=key, now=cut_at - age))
        if i % 7 == 0 and i:
            # From the outage, after a fresher code was seen: older than what the door knows.
            age = timedelta(minutes=rng.uniform(3, OUTAGE.total_seconds() / 60 - 1))
            bad(issue(f"M{rng.randrange(_MEMBERS):08d}", key=key, now=time.true - age))
    tally.unsynchronised_marked = sum(
        1
        for event in door.events[boot_events:]
        if event.type == DECISION_EVENT and event.data.get("clock_synchronised") is False
    )
    return tally


def _run(offset: timedelta, *, trusted: bool, valid: int, seed: int) -> Tally:
    key = IssuerKey("bench", Ed25519PrivateKey.generate())
    with tempfile.TemporaryDirectory(prefix="yz-clock-bench-") as folder:
        door = Door(
            Path(folder), BoardClock(true=TRUE_START, booted_at=TRUE_START), key, trusted=trusted
        )
        try:
            return _scenario(door, offset, random.Random(seed), valid)
        finally:
            door.close()


def run(*, valid: int = 200, seed: int = 7) -> dict[str, Any]:
    rows = []
    for name, offset in OFFSETS:
        trusted = _run(offset, trusted=True, valid=valid, seed=seed)
        plain = _run(offset, trusted=False, valid=valid, seed=seed)
        decisions = trusted.valid + trusted.bad
        rows.append(
            {
                "offset": name,
                "offset_s": int(offset.total_seconds()),
                **trusted.figures(),
                "decisions_marked_unsynchronised": trusted.unsynchronised_marked,
                "decisions_after_boot": decisions,
                "refusals": dict(sorted(trusted.refusals.items())),
                "wall_clock": plain.figures(),
            }
        )
    met = all(
        row["valid_admitted_ratio"] == 1.0 and row["stale_or_replayed_accepted"] == 0
        for row in rows
    )
    return {
        "bench": "clock",
        "outage_s": int(OUTAGE.total_seconds()),
        "valid_per_offset": valid,
        "offsets": rows,
        "targets": {"valid_admitted_ratio": 1.0, "stale_or_replayed_accepted": 0},
        "met": met,
    }


def render(figures: dict[str, Any]) -> Iterator[str]:
    yield (
        f"door booted offline after a {figures['outage_s'] // 60}-min power cut, "
        f"{figures['valid_per_offset']} valid codes per offset"
    )
    for row in figures["offsets"]:
        plain = row["wall_clock"]
        yield (
            f"  clock {row['offset']:>6}: valid admitted {row['valid_admitted_ratio']:.0%} "
            f"(wall clock alone: {plain['valid_admitted_ratio']:.0%}), "
            f"stale or replayed accepted {row['stale_or_replayed_accepted']} of "
            f"{row['stale_or_replayed_presented']} "
            f"(wall clock alone: {plain['stale_or_replayed_accepted']})"
        )
    yield "target met" if figures["met"] else "target NOT met"


def main(*, json: bool, valid: int = 200, lines: Callable[[str], Any] = print) -> dict[str, Any]:
    figures = run(valid=valid)
    if json:
        lines(jsonlib.dumps(figures, ensure_ascii=False))
    else:
        for line in render(figures):
            lines(line)
    return figures
