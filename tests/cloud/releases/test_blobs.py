"""Wheel blobs over the API: upload with a hash check, download with Range, who may do what."""

from __future__ import annotations

import hashlib

import pytest

from tests.cloud.auth_world import DEVICE_A, World
from tests.cloud.releases.helpers import BLOBS, add_boxes, box_token

DATA = bytes(range(256)) * 5000  # 1.28 MB: past the API's 1 MiB default body limit
SHA = hashlib.sha256(DATA).hexdigest()


def test_upload_stores_once_then_answers_held(world: World) -> None:
    first = world.client.put(f"{BLOBS}/{SHA}", content=DATA, headers=world.headers("tom"))
    again = world.client.put(f"{BLOBS}/{SHA}", content=DATA, headers=world.headers("ada"))

    assert first.status_code == 201, first.text
    assert first.json() == {"sha256": SHA, "size": len(DATA), "stored": True}
    assert again.status_code == 200
    assert again.json()["stored"] is False


def test_a_body_that_hashes_otherwise_is_refused_and_not_kept(world: World) -> None:
    answer = world.client.put(
        f"{BLOBS}/{SHA}", content=DATA[:-1] + b"x", headers=world.headers("ada")
    )

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "hash_mismatch"
    assert world.client.head(f"{BLOBS}/{SHA}", headers=world.headers("ada")).status_code == 404


def test_download_whole_and_resumed_from_a_byte(world: World) -> None:
    world.client.put(f"{BLOBS}/{SHA}", content=DATA, headers=world.headers("ada"))
    box = box_token(world.engine, DEVICE_A)
    headers = {**box, "Accept-Encoding": "gzip"}  # wheels are never gzipped on the way

    whole = world.client.get(f"{BLOBS}/{SHA}", headers=headers)
    rest = world.client.get(f"{BLOBS}/{SHA}", headers={**headers, "Range": "bytes=1000000-"})
    middle = world.client.get(f"{BLOBS}/{SHA}", headers={**headers, "Range": "bytes=10-19"})

    assert whole.status_code == 200
    assert whole.content == DATA
    assert whole.headers["accept-ranges"] == "bytes"
    assert "content-encoding" not in whole.headers
    assert rest.status_code == 206
    assert rest.headers["content-range"] == f"bytes 1000000-{len(DATA) - 1}/{len(DATA)}"
    assert rest.content == DATA[1000000:]
    assert middle.content == DATA[10:20]


def test_head_tells_the_size_and_a_range_past_the_end_is_416(world: World) -> None:
    world.client.put(f"{BLOBS}/{SHA}", content=DATA, headers=world.headers("ada"))

    head = world.client.head(f"{BLOBS}/{SHA}", headers=world.headers("mia"))
    past = world.client.get(
        f"{BLOBS}/{SHA}", headers={**world.headers("mia"), "Range": f"bytes={len(DATA)}-"}
    )

    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(DATA))
    assert head.content == b""
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(DATA)}"
    assert past.json()["error"]["code"] == "range_not_satisfiable"


def test_unknown_blob_and_bad_name(world: World) -> None:
    unknown = world.client.get(f"{BLOBS}/{'0' * 64}", headers=world.headers("tom"))
    bad = world.client.get(f"{BLOBS}/../../etc", headers=world.headers("tom"))

    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "blob_not_found"
    assert bad.status_code in (404, 422)


@pytest.mark.parametrize(("who", "status"), [("mia", 403), ("mel", 403), ("nobody", 401)])
def test_only_admins_and_technicians_upload(world: World, who: str, status: int) -> None:
    answer = world.client.put(f"{BLOBS}/{SHA}", content=DATA, headers=world.headers(who))

    assert answer.status_code == status
    assert world.client.head(f"{BLOBS}/{SHA}", headers=world.headers("ada")).status_code == 404


def test_a_box_reads_blobs_but_cannot_upload(world: World) -> None:
    [hub] = add_boxes(world.engine, "venue-alpha", 1)
    box = box_token(world.engine, hub)

    upload = world.client.put(f"{BLOBS}/{SHA}", content=DATA, headers=box)
    world.client.put(f"{BLOBS}/{SHA}", content=DATA, headers=world.headers("ada"))
    read = world.client.get(f"{BLOBS}/{SHA}", headers=box)

    assert upload.status_code == 403
    assert read.status_code == 200


def test_a_member_cannot_read_blobs(world: World) -> None:
    world.client.put(f"{BLOBS}/{SHA}", content=DATA, headers=world.headers("ada"))

    assert world.client.get(f"{BLOBS}/{SHA}", headers=world.headers("mel")).status_code == 403
