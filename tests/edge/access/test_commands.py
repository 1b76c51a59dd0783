"""Remote unlock: published by the cloud, checked by the box: topic, device, expiry, replay."""

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.control.admission import Admission, CommandGate, CommandReason
from edge.control.seen import SeenStore, SqliteSeenStore
from protocol.codec import encode
from protocol.commands import UNLOCK, UnlockCommand, decode_unlock, unlock_topic
from protocol.errors import PayloadError
from protocol.topics import Kind, Topic
from tests.cloud.commands_helper import publish_unlock

NOW = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
VENUE, DEVICE = "station-07", "door-1"
OWN_TOPIC = f"yz/v1/{VENUE}/{DEVICE}/cmd/unlock"


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Recorder:
    """Stands in for paho's Client.publish."""

    calls: list[tuple[str, bytes, int, bool]] = field(default_factory=list)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> object:
        self.calls.append((topic, payload, qos, retain))
        return None


def unlock_gate(device: str, *, clock: Clock, seen_store: SeenStore) -> CommandGate:
    """The command gate as a door wired for remote unlock alone sees it."""
    return CommandGate(device, venue=VENUE, clock=clock, seen_store=seen_store, names=(UNLOCK,))


def handler(tmp_path: Path, clock: Clock) -> CommandGate:
    store = SqliteSeenStore(tmp_path / "seen.db", clock=clock)
    return unlock_gate(DEVICE, clock=clock, seen_store=store)


def command(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "v": 1,
        "device": DEVICE,
        "command_id": "c0ffee00c0ffee00",
        "door": "main",
        "issued_at": "2025-05-01T03:00:00Z",
        "expires_at": "2025-05-01T03:01:00Z",
        "issued_by": "tech-li",
    }
    return fields | overrides


def payload(**overrides: object) -> bytes:
    return encode(UnlockCommand.model_validate(command(**overrides)))


def test_the_cloud_publishes_on_the_device_topic_qos1_not_retained(tmp_path: Path) -> None:
    publisher = Recorder()

    sent = publish_unlock(
        publisher,
        venue=VENUE,
        device=DEVICE,
        door="main",
        expires_at=NOW + timedelta(minutes=1),
        issued_by="tech-li",
        clock=lambda: NOW,
    )

    [(topic, body, qos, retain)] = publisher.calls
    assert (topic, qos, retain) == (OWN_TOPIC, 1, False)
    assert decode_unlock(Topic.parse(topic), body) == sent
    assert len(sent.command_id) == 32
    outcome = handler(tmp_path, Clock()).admit(topic, body)
    assert outcome.accepted
    assert outcome.command == sent


def test_the_cloud_refuses_to_build_a_long_lived_unlock() -> None:
    with pytest.raises(ValueError, match="at most 600 s"):
        publish_unlock(
            Recorder(),
            venue=VENUE,
            device=DEVICE,
            door="main",
            expires_at=NOW + timedelta(hours=1),
            issued_by="tech-li",
            clock=lambda: NOW,
        )


def test_an_unlock_is_accepted_once(tmp_path: Path) -> None:
    h = handler(tmp_path, Clock())

    first = h.admit(Topic.parse(OWN_TOPIC), payload())
    again = h.admit(Topic.parse(OWN_TOPIC), payload())

    assert first == Admission(
        CommandReason.ACCEPTED,
        "ok",
        UnlockCommand.model_validate(command()),
        command_id="c0ffee00c0ffee00",
        name="unlock",
    )
    assert again.reason is CommandReason.REPLAYED
    assert "executed already" in again.detail


def test_executed_ids_survive_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    assert handler(tmp_path, clock).admit(OWN_TOPIC, payload()).accepted

    clock.now = NOW + timedelta(seconds=30)
    after_restart = handler(tmp_path, clock).admit(OWN_TOPIC, payload())

    assert after_restart.reason is CommandReason.REPLAYED


def test_an_expired_unlock_is_refused(tmp_path: Path) -> None:
    clock = Clock(NOW + timedelta(seconds=61))

    outcome = handler(tmp_path, clock).admit(OWN_TOPIC, payload())

    assert outcome.reason is CommandReason.EXPIRED
    assert "expired 1 s ago" in outcome.detail


def test_an_unlock_at_its_expiry_instant_is_still_accepted(tmp_path: Path) -> None:
    clock = Clock(NOW + timedelta(seconds=60))

    assert handler(tmp_path, clock).admit(OWN_TOPIC, payload()).accepted


def test_old_ids_are_forgotten_only_long_after_expiry(tmp_path: Path) -> None:
    clock = Clock()
    store = SqliteSeenStore(tmp_path / "seen.db", clock=clock)
    assert store.remember("a" * 16, until=NOW)

    clock.now = NOW + timedelta(hours=23)
    assert not store.remember("a" * 16, until=NOW)
    clock.now = NOW + timedelta(days=2)
    assert store.remember("a" * 16, until=NOW)
    store.close()


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        (f"yz/v1/{VENUE}/door-2/cmd/unlock", CommandReason.NOT_OUR_TOPIC),
        (f"yz/v1/other/{DEVICE}/cmd/unlock", CommandReason.NOT_OUR_TOPIC),
        (f"yz/v1/{VENUE}/{DEVICE}/config", CommandReason.NOT_OUR_TOPIC),
        (f"yz/v1/{VENUE}/+/cmd/unlock", CommandReason.NOT_OUR_TOPIC),
        ("garbage", CommandReason.NOT_OUR_TOPIC),
        (f"yz/v1/{VENUE}/{DEVICE}/cmd/reboot", CommandReason.UNKNOWN_COMMAND),
    ],
)
def test_a_command_off_the_own_unlock_topic_is_refused(
    tmp_path: Path, topic: str, reason: CommandReason
) -> None:
    outcome = handler(tmp_path, Clock()).admit(topic, payload())

    assert outcome.reason is reason
    assert not outcome.accepted
    assert outcome.detail


def test_a_command_naming_another_device_is_refused(tmp_path: Path) -> None:
    outcome = handler(tmp_path, Clock()).admit(OWN_TOPIC, payload(device="door-2"))

    assert outcome.reason is CommandReason.WRONG_DEVICE
    assert "door-2" in outcome.detail


@pytest.mark.parametrize(
    ("body", "reason", "hint"),
    [
        (b"", CommandReason.MALFORMED, "not JSON"),
        (b"\xff\xfe", CommandReason.MALFORMED, "not UTF-8"),
        (b"[1]", CommandReason.MALFORMED, "JSON object"),
        (b"{" * 100_000, CommandReason.MALFORMED, "not JSON"),
        (b"x" * 300_000, CommandReason.MALFORMED, "limit"),
        (encode(UnlockCommand.model_validate(command())).replace(b'"v":1', b'"v":2'),
         CommandReason.UNSUPPORTED_VERSION, "schema version 2"),
        (b'{"v":true,"device":"door-1"}', CommandReason.UNSUPPORTED_VERSION, "version"),
        (b'{"v":1}', CommandReason.WRONG_DEVICE, "None"),
    ],
)  # fmt: skip
def test_malformed_payloads_are_refused_with_a_reason(
    tmp_path: Path, body: bytes, reason: CommandReason, hint: str
) -> None:
    outcome = handler(tmp_path, Clock()).admit(OWN_TOPIC, body)

    assert outcome.reason is reason
    assert hint in outcome.detail


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"command_id": "short"}, "command_id"),
        ({"command_id": "has space in it!"}, "command_id"),
        ({"door": "Main Door"}, "door"),
        ({"expires_at": "2025-05-01T02:59:00Z"}, "expires_at must be after issued_at"),
        ({"expires_at": "2025-05-01T04:00:00Z"}, "at most 600 s"),
        ({"issued_at": "2025-05-01T03:00:00"}, "issued_at"),
        ({"issued_by": ""}, "issued_by"),
        ({"extra": 1}, "extra"),
        ({"command_id": 12345678}, "command_id"),
    ],
)
def test_bad_fields_are_refused_with_the_field_named(
    tmp_path: Path, overrides: dict[str, object], field: str
) -> None:
    body = json.dumps(command(**overrides)).encode()

    outcome = handler(tmp_path, Clock()).admit(OWN_TOPIC, body)

    assert outcome.reason is CommandReason.MALFORMED
    assert field in outcome.detail


def test_a_refused_command_does_not_use_up_its_id(tmp_path: Path) -> None:
    clock = Clock()
    h = handler(tmp_path, clock)

    assert not h.admit(f"yz/v1/{VENUE}/door-2/cmd/unlock", payload()).accepted
    assert not h.admit(OWN_TOPIC, payload(device="door-2")).accepted
    assert h.admit(OWN_TOPIC, payload()).accepted


class _BrokenStore:
    def remember(self, command_id: str, *, until: datetime) -> bool:
        raise sqlite3.OperationalError("disk I/O error")


def test_a_store_that_cannot_record_refuses_the_unlock() -> None:
    h = unlock_gate(DEVICE, clock=Clock(), seen_store=_BrokenStore())

    outcome = h.admit(OWN_TOPIC, payload())

    assert outcome.reason is CommandReason.STORE_FAILED
    assert "disk I/O error" in outcome.detail


def test_decode_refuses_a_non_unlock_topic() -> None:
    with pytest.raises(PayloadError, match="does not carry unlock"):
        decode_unlock(Topic(VENUE, DEVICE, Kind.CONFIG), payload())


def test_unlock_topic_is_the_device_command_topic() -> None:
    assert str(unlock_topic(VENUE, DEVICE)) == OWN_TOPIC
