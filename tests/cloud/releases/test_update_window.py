"""The venue's update window: its default, changing it, and what the update command carries."""

from __future__ import annotations

from tests.cloud.auth_world import VENUE_A, World


def test_a_venue_has_a_quiet_window_an_admin_may_change(world: World) -> None:
    venue = f"/api/v1/venues/{VENUE_A}"

    before = world.client.get(venue, headers=world.headers("ada")).json()
    changed = world.client.patch(
        venue,
        json={"update_window_start": "23:30", "update_window_end": "01:00"},
        headers=world.headers("ada"),
    )
    wrong = world.client.patch(
        venue, json={"update_window_start": "25:00"}, headers=world.headers("ada")
    )
    by_manager = world.client.patch(
        venue, json={"update_window_start": "02:00"}, headers=world.headers("mia")
    )

    assert (before["update_window_start"], before["update_window_end"]) == ("03:00", "05:00")
    assert changed.status_code == 200, changed.text
    assert (changed.json()["update_window_start"], changed.json()["update_window_end"]) == (
        "23:30",
        "01:00",
    )
    assert wrong.status_code == 422
    assert "HH:MM" in wrong.json()["error"]["message"]
    assert by_manager.status_code == 403
