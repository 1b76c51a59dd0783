"""Every message on the box's cmd/+ gets exactly one command.result, whatever became of it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edge.control.actions import BoxActions
from edge.control.admission import CommandGate
from edge.control.diagnostics import DiagnosticsReporter
from edge.control.dispatch import Dispatcher
from edge.control.lifecycle import Lifecycle
from edge.control.logs import LogRing
from edge.control.seen import SqliteSeenStore
from edge.control.verdict import Status, Verdict
from edge.door.controller import RemoteUnlock
from edge.outbox import NewEvent
from protocol.commands import UnlockCommand, WipeCommand
from protocol.health import Heartbeat, decode_diagnostics
from protocol.topics import Kind, Topic

from .fakes import DEVICE, VENUE, Clock, EventLog, FakeIdentity, command


@dataclass
class Published:
    """The uplink's direct publish; ``connected`` says whether it gets through."""

    connected: bool = True
    sent: list[tuple[Kind, bytes]] = field(default_factory=list)

    def __call__(self, kind: Kind, payload: bytes) -> bool:
        if self.connected:
            self.sent.append((kind, payload))
        return self.connected


@dataclass
class Box:
    commands: Dispatcher
    events: EventLog
    clock: Clock
    lifecycle: Lifecycle
    identity: FakeIdentity
    unlocked: list[UnlockCommand]
    published: Published

    def send(self, name: str, **overrides: object) -> dict[str, object]:
        """Publish one command; return its one result."""
        before = len(self.events.results())
        self.commands(*command(name, **overrides))
        results = self.events.results()
        assert len(results) == before + 1, results
        return results[-1]


def build_box(
    tmp_path: Path,
    *,
    role: str = "door",
    identity: FakeIdentity | None = None,
    sink: Callable[[Sequence[NewEvent]], None] | None = None,
) -> Iterator[Box]:
    clock, events, lifecycle = Clock(), EventLog(), Lifecycle()
    store = SqliteSeenStore(tmp_path / "commands.db", clock=clock)
    unlocked: list[UnlockCommand] = []

    def unlock(cmd: UnlockCommand) -> RemoteUnlock:
        unlocked.append(cmd)
        return RemoteUnlock(opened=cmd.door == "main", detail=f"door {cmd.door}")

    published = Published()
    ring = LogRing()
    ring.emit(_record("the box started"))
    actions = BoxActions(
        role=role,
        lifecycle=lifecycle,
        diagnostics=DiagnosticsReporter(
            heartbeat=lambda: Heartbeat(uptime_s=5, outbox_depth=0),
            logs=ring,
            publish=published,
            clock=clock,
            versions=lambda: {"python": "3.11.9"},
        ),
        unlock=unlock if role == "door" else None,
        identity=identity,
    )
    gate = CommandGate(DEVICE, venue=VENUE, clock=clock, seen_store=store)
    dispatcher = Dispatcher(gate, run=actions.run, events=sink or events, clock=clock)
    yield Box(dispatcher, events, clock, lifecycle, identity or FakeIdentity(), unlocked, published)
    store.close()


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("edge", logging.INFO, __file__, 1, message, None, None)


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    yield from build_box(tmp_path, identity=FakeIdentity())


# --- happy paths -------------------------------------------------------------------------


def test_an_unlock_opens_the_door_once(box: Box) -> None:
    result = box.send("unlock")

    assert result == {
        "command": "unlock-0001",
        "name": "unlock",
        "ok": True,
        "status": "done",
        "detail": "door main",
    }
    assert [c.door for c in box.unlocked] == ["main"]


def test_an_unlock_of_a_door_this_box_does_not_run_is_refused(box: Box) -> None:
    result = box.send("unlock", door="back")

    assert (result["ok"], result["status"]) == (False, "refused")


@pytest.mark.parametrize("role", ["sensor-hub", "kiosk"])
def test_a_box_without_a_door_refuses_unlock_as_unsupported(tmp_path: Path, role: str) -> None:
    for box in build_box(tmp_path, role=role):
        result = box.send("unlock")

        assert result["status"] == "refused"
        assert f"this box is a {role} and has no door" in str(result["detail"])


def test_restart_is_reported_then_ends_the_run(box: Box) -> None:
    result = box.send("restart")

    assert (result["ok"], result["status"]) == (True, "done")
    assert box.lifecycle.asked
    assert box.lifecycle.close(stopped=False).outcome == "restart"


def test_a_restart_after_the_run_ended_is_refused(box: Box) -> None:
    box.lifecycle.close(stopped=True)

    result = box.send("restart")

    assert result["status"] == "refused"
    assert "stopping already" in str(result["detail"])


def test_diagnostics_are_published_on_the_diag_topic(box: Box) -> None:
    result = box.send("diagnostics", log_lines=10)

    assert (result["ok"], result["status"]) == (True, "done")
    [(kind, payload)] = box.published.sent
    assert kind is Kind.DIAG
    report = decode_diagnostics(Topic(VENUE, DEVICE, Kind.DIAG), payload)
    assert report.command_id == "diagno-0001"
    assert report.versions == {"python": "3.11.9"}
    assert len(report.logs) == 1
    assert report.logs[0].endswith("the box started")


def test_diagnostics_while_offline_fail_with_what_to_do(box: Box) -> None:
    box.published.connected = False

    result = box.send("diagnostics")

    assert (result["ok"], result["status"]) == (False, "failed")
    assert "ask again once the box is online" in str(result["detail"])


def test_rotate_credentials_stages_the_new_password(box: Box) -> None:
    result = box.send("rotate-credentials")

    assert (result["ok"], result["status"]) == (True, "staged")
    assert box.identity.staged == [("n3w-passw0rd-long-enough", 2, "door-01")]


def test_rotate_to_the_generation_in_use_is_done_and_to_an_older_one_refused(box: Box) -> None:
    box.identity.generation = 3

    same = box.send("rotate-credentials", command_id="rotate-0003", generation=3)
    older = box.send("rotate-credentials", command_id="rotate-0002", generation=2)

    assert (same["ok"], same["status"]) == (True, "done")
    assert (older["ok"], older["status"]) == (False, "refused")
    assert "not newer than the one in use (3)" in str(older["detail"])
    assert box.identity.staged == []


def test_rotate_without_an_identity_is_refused(tmp_path: Path) -> None:
    for box in build_box(tmp_path, identity=None):
        result = box.send("rotate-credentials")

        assert result["status"] == "refused"
        assert "this box has no claimed identity" in str(result["detail"])


def test_a_wipe_is_left_to_the_agent_which_reports_it(box: Box) -> None:
    box.commands(*command("wipe"))

    assert box.events.results() == []  # reported once the runtimes are closed
    pending = box.lifecycle.pending_wipe
    assert isinstance(pending, WipeCommand)
    box.commands.report(pending, Verdict(Status.DONE, "wiped"))
    assert [r["status"] for r in box.events.results()] == ["done"]
    assert box.lifecycle.close(stopped=True).outcome == "wiped"


def test_a_second_wipe_while_one_is_pending_is_refused(box: Box) -> None:
    box.commands(*command("wipe"))

    result = box.send("wipe", command_id="wipe-0002")

    assert result["status"] == "refused"
    assert "wipe wipe-0001 is under way" in str(result["detail"])


def test_a_failing_action_is_reported_and_does_not_raise(tmp_path: Path) -> None:
    for box in build_box(tmp_path, identity=_BrokenIdentity()):
        result = box.send("rotate-credentials")

        assert (result["ok"], result["status"]) == (False, "failed")
        assert "OSError: disk full" in str(result["detail"])


class _BrokenIdentity(FakeIdentity):
    def stage(self, password: str, generation: int, *, username: str | None = None) -> bool:
        raise OSError("disk full")


def _full_disk(_events: Sequence[NewEvent]) -> None:
    raise OSError("disk full")


def test_a_result_that_cannot_be_written_does_not_raise(tmp_path: Path) -> None:
    for box in build_box(tmp_path, sink=_full_disk):
        box.commands(*command("restart"))

        assert box.lifecycle.asked


# --- refusals ----------------------------------------------------------------------------


def test_an_expired_command_is_refused(box: Box) -> None:
    box.clock.advance(61)

    result = box.send("restart")

    assert (result["command"], result["status"]) == ("restar-0001", "expired")
    assert "expired 1 s ago" in str(result["detail"])
    assert not box.lifecycle.asked


def test_a_command_executed_before_a_restart_is_refused_as_replayed(tmp_path: Path) -> None:
    for first in build_box(tmp_path):
        assert first.send("unlock")["status"] == "done"
    for second in build_box(tmp_path):  # a new store on the same file: the box restarted
        result = second.send("unlock")

        assert (result["command"], result["status"]) == ("unlock-0001", "replayed")
        assert second.unlocked == []


def test_the_replayed_store_is_shared_by_every_command(box: Box) -> None:
    box.send("restart", command_id="shared-0001")

    result = box.send("diagnostics", command_id="shared-0001")

    assert result["status"] == "replayed"
    assert box.published.sent == []


@pytest.mark.parametrize(
    "topic",
    [
        f"yz/v1/{VENUE}/door-02/cmd/restart",
        f"yz/v1/station-08/{DEVICE}/cmd/restart",
        f"yz/v1/{VENUE}/{DEVICE}/config",
        "not/a/topic",
    ],
)
def test_a_message_off_the_own_command_topic_is_refused(box: Box, topic: str) -> None:
    _own, payload = command("restart")

    box.commands(topic, payload)

    [result] = box.events.results()
    assert (result["command"], result["status"]) == ("restar-0001", "refused")
    assert not box.lifecycle.asked


def test_an_unknown_command_name_is_reported_as_such(box: Box) -> None:
    box.commands(Topic(VENUE, DEVICE, Kind.CMD, "reboot"), b'{"command_id": "abcdef0123"}')

    [result] = box.events.results()
    assert (result["name"], result["status"], result["ok"]) == ("reboot", "unknown_command", False)
    assert result["command"] == "abcdef0123"
    assert "it knows diagnostics, restart, rotate-credentials, unlock, update, wipe" in str(
        result["detail"]
    )


@pytest.mark.parametrize(
    ("payload", "hint"),
    [
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 100_000, "nested"),
        (b"x" * 300_000, "limit"),
        (b'{"v": 2, "device": "door-01"}', "schema version 2"),
    ],
)
def test_a_malformed_command_is_refused_with_the_reason(
    box: Box, payload: bytes, hint: str
) -> None:
    box.commands(Topic(VENUE, DEVICE, Kind.CMD, "restart"), payload)

    [result] = box.events.results()
    assert (result["command"], result["name"], result["status"]) == (
        "unreadable",
        "restart",
        "refused",
    )
    assert hint in str(result["detail"])


def test_a_command_naming_another_device_is_refused(box: Box) -> None:
    result = box.send("unlock", device="door-02")

    assert result["status"] == "refused"
    assert "door-02" in str(result["detail"])
    assert box.unlocked == []


def test_a_refusal_names_the_command_id_when_the_payload_has_one(box: Box) -> None:
    topic, _payload = command("restart")
    body = json.dumps({"v": 1, "device": DEVICE, "command_id": "c0ffee00", "extra": 1})

    box.commands(topic, body.encode())

    [result] = box.events.results()
    assert (result["command"], result["status"]) == ("c0ffee00", "refused")
