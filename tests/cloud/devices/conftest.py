"""Fixtures of device tests: the seeded auth world, with a broker admin that records its calls."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from cloud.api.state import ApiState
from tests.cloud.auth_world import World, open_world
from tests.cloud.devices.helpers import RecordingAdmin


def use_admin(world: World, admin: RecordingAdmin) -> None:
    """Give the world's API ``admin`` as its broker admin."""
    app = world.client.app
    state: ApiState = app.state.api  # type: ignore[attr-defined]
    devices = dataclasses.replace(state.devices, admin=admin)
    app.state.api = dataclasses.replace(state, devices=devices)  # type: ignore[attr-defined]


@pytest.fixture
def world(migrated_db_url: str) -> Iterator[World]:
    with open_world(migrated_db_url) as world:
        yield world


@pytest.fixture
def admin(world: World) -> RecordingAdmin:
    recording = RecordingAdmin()
    use_admin(world, recording)
    return recording
