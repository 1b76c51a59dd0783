"""A rollout's stages driven by real ``update.state`` events through ingest; no sleeping.

The job's step (``advance_all``) is called directly at the test's own clock, as the leader's
scheduler would call it every ``rollout_interval_s``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.releases.progress import advance_all
from cloud.releases.services import ReleaseServices
from protocol.release import UpdateState
from tests.cloud.auth_world import VENUE_A, World
from tests.cloud.releases.helpers import Boxes, add_boxes, commands_of, publish, rollout_rows

ROLLOUTS = "/api/v1/rollouts"
HEALTHY, FAILED, ROLLED_BACK = UpdateState.HEALTHY, UpdateState.FAILED, UpdateState.ROLLED_BACK


@pytest.fixture
def hubs(world: World, release_key: Ed25519PrivateKey) -> list[str]:
    publish(world, release_key, "0.2.0", 5)
    return add_boxes(world.engine, VENUE_A, 4)


def step(world: World, *, after_s: float = 0) -> None:
    world.clock[0] += timedelta(seconds=after_s)
    services: ReleaseServices = world.client.app.state.releases  # type: ignore[attr-defined]
    advance_all(world.engine, world.clock[0], settings=services.settings)


def start(world: World, **body: Any) -> str:
    payload = {"release": "0.2.0", "target": {"venues": [VENUE_A]}, **body}
    answer = world.client.post(ROLLOUTS, json=payload, headers=world.headers("tom"))
    assert answer.status_code == 201, answer.text
    rollout_id: str = answer.json()["id"]
    return rollout_id


def show(world: World, rollout_id: str) -> dict[str, Any]:
    answer = world.client.get(f"{ROLLOUTS}/{rollout_id}", headers=world.headers("mia"))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def sent(world: World, rollout_id: str) -> list[str]:
    """The boxes sent the update so far, in the order of the stages."""
    rows = rollout_rows(world.engine, rollout_id)
    return [d for d, row in sorted(rows.items(), key=lambda i: i[1].stage) if row.command_id]


def succeed(boxes: Boxes, device: str, rollout_id: str) -> None:
    for state in (UpdateState.DOWNLOADING, UpdateState.INSTALLING, HEALTHY):
        running = "0.2.0" if state is HEALTHY else "0.1.0"
        boxes.report(device, VENUE_A, state, release="0.2.0", rollout=rollout_id, running=running)


def test_stages_follow_the_reports_and_their_soaks(
    world: World, hubs: list[str], boxes: Boxes
) -> None:
    rollout_id = start(world)

    step(world)
    [canary] = sent(world, rollout_id)
    [command] = commands_of(world.engine, rollout_id)
    assert command.device_id == canary
    assert command.args["serial"] == 5
    assert command.args["window"] == {"start": "03:00", "end": "05:00", "tz": "Asia/Shanghai"}
    boxes.report(canary, VENUE_A, UpdateState.DOWNLOADING, release="0.2.0", rollout=rollout_id)
    step(world, after_s=600)
    assert show(world, rollout_id)["states"]["downloading"] == 1
    assert len(sent(world, rollout_id)) == 1  # no answer yet: the stage waits

    succeed(boxes, canary, rollout_id)
    step(world)
    step(world, after_s=59)
    assert len(sent(world, rollout_id)) == 1  # soaking
    step(world, after_s=2)
    assert len(sent(world, rollout_id)) == 2  # 50 %: one box more

    succeed(boxes, sent(world, rollout_id)[1], rollout_id)
    step(world)
    step(world, after_s=61)
    assert len(sent(world, rollout_id)) == 4
    for device in sent(world, rollout_id)[2:]:
        succeed(boxes, device, rollout_id)
    step(world)

    shown = show(world, rollout_id)
    assert shown["status"] == "done"
    assert shown["states"] == {"healthy": 4}
    assert [s["states"] for s in shown["stages"]] == [
        {"healthy": 1},
        {"healthy": 1},
        {"healthy": 2},
    ]
    assert {d["running"] for d in shown["device_list"]} == {"0.2.0"}
    versions = world.client.get("/api/v1/releases/devices", headers=world.headers("tom")).json()
    mine = {d["device_id"]: d for d in versions["data"] if d["device_id"] in hubs}
    assert {(d["running"], d["state"], d["release"]) for d in mine.values()} == {
        ("0.2.0", "healthy", "0.2.0")
    }


def test_the_rollout_stops_itself_past_the_threshold(
    world: World, hubs: list[str], boxes: Boxes
) -> None:
    rollout_id = start(world, stages=[{"count": 1, "soak_s": 0}, {"percent": 100}])
    step(world)
    [canary] = sent(world, rollout_id)

    boxes.report(canary, VENUE_A, ROLLED_BACK, release="0.2.0", rollout=rollout_id,
                 running="0.1.0", detail="no broker within 60 s")  # fmt: skip
    step(world)
    step(world, after_s=600)

    shown = show(world, rollout_id)
    assert shown["status"] == "stopped"
    assert "1 of 1 boxes" in shown["reason"]
    assert len(commands_of(world.engine, rollout_id)) == 1  # nothing more was sent
    canary_row = next(d for d in shown["device_list"] if d["device_id"] == canary)
    assert canary_row["state"] == "rolled_back"
    assert canary_row["detail"] == "no broker within 60 s"
    assert canary_row["running"] == "0.1.0"

    # Resumed by hand: the failure is accepted, the next stage goes; a new failure stops it.
    resumed = world.client.post(f"{ROLLOUTS}/{rollout_id}/resume", headers=world.headers("tom"))
    assert resumed.json()["status"] == "running", resumed.text
    step(world)
    assert len(sent(world, rollout_id)) == 4
    failing = sent(world, rollout_id)[1]
    boxes.report(failing, VENUE_A, FAILED, release="0.2.0", rollout=rollout_id, detail="hash")
    step(world)
    assert show(world, rollout_id)["status"] == "stopped"


def test_failures_at_the_threshold_do_not_stop_it(
    world: World, release_key: Ed25519PrivateKey, boxes: Boxes
) -> None:
    publish(world, release_key, "0.2.0", 5)
    hubs = add_boxes(world.engine, VENUE_A, 10)
    rollout_id = start(
        world, stages=[{"count": 5, "soak_s": 0}, {"percent": 100}], failure_threshold=0.2
    )
    step(world)
    first = sent(world, rollout_id)
    assert len(first) == 5

    boxes.report(first[0], VENUE_A, FAILED, release="0.2.0", rollout=rollout_id)
    for device in first[1:]:
        succeed(boxes, device, rollout_id)
    step(world)
    step(world)
    assert show(world, rollout_id)["status"] == "running"  # 1 of 5 is 20 %, not above
    assert len(sent(world, rollout_id)) == len(hubs)

    second = [d for d in sent(world, rollout_id) if d not in first]
    boxes.report(second[0], VENUE_A, ROLLED_BACK, release="0.2.0", rollout=rollout_id)
    boxes.report(second[1], VENUE_A, ROLLED_BACK, release="0.2.0", rollout=rollout_id)
    step(world)
    assert show(world, rollout_id)["status"] == "stopped"  # 3 of 10 is above 20 %


def test_a_silent_box_fails_at_the_stage_timeout(
    world: World, hubs: list[str], boxes: Boxes
) -> None:
    rollout_id = start(world, stages=[{"count": 1, "soak_s": 0}, {"percent": 100}])
    step(world)
    step(world, after_s=3599)
    assert show(world, rollout_id)["status"] == "running"

    step(world, after_s=2)

    shown = show(world, rollout_id)
    assert shown["status"] == "stopped"
    assert shown["states"]["failed"] == 1
    # The box's word still counts when it comes: it is what the box did.
    [canary] = sent(world, rollout_id)
    succeed(boxes, canary, rollout_id)
    assert show(world, rollout_id)["states"].get("failed") is None


def test_forced_rollouts_carry_no_window_and_pause_holds_the_next_stage(
    world: World, hubs: list[str], boxes: Boxes
) -> None:
    rollout_id = start(world, force=True, stages=[{"count": 1}, {"percent": 100}])
    step(world)
    [canary] = sent(world, rollout_id)
    [command] = commands_of(world.engine, rollout_id)
    assert command.args["window"] is None

    world.client.post(f"{ROLLOUTS}/{rollout_id}/pause", headers=world.headers("tom"))
    succeed(boxes, canary, rollout_id)
    step(world)
    step(world)
    assert len(sent(world, rollout_id)) == 1
    assert show(world, rollout_id)["states"]["healthy"] == 1  # reports still count

    world.client.post(f"{ROLLOUTS}/{rollout_id}/resume", headers=world.headers("tom"))
    step(world)
    step(world)
    assert len(sent(world, rollout_id)) == 4


def test_abort_withdraws_commands_not_yet_published(
    world: World, hubs: list[str], boxes: Boxes
) -> None:
    rollout_id = start(world, stages=[{"count": 1}, {"percent": 100}])
    step(world)

    answer = world.client.post(f"{ROLLOUTS}/{rollout_id}/abort", headers=world.headers("ada"))
    step(world)

    assert answer.json()["status"] == "aborted"
    [command] = commands_of(world.engine, rollout_id)
    assert command.status == "expired"
    assert command.detail == f"rollout {rollout_id} aborted"
    assert len(sent(world, rollout_id)) == 1


def test_a_box_already_on_the_release_is_healthy_without_a_command(
    world: World, release_key: Ed25519PrivateKey
) -> None:
    publish(world, release_key, "0.2.0", 5)
    [done] = add_boxes(world.engine, VENUE_A, 1, software="yizhan 0.2.0")

    rollout_id = start(world, stages=[{"percent": 100}])
    step(world)
    step(world)

    shown = show(world, rollout_id)
    assert shown["status"] == "done"
    assert shown["device_list"][0]["device_id"] == done
    assert shown["device_list"][0]["state"] == "healthy"
    assert commands_of(world.engine, rollout_id) == []
