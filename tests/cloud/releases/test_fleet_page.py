"""The fleet page's version and update columns and its rollout section, live with the rest."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from cloud.releases.progress import advance_all
from cloud.releases.services import ReleaseServices
from cloud.web.live import Watch, scan
from protocol.release import UpdateState
from tests.cloud.auth_world import PASSWORD, VENUE_A, World
from tests.cloud.releases.helpers import Boxes, add_boxes, publish, rollout_rows
from tests.cloud.web.helpers import csrf_of, sign_in


def _start(world: World, release_key: Ed25519PrivateKey) -> tuple[str, list[str]]:
    publish(world, release_key, "0.2.0", 5)
    hubs = add_boxes(world.engine, VENUE_A, 2)
    body = {"release": "0.2.0", "target": {"venues": [VENUE_A]}, "stages": [{"percent": 100}]}
    rollout = world.client.post("/api/v1/rollouts", json=body, headers=world.headers("ada"))
    services: ReleaseServices = world.client.app.state.releases  # type: ignore[attr-defined]
    advance_all(world.engine, world.clock[0], settings=services.settings)
    rollout_id: str = rollout.json()["id"]
    return rollout_id, hubs


def _updates(engine: Engine, watch: Watch, world: World) -> set[tuple[str, str]]:
    return {c for c in scan(engine, watch, now=world.clock[0]) if c[0] == "updates"}


def test_versions_states_and_the_rollout_show_and_refresh(
    world: World, release_key: Ed25519PrivateKey, boxes: Boxes
) -> None:
    rollout_id, hubs = _start(world, release_key)
    watch = Watch()
    _updates(world.engine, watch, world)  # primes
    boxes.report(hubs[0], VENUE_A, UpdateState.HEALTHY, release="0.2.0", rollout=rollout_id,
                 running="0.2.0")  # fmt: skip
    boxes.report(hubs[1], VENUE_A, UpdateState.ROLLED_BACK, release="0.2.0",
                 rollout=rollout_id, running="0.1.0", detail="health check failed")  # fmt: skip
    assert _updates(world.engine, watch, world) == {("updates", VENUE_A)}

    sign_in(world.client, "tom", password=PASSWORD)
    page = world.client.get("/fleet")
    html = page.text

    assert page.status_code == 200
    assert 'data-live="devices health pending updates"' in html
    assert f'data-rollout="{rollout_id}"' in html
    assert f'data-api="/api/v1/rollouts/{rollout_id}/abort"' in html
    assert f'data-version="{hubs[0]}">0.2.0<' in html
    assert f'data-version="{hubs[1]}">0.1.0<' in html
    assert 'data-update-state="healthy"' in html
    assert 'data-update-state="rolled_back"' in html
    assert "已回滚" in html
    assert "health check failed" in html
    world.client.cookies.set("yz_lang", "en")
    assert "rolled back" in world.client.get("/fleet").text


def test_the_pause_button_works_with_the_pages_cookie(
    world: World, release_key: Ed25519PrivateKey
) -> None:
    rollout_id, _hubs = _start(world, release_key)
    sign_in(world.client, "tom", password=PASSWORD)
    csrf = csrf_of(world.client.get("/fleet").text)

    paused = world.client.post(
        f"/api/v1/rollouts/{rollout_id}/pause", headers={"X-CSRF-Token": csrf}
    )

    assert paused.status_code == 200, paused.text
    assert 'data-rollout-status="paused"' in world.client.get("/fleet").text
    assert all(row.command_id for row in rollout_rows(world.engine, rollout_id).values())
