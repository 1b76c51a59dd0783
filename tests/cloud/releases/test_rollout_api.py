"""Starting and steering rollouts over the API: who may, and within which venues."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session

from cloud.auth import store
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from tests.cloud.auth_world import PASSWORD, VENUE_A, VENUE_B, World
from tests.cloud.releases.helpers import add_boxes, box_token, publish

ROLLOUTS = "/api/v1/rollouts"


@pytest.fixture
def fleet(world: World, release_key: Ed25519PrivateKey) -> dict[str, list[str]]:
    publish(world, release_key, "0.2.0", 5)
    with Session(world.engine) as session:
        store.create_user(
            session=session,
            user_in=UserCreate(
                username="tess", role=Role.TECHNICIAN, venue_ids=[VENUE_A], password=PASSWORD
            ),
        )
    return {
        VENUE_A: add_boxes(world.engine, VENUE_A, 3),
        VENUE_B: add_boxes(world.engine, VENUE_B, 2, prefix="door", role="door"),
    }


def start(world: World, who: str, target: dict[str, list[str]], **extra: object) -> httpx.Response:
    body = {"release": "0.2.0", "target": target, **extra}
    answer: httpx.Response = world.client.post(ROLLOUTS, json=body, headers=world.headers(who))
    return answer


def test_a_rollout_takes_the_union_of_its_target(world: World, fleet: dict[str, list[str]]) -> None:
    answer = start(world, "tom", {"venues": [VENUE_A], "roles": ["door"]}, force=True)

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "running"
    assert body["current_stage"] == -1
    assert body["devices"] == 5
    assert {d["device_id"] for d in body["device_list"]} == {*fleet[VENUE_A], *fleet[VENUE_B]}
    assert [s["devices"] for s in body["stages"]] == [1, 2, 2]  # 1 box, 50 %, 100 %
    assert body["states"] == {"scheduled": 5}
    assert body["force"] is True


def test_managers_read_but_cannot_start_or_stop(world: World, fleet: dict[str, list[str]]) -> None:
    rollout = start(world, "ada", {"venues": [VENUE_A]}).json()["id"]

    refused = start(world, "mia", {"venues": [VENUE_A]})
    pause = world.client.post(f"{ROLLOUTS}/{rollout}/pause", headers=world.headers("mia"))
    listed = world.client.get(ROLLOUTS, headers=world.headers("mia"))
    versions = world.client.get("/api/v1/releases/devices", headers=world.headers("mia"))

    for answer in (refused, pause):
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "manager_read_only"
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["data"]] == [rollout]
    assert {d["venue_id"] for d in versions.json()["data"]} == {VENUE_A}  # mia's venue only
    assert {d["running"] for d in versions.json()["data"] if d["device_id"] in fleet[VENUE_A]} == {
        "0.1.0"
    }


def test_a_box_token_cannot_start_or_see_rollouts(
    world: World, fleet: dict[str, list[str]]
) -> None:
    box = box_token(world.engine, fleet[VENUE_A][0])

    answer = world.client.post(
        ROLLOUTS, json={"release": "0.2.0", "target": {"venues": [VENUE_A]}}, headers=box
    )

    assert answer.status_code == 403
    assert world.client.get(ROLLOUTS, headers=box).status_code == 403


def test_a_scoped_technician_stays_in_their_venues(
    world: World, fleet: dict[str, list[str]]
) -> None:
    other_venue = start(world, "tess", {"venues": [VENUE_B]})
    other_box = start(world, "tess", {"devices": [fleet[VENUE_B][0]]})
    by_role = start(world, "tess", {"roles": ["sensor-hub", "door"]})
    fleet_wide = start(world, "ada", {"venues": [VENUE_B]}).json()["id"]
    steer = world.client.post(f"{ROLLOUTS}/{fleet_wide}/pause", headers=world.headers("tess"))

    for answer in (other_venue, other_box):
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "outside_your_venues"
    assert by_role.status_code == 201  # the role is taken within her venue only
    assert {d["device_id"] for d in by_role.json()["device_list"]} == set(fleet[VENUE_A])
    assert steer.status_code == 404  # she sees no box of it


def test_refusals(world: World, fleet: dict[str, list[str]]) -> None:
    unknown = world.client.post(
        ROLLOUTS,
        json={"release": "9.9.9", "target": {"venues": [VENUE_A]}},
        headers=world.headers("ada"),
    )
    empty = start(world, "ada", {})
    nothing = start(world, "ada", {"venues": ["venue-nowhere"]})
    short = start(world, "ada", {"venues": [VENUE_A]}, stages=[{"count": 1}])
    first = start(world, "ada", {"venues": [VENUE_A]})
    busy = start(world, "ada", {"devices": [fleet[VENUE_A][0]]})

    assert unknown.json()["error"]["code"] == "release_not_found"
    assert empty.json()["error"]["code"] == "no_target"
    assert nothing.json()["error"]["code"] == "no_devices"
    assert short.json()["error"]["code"] == "stages_incomplete"
    assert first.status_code == 201
    assert (busy.status_code, busy.json()["error"]["code"]) == (409, "devices_in_rollout")


def test_pause_resume_abort_by_hand(world: World, fleet: dict[str, list[str]]) -> None:
    rollout = start(world, "tom", {"venues": [VENUE_A]}).json()["id"]

    def act(action: str) -> tuple[int, dict[str, Any]]:
        answer = world.client.post(f"{ROLLOUTS}/{rollout}/{action}", headers=world.headers("tom"))
        return answer.status_code, answer.json()

    paused = act("pause")
    twice = act("pause")
    resumed = act("resume")
    aborted = act("abort")
    again = start(world, "tom", {"venues": [VENUE_A]})  # the boxes are free again

    assert (paused[0], paused[1]["status"]) == (200, "paused")
    assert (twice[0], twice[1]["error"]["code"]) == (409, "wrong_rollout_status")
    assert (resumed[0], resumed[1]["status"]) == (200, "running")
    assert (aborted[0], aborted[1]["status"]) == (200, "aborted")
    assert aborted[1]["finished_at"] is not None
    assert again.status_code == 201
