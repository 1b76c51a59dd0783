"""A door end to end on its real parts: verifier, policy, drivers on mock pins, outbox."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.access.keys import KeyRing
from edge.access.members import MemberCache
from edge.access.occupancy import Occupancy
from edge.access.passback import Passback
from edge.access.policy import DoorPolicy
from edge.access.reasons import Reason
from edge.access.replay import ReplayCache
from edge.access.verifier import Verifier
from edge.control.actions import BoxActions
from edge.control.admission import CommandGate
from edge.control.dispatch import Dispatcher
from edge.control.lifecycle import Lifecycle
from edge.control.seen import SqliteSeenStore
from edge.control.verdict import Status, Verdict
from edge.door.controller import DECISION_EVENT, DoorController
from edge.door.monitor import DoorMonitor
from edge.hardware.door import DoorHardware
from edge.outbox import NewEvent, Outbox
from firmware_sim.door import SimDoor
from protocol.access import GUEST_GROUP, MemberRecord, MemberStatus
from protocol.codec import encode
from protocol.commands import RESULT_EVENT, UnlockCommand
from protocol.door_policy import DoorPolicyConfig
from protocol.membercode import IssuerKey, issue
from protocol.topics import Kind, Topic

from .fakes import FakeTime


@dataclass
class Door:
    controller: DoorController
    commands: Dispatcher
    outbox: Outbox
    sim: SimDoor
    time: FakeTime
    key: IssuerKey

    def code(self, member: str, **kwargs: object) -> str:
        return issue(member, key=self.key, now=self.time(), **kwargs)  # type: ignore[arg-type]

    def events(self) -> list[NewEvent]:
        rows = self.outbox.claim(limit=1000, window=10_000)
        return [
            NewEvent(self.time(), json.loads(r.body)["type"], json.loads(r.body)["data"])
            for r in rows
        ]


@pytest.fixture
def policy_fields() -> dict[str, object]:
    """Settings over the station's policy; a test overrides it with parametrize."""
    return {}


@pytest.fixture
def station(
    tmp_path: Path,
    door: DoorHardware,
    sim: SimDoor,
    fake_time: FakeTime,
    policy_fields: dict[str, object],
) -> Iterator[Door]:
    key = IssuerKey("k1", Ed25519PrivateKey.generate())
    members = MemberCache(tmp_path / "members.db")
    guest_until = int((fake_time() + timedelta(days=7)).timestamp())
    members.apply_snapshot(
        1,
        [
            MemberRecord("M1", MemberStatus.ACTIVE),
            MemberRecord("M2", MemberStatus.REVOKED),
            MemberRecord("G1", MemberStatus.ACTIVE, (GUEST_GROUP,), valid_until=guest_until),
        ],
        synced_at=fake_time(),
    )
    replay = ReplayCache(tmp_path / "replay.db")
    verifier = Verifier(KeyRing({"k1": key.public_key()}, 1), members, replay, clock=fake_time)
    config = DoorPolicyConfig.model_validate(
        {"door_id": "main", "passback_s": 60, "capacity": 2, **policy_fields}
    )
    passback = Passback(tmp_path / "passback.db")
    occupancy = Occupancy(tmp_path / "occupancy.json", clock=fake_time, has_beams=False)
    policy = DoorPolicy(
        config, occupancy=occupancy, bookings=None, passback=passback, clock=fake_time
    )
    outbox = Outbox(tmp_path / "outbox.db", clock=fake_time)
    seen = SqliteSeenStore(tmp_path / "commands.db", clock=fake_time)
    controller = DoorController(
        door_id="main",
        verifier=verifier,
        policy=policy,
        hardware=door,
        monitor=DoorMonitor(held_open_s=60).attach(door),
        events=outbox.append,
        clock=fake_time,
    )
    # The agent's command path (edge.control) in front of this controller's remote unlock.
    gate = CommandGate("door-01", venue="station-07", clock=fake_time, seen_store=seen)
    actions = BoxActions(
        role="door",
        lifecycle=Lifecycle(),
        diagnostics=lambda _command: Verdict(Status.FAILED, "not in this test"),
        unlock=controller.remote_unlock,
    )
    commands = Dispatcher(gate, run=actions.run, events=outbox.append, clock=fake_time)
    yield Door(controller, commands, outbox, sim, fake_time, key)
    for closable in (members, replay, passback, outbox, seen):
        closable.close()


def test_a_valid_member_opens_the_door_and_is_logged(station: Door) -> None:
    decision = station.controller.present(station.code("M1"))
    assert decision.reason is Reason.ACCEPTED
    assert decision.member_id == "M1"
    assert station.sim.relay_unlocked
    assert station.sim.led == "green"
    [event] = station.events()
    assert event.type == DECISION_EVENT
    assert event.data["reason"] == "accepted"
    assert event.data["member"] == "M1"
    assert event.data["door"] == "main"
    station.time.advance(6)
    assert not station.sim.relay_unlocked


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("https://qr.alipay.com/fkx12345", Reason.NOT_MEMBER_CODE),
        ("wxp://f2f0abcdef", Reason.NOT_MEMBER_CODE),
        ("YZ1:" + "A" * 40, Reason.MALFORMED),
        ("", Reason.NOT_MEMBER_CODE),
    ],
)
def test_other_codes_are_refused_and_logged(station: Door, text: str, reason: Reason) -> None:
    decision = station.controller.present(text)
    assert decision.reason is reason
    assert not station.sim.relay_unlocked
    assert station.sim.led == "red"
    assert [e.data["reason"] for e in station.events()] == [str(reason)]


def test_each_refusal_reason_keeps_the_door_shut(station: Door) -> None:
    other = IssuerKey("k1", Ed25519PrivateKey.generate())
    cases = {
        Reason.REVOKED: station.code("M2"),
        Reason.BAD_SIGNATURE: issue("M1", key=other, now=station.time()),
        Reason.UNKNOWN_KEY: issue("M1", key=IssuerKey("k9", other.private_key), now=station.time()),
        Reason.EXPIRED: issue("M1", key=station.key, now=station.time() - timedelta(minutes=5)),
        Reason.NOT_YET_VALID: issue(
            "M1", key=station.key, now=station.time() + timedelta(minutes=5)
        ),
    }
    for reason, code in cases.items():
        assert station.controller.present(code).reason is reason
        assert not station.sim.relay_unlocked


def test_a_code_opens_once_then_passback_then_replay(station: Door) -> None:
    code = station.code("M1")
    assert station.controller.present(code).reason is Reason.ACCEPTED
    assert station.controller.present(station.code("M1")).reason is Reason.PASSBACK
    station.time.advance(61)
    # The first code is still inside its lifetime + skew: it was burned when it opened.
    assert station.controller.present(code).reason is Reason.REPLAYED


@pytest.mark.parametrize(
    ("policy_fields", "reason", "detail"),
    [
        ({}, Reason.ACCEPTED, "open at 11:00; 0/2 inside"),
        ({"admit_guests": False}, Reason.GROUP_REQUIRED, "guests are not admitted at this door"),
    ],
    ids=["station-admits-guests", "library-refuses-guests"],
)
def test_a_guest_pass_opens_only_where_guests_are_admitted(
    station: Door, reason: Reason, detail: str
) -> None:
    decision = station.controller.present(station.code("G1", groups=(GUEST_GROUP,)))
    assert (decision.reason, decision.detail, decision.member_id) == (reason, detail, "G1")
    assert station.sim.relay_unlocked is (reason is Reason.ACCEPTED)
    [event] = station.events()
    assert (event.data["reason"], event.data["detail"]) == (str(reason), detail)
    # A member of another group is let in either way.
    station.time.advance(6)
    rider = station.code("M1", groups=("rider",))
    assert station.controller.present(rider).reason is Reason.ACCEPTED


def test_full_venue_refuses(station: Door) -> None:
    for member in ("M1", "M3"):
        assert station.controller.present(station.code(member)).reason is Reason.ACCEPTED
    assert station.controller.present(station.code("M4")).reason is Reason.FULL


def test_fire_alarm_opens_and_every_scan_is_an_emergency(station: Door) -> None:
    station.sim.fire_alarm(on=True)
    assert station.sim.relay_unlocked
    assert station.controller.present(station.code("M1")).reason is Reason.EMERGENCY
    station.controller.tick()
    kinds = [e.type for e in station.events()]
    assert "emergency.on" in kinds
    assert DECISION_EVENT in kinds


def _unlock(
    station: Door,
    *,
    command_id: str,
    expires_in: float,
    device: str = "door-01",
    door: str = "main",
) -> bytes:
    now = station.time()
    command = UnlockCommand(
        device=device,
        command_id=command_id,
        door=door,
        issued_at=now,
        expires_at=now + timedelta(seconds=expires_in),
        issued_by="tech-li",
    )
    return encode(command)


def test_remote_unlock_once_and_only_before_expiry(station: Door) -> None:
    topic = Topic("station-07", "door-01", Kind.CMD, "unlock")
    station.commands(topic, _unlock(station, command_id="cmd-0001", expires_in=60))
    assert station.sim.relay_unlocked
    station.time.advance(10)
    station.commands(topic, _unlock(station, command_id="cmd-0001", expires_in=60))
    assert not station.sim.relay_unlocked  # a replayed command id does nothing
    expired = _unlock(station, command_id="cmd-0002", expires_in=1)
    station.time.advance(5)
    station.commands(topic, expired)
    assert not station.sim.relay_unlocked
    events = station.events()
    assert [e.data["reason"] for e in events if e.type == DECISION_EVENT] == ["remote_unlock"]
    results = [e.data for e in events if e.type == RESULT_EVENT]
    assert [(r["command"], r["status"]) for r in results] == [
        ("cmd-0001", "done"),
        ("cmd-0001", "replayed"),
        ("cmd-0002", "expired"),
    ]


def test_commands_for_another_device_or_garbage_never_open(station: Door) -> None:
    topic = Topic("station-07", "door-01", Kind.CMD, "unlock")
    for payload in (
        b"",
        b"{",
        b"\xff",
        _unlock(station, command_id="cmd-0003", expires_in=60, device="door-02"),
    ):
        station.commands(topic, payload)
    station.commands(
        Topic("station-07", "door-02", Kind.CMD, "unlock"),
        _unlock(station, command_id="cmd-0004", expires_in=60),
    )
    assert not station.sim.relay_unlocked
    events = station.events()
    results = [e.data for e in events if e.type == RESULT_EVENT]
    assert [r["status"] for r in results] == ["refused"] * 5
    assert not any(e.type == DECISION_EVENT for e in events)


def test_an_unlock_for_another_door_of_this_box_is_refused(station: Door) -> None:
    topic = Topic("station-07", "door-01", Kind.CMD, "unlock")
    station.commands(topic, _unlock(station, command_id="cmd-0005", expires_in=60, door="back"))

    assert not station.sim.relay_unlocked
    [result] = [e.data for e in station.events() if e.type == RESULT_EVENT]
    assert result["status"] == "refused"
    assert "not 'back'" in str(result["detail"])
