"""The box's downloads against the real releases API: its own token, resume, refusals.

Here because the cloud's fixtures serve the API (edge/ never imports cloud/); the code under
test is the box's fetcher (edge/update/fetch.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.update.fetch import Fetcher, FetchError
from edge.update.layout import COMPLETE, Layout
from edge.update.spool import Spool
from edge.update.store import WheelStore
from protocol.release import ReleaseError, ReleaseKey, public_of, verify_release
from tests.cloud.auth_world import VENUE_A, World
from tests.cloud.releases.helpers import add_boxes, box_token, publish


@pytest.fixture
def box(world: World, tmp_path: Path) -> tuple[Fetcher, Spool, Layout]:
    [device] = add_boxes(world.engine, VENUE_A, 1)
    token = box_token(world.engine, device)["Authorization"].removeprefix("Bearer ")
    layout = Layout(tmp_path / "opt")
    layout.store.mkdir(parents=True)
    spool = Spool.of(tmp_path / "data")
    fetcher = Fetcher(
        api_url=str(world.client.base_url),
        token=token,
        ca_file=None,
        spool=spool,
        store=WheelStore(layout),
        client=world.client,
    )
    return fetcher, spool, layout


def test_a_box_fetches_the_manifest_it_can_verify(
    world: World, release_key: Ed25519PrivateKey, box: tuple[Fetcher, Spool, Layout]
) -> None:
    fetcher, _, _ = box
    publish(world, release_key, "0.2.0", serial=2)
    raw = fetcher.manifest("0.2.0")
    release = verify_release(raw, ReleaseKey.from_json(public_of(release_key).to_json()))
    assert release.version == "0.2.0"
    assert fetcher.rotations() == []
    with pytest.raises(FetchError, match="404"):
        fetcher.manifest("9.9.9")


def test_an_interrupted_download_resumes_where_it_stopped(
    world: World, release_key: Ed25519PrivateKey, box: tuple[Fetcher, Spool, Layout]
) -> None:
    fetcher, spool, _ = box
    wheels = publish(world, release_key, "0.2.0", serial=2)
    first = wheels[0]
    part = spool.wheel_path(first.entry()).with_name(first.name + ".part")
    part.parent.mkdir(parents=True)
    half = len(first.data) // 2
    part.write_bytes(first.data[:half])  # what arrived before the link dropped
    got = fetcher.wheels([wheel.entry() for wheel in wheels])
    assert got.downloaded_bytes == sum(len(w.data) for w in wheels) - half
    assert spool.wheel_path(first.entry()).read_bytes() == first.data
    assert not part.exists()
    again = fetcher.wheels([wheel.entry() for wheel in wheels])  # all held now
    assert again.downloaded_bytes == 0
    assert again.reused_bytes == sum(len(w.data) for w in wheels)


def test_a_wheel_already_in_the_store_is_not_downloaded(
    world: World, release_key: Ed25519PrivateKey, box: tuple[Fetcher, Spool, Layout]
) -> None:
    fetcher, _, layout = box
    wheels = publish(world, release_key, "0.2.0", serial=2)
    held = layout.store / wheels[1].sha256
    held.mkdir()
    (held / COMPLETE).write_text(wheels[1].sha256)
    got = fetcher.wheels([wheel.entry() for wheel in wheels])
    assert got.downloaded_bytes == len(wheels[0].data)
    assert got.reused_bytes == len(wheels[1].data)


def test_a_corrupt_partial_download_is_refused_then_fetched_whole(
    world: World, release_key: Ed25519PrivateKey, box: tuple[Fetcher, Spool, Layout]
) -> None:
    fetcher, spool, _ = box
    wheels = publish(world, release_key, "0.2.0", serial=2)
    first = wheels[0]
    part = spool.wheel_path(first.entry()).with_name(first.name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 100)  # bytes that are not the wheel's
    with pytest.raises(ReleaseError, match="hash_mismatch"):
        fetcher.wheels([first.entry()])
    assert not part.exists()  # thrown away: the next attempt starts clean
    got = fetcher.wheels([first.entry()])
    assert got.downloaded_bytes == len(first.data)


def test_a_box_token_cannot_publish(world: World, box: tuple[Fetcher, Spool, Layout]) -> None:
    fetcher, _, _ = box
    answer = world.client.post("/api/v1/releases", content=b"{}", headers=fetcher._headers)
    assert answer.status_code == 403
