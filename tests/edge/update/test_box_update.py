"""A simulated box takes real releases: switches to a good one, rolls back a bad one, and
comes back on a working release after a power cut at every step of the installer.

Each box is a real agent process (a sensor hub on firmware_sim) run from its release's own
Python by the simulated init (yizhan/siminit.py), talking to a real broker; the
installer is the real one.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from edge.update import journal
from edge.update.journal import Step
from protocol.release import UPDATE_STATE_EVENT
from tests.edge.update.conftest import BAD, GOOD, Built, SimBox
from tests.helpers import wait_for


def _step(box: SimBox) -> Step | None:
    entry = journal.read(box.layout.journal_file)
    return entry.step if entry is not None else None


def _reported(box: SimBox, state: str) -> bool:
    """The agent put an update.state event with ``state`` into its outbox."""
    outbox = box.data / "hub-1-outbox.db"
    if not outbox.exists():
        return False
    with sqlite3.connect(outbox) as db:
        bodies = [row[0] for row in db.execute("select body from outbox")]
    return any(
        UPDATE_STATE_EVENT in body and json.loads(body).get("data", {}).get("state") == state
        for body in bodies
    )


@pytest.mark.slow
def test_a_good_release_is_switched_to_and_kept(built: Built, sim_box: SimBox) -> None:
    box = sim_box
    box.start()
    box.wait_healthy(built.releases.base)
    box.offer(built.releases, GOOD)
    wait_for(lambda: _step(box) is Step.CONFIRMED, timeout=90, interval=0.2,
             message=f"the switch to {GOOD} confirmed\n{box.tail()}")  # fmt: skip
    assert box.running() == GOOD
    assert box.layout.target(box.layout.previous) == built.releases.base
    assert box.layout.accepted_serial() == built.releases.releases[GOOD].serial
    # The outcome reaches the cloud's path: the new agent put it in its outbox.
    wait_for(lambda: _reported(box, "healthy"), timeout=30, interval=0.2,
             message="update.state healthy in the outbox")  # fmt: skip
    # Only the changed wheel was unpacked: the store holds the base's wheels plus one.
    base = built.releases.releases[built.releases.base]
    stored = {entry.name for entry in box.layout.store.iterdir()}
    assert len(stored) == len(base.wheels) + 1


@pytest.mark.slow
def test_a_release_that_never_gets_healthy_is_rolled_back(built: Built, sim_box: SimBox) -> None:
    box = sim_box
    box.start(health_deadline_s=12)
    box.wait_healthy(built.releases.base)
    box.offer(built.releases, BAD)
    wait_for(lambda: _step(box) is Step.ROLLED_BACK, timeout=120, interval=0.2,
             message=f"{BAD} rolled back\n{box.tail()}")  # fmt: skip
    assert box.running() == built.releases.base
    entry = journal.read(box.layout.journal_file)
    assert entry is not None
    assert "not healthy within 12 s" in entry.detail
    assert "cannot start" in box.tail()  # the fault the release carries, in the agent's log
    # The old release runs again and says what happened.
    wait_for(lambda: _reported(box, "rolled_back"), timeout=30, interval=0.2,
             message=f"update.state rolled_back in the outbox\n{box.tail()}")  # fmt: skip
    assert box.layout.accepted_serial() < built.releases.releases[BAD].serial


# Every point where the installer can die; "unpacked" is inside the store's build.
CUT_POINTS = ["building", "unpacked", "built", "switching", "stopped", "previous", "current",
              "trial", "started"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("point", CUT_POINTS)
def test_a_power_cut_at_any_step_leaves_a_box_on_a_working_release(
    built: Built, sim_box: SimBox, point: str
) -> None:
    box = sim_box
    box.start(cut_at=point)
    box.wait_healthy(built.releases.base)
    box.offer(built.releases, GOOD)
    assert box.process is not None
    box.process.wait(120)  # the installer died at the point, as the power went
    assert box.process.returncode == 75, box.tail()
    box.power_cut()  # and the agent with it
    # Page cache lost: what was being unpacked never reached the card.
    for leftover in [*box.layout.store.glob(".*.tmp"), *box.layout.releases.glob(".*.tmp")]:
        for file in leftover.rglob("*"):
            if file.is_file() and not file.is_symlink():
                file.write_bytes(b"")
    for version in (built.releases.base, GOOD):
        box.spool.forget_health(version)
    box.start()  # power back: the boot check, then the agent

    def healthy_release() -> str | None:
        running = box.running()
        return running if running is not None and box.spool.is_healthy(running) else None

    running = wait_for(
        healthy_release,
        timeout=60,
        interval=0.1,
        message=f"the release current names reports healthy\n{box.tail()}",
    )
    assert running in (built.releases.base, GOOD)
    assert box.layout.is_complete(running)
    previous = box.layout.target(box.layout.previous)
    assert previous is not None
    assert box.layout.is_complete(previous)
    assert _step(box) in (Step.FAILED, Step.ROLLED_BACK, Step.CONFIRMED)
    assert not box.spool.request_file.exists()  # not retried in a loop; the cloud resends
