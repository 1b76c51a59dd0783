"""A real door stack for benchmarks: the scan bench times decode -> relay through it."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
from edge.door.controller import DoorController, Face
from edge.door.monitor import DoorMonitor
from edge.hardware.door import DoorHardware, DoorPins
from edge.outbox import Outbox
from protocol.access import MemberRecord, MemberStatus
from protocol.door_policy import DoorPolicyConfig
from protocol.membercode import IssuerKey, issue

_PINS = DoorPins(relay=5, green_led=6, red_led=13, buzzer=19, door_contact=26, exit_button=20)


@dataclass
class BenchDoor:
    """``present(text)`` runs verify + policy + relay + signal + event write."""

    controller: DoorController
    key: IssuerKey
    now: datetime
    decisions: dict[Reason, int] = field(default_factory=dict)

    def present(self, text: str) -> Reason:
        reason = self.controller.present(text).reason
        self.decisions[reason] = self.decisions.get(reason, 0) + 1
        return reason

    def code(self, i: int) -> str:
        return issue(f"M{i:08d}", key=self.key, now=self.now)

    def hostile(self) -> Iterator[str]:
        """Codes that must never open: forged, tampered, expired, future, foreign."""
        other = IssuerKey(self.key.kid, Ed25519PrivateKey.generate())
        good = self.code(1)
        yield issue("M00000001", key=other, now=self.now)
        yield good[:-2] + ("AA" if not good.endswith("AA") else "BB")
        yield issue("M00000002", key=self.key, now=self.now - timedelta(hours=2))
        yield issue("M00000003", key=self.key, now=self.now + timedelta(hours=2))
        yield "https://qr.alipay.com/fkx19230abc"
        yield "wxp://f2f0_h6Ybq6Dm1sXq"
        yield issue("M00000009", key=self.key, now=self.now)  # revoked member


@contextmanager
def bench_door(
    *,
    members: int = 1_000,
    clock: Callable[[], datetime] | None = None,
    key: IssuerKey | None = None,
    face: Face | None = None,
) -> Iterator[BenchDoor]:
    """A door with every part real (SQLite caches, outbox with FULL sync, mock GPIO).

    ``key`` lets two doors take the same codes; ``face`` is told of each decision right
    after the relay and LEDs, as a box's screen and voice are.
    """
    now = (clock or (lambda: datetime.now(UTC)))()
    frozen = lambda: now  # noqa: E731 - codes made now stay valid however long the bench runs
    key = key or IssuerKey("bench", Ed25519PrivateKey.generate())
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="yz-door-bench-")))
        cache = MemberCache(folder / "members.db")
        stack.callback(cache.close)
        records = (
            MemberRecord(f"M{i:08d}", MemberStatus.REVOKED if i == 9 else MemberStatus.ACTIVE)
            for i in range(1, members + 1)
        )
        cache.apply_snapshot(1, records, synced_at=now)
        replay = ReplayCache(folder / "replay.db")
        stack.callback(replay.close)
        passback = Passback(folder / "passback.db")
        stack.callback(passback.close)
        outbox = Outbox(folder / "outbox.db", clock=frozen)
        stack.callback(outbox.close)
        factory = MockFactory()
        stack.callback(factory.close)
        hardware = DoorHardware(_PINS, clock=frozen, pin_factory=factory)
        stack.callback(hardware.close)
        policy = DoorPolicy(
            DoorPolicyConfig(door_id="bench"),
            occupancy=Occupancy(folder / "occupancy.json", clock=frozen, has_beams=False),
            bookings=None,
            passback=passback,
            clock=frozen,
        )
        controller = DoorController(
            door_id="bench",
            verifier=Verifier(KeyRing({key.kid: key.public_key()}, 1), cache, replay, clock=frozen),
            policy=policy,
            hardware=hardware,
            monitor=DoorMonitor().attach(hardware),
            events=outbox.append,
            clock=frozen,
            face=face,
        )
        yield BenchDoor(controller, key, now)
