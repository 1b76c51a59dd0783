"""``update.state`` reports through ingest: idempotent, newest by seq, only about what was sent."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.releases.progress import advance_all
from cloud.releases.services import ReleaseServices
from protocol.release import UpdateState
from tests.cloud.auth_world import VENUE_A, World
from tests.cloud.releases.helpers import Boxes, add_boxes, publish, rollout_rows

INSTALLING, HEALTHY = UpdateState.INSTALLING, UpdateState.HEALTHY


@pytest.fixture
def sent(world: World, release_key: Ed25519PrivateKey) -> tuple[str, str, str]:
    """(rollout, the box sent the release, a box of the same rollout not sent it yet)."""
    publish(world, release_key, "0.2.0", 5)
    add_boxes(world.engine, VENUE_A, 2)
    body = {
        "release": "0.2.0",
        "target": {"venues": [VENUE_A]},
        "stages": [{"count": 1}, {"percent": 100}],
    }
    rollout = world.client.post("/api/v1/rollouts", json=body, headers=world.headers("ada"))
    rollout_id: str = rollout.json()["id"]
    services: ReleaseServices = world.client.app.state.releases  # type: ignore[attr-defined]
    advance_all(world.engine, world.clock[0], settings=services.settings)
    rows = rollout_rows(world.engine, rollout_id)
    first = next(d for d, row in rows.items() if row.command_id)
    other = next(d for d, row in rows.items() if not row.command_id)
    return rollout_id, first, other


def state_of(world: World, rollout_id: str, device: str) -> tuple[str, int | None]:
    row = rollout_rows(world.engine, rollout_id)[device]
    return row.state, row.seq


def test_the_newest_report_wins_and_a_resend_changes_nothing(
    world: World, boxes: Boxes, sent: tuple[str, str, str]
) -> None:
    rollout_id, box, _ = sent

    boxes.report(box, VENUE_A, HEALTHY, release="0.2.0", rollout=rollout_id, seq=20)
    boxes.report(box, VENUE_A, INSTALLING, release="0.2.0", rollout=rollout_id, seq=10)  # late
    boxes.report(box, VENUE_A, HEALTHY, release="0.2.0", rollout=rollout_id, seq=20)  # resent

    assert state_of(world, rollout_id, box) == ("healthy", 20)


def test_a_report_without_a_rollout_id_finds_the_release_sent(
    world: World, boxes: Boxes, sent: tuple[str, str, str]
) -> None:
    rollout_id, box, _ = sent

    boxes.report(box, VENUE_A, INSTALLING, release="0.2.0")

    assert state_of(world, rollout_id, box)[0] == "installing"


def test_reports_about_what_a_box_was_not_sent_are_ignored(
    world: World, boxes: Boxes, sent: tuple[str, str, str]
) -> None:
    rollout_id, box, waiting = sent
    [stranger] = add_boxes(world.engine, VENUE_A, 1, prefix="x")

    boxes.report(box, VENUE_A, HEALTHY, release="0.3.0", rollout=rollout_id)  # another release
    boxes.report(box, VENUE_A, HEALTHY, release="0.2.0", rollout="ro-0000000000000000")
    boxes.report(waiting, VENUE_A, HEALTHY, release="0.2.0", rollout=rollout_id)  # not sent yet
    boxes.report(stranger, VENUE_A, HEALTHY, release="0.2.0", rollout=rollout_id)  # not in it

    assert state_of(world, rollout_id, box) == ("pending", None)
    assert state_of(world, rollout_id, waiting) == ("scheduled", None)
    assert stranger not in rollout_rows(world.engine, rollout_id)
