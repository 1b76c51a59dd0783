"""Door sync endpoints against a real migrated database: snapshot pages, deltas, keys, bookings."""

import base64
import gzip
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.exceptions import StarletteDeprecationWarning

from cloud.access import store as access_store
from cloud.access.models import Stream
from cloud.api.app import create_app
from cloud.core.db import make_engine
from cloud.models import Venue
from cloud.settings import CloudSettings
from protocol.access import KeySet, MemberDelta, MemberEntry, MemberStatus
from protocol.sync import BookingSet, MemberSnapshotPage

with warnings.catch_warnings():
    # Starlette 1.10 prefers the httpx2 fork and warns when it falls back to httpx, which
    # is what the dev dependencies install; the fallback works the same for these tests.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

NOW = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
TOKEN = "k3J9-x2Qm_Pz7Lw4Vn8Rt1Yb6Hc5Fd0Gs"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SYNC = "/api/v1/sync"
KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(1, 33))).decode()


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    with Session(engine) as session:
        session.add(Venue(id="v1", name="Riders' station"))
        session.add(Venue(id="v2", name="Library", kind="library"))
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    settings = CloudSettings(mode="development", api_token=SecretStr(TOKEN))
    app = create_app(settings=settings, engine=engine, clock=lambda: NOW)
    with TestClient(app, headers=AUTH) as client:
        yield client


def members(count: int, *, prefix: str = "M") -> list[MemberEntry]:
    return [
        MemberEntry(member_id=f"{prefix}{i:06d}", status=MemberStatus.ACTIVE, groups=("rider",))
        for i in range(count)
    ]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    error: dict[str, Any] = body["error"]
    return error


# --- member snapshot -----------------------------------------------------------------------


def test_snapshot_pages_cover_every_member_once(client: TestClient, session: Session) -> None:
    access_store.upsert_members(session=session, entries=members(25), now=NOW)
    access_store.revoke_member(session=session, member_id="M000003", now=NOW)

    seen: list[str] = []
    pages: list[MemberSnapshotPage] = []
    params: dict[str, str | int] = {"limit": 10}
    while True:
        page = MemberSnapshotPage.model_validate_json(
            client.get(f"{SYNC}/members/snapshot", params=params).content
        )
        pages.append(page)
        seen += [m.member_id for m in page.members]
        if page.next_after is None:
            break
        params["after"] = page.next_after

    assert [len(p.members) for p in pages] == [10, 10, 5]
    assert seen == sorted(seen) == [f"M{i:06d}" for i in range(25)]
    assert {p.version for p in pages} == {26}
    revoked = [m for p in pages for m in p.members if m.status is MemberStatus.REVOKED]
    assert [(m.member_id, m.groups) for m in revoked] == [("M000003", ("rider",))]


def test_empty_snapshot_is_one_empty_page(client: TestClient) -> None:
    body = client.get(f"{SYNC}/members/snapshot").json()

    assert body == {"v": 1, "version": 0, "generated_at": "2025-05-01T03:00:00Z", "members": []}


def test_a_page_of_10000_members_is_compact(client: TestClient, session: Session) -> None:
    access_store.upsert_members(session=session, entries=members(10_001), now=NOW)

    started = time.perf_counter()
    plain = client.get(
        f"{SYNC}/members/snapshot",
        params={"limit": 10_000},
        headers={"Accept-Encoding": "identity"},
    )
    elapsed = time.perf_counter() - started
    zipped = client.get(f"{SYNC}/members/snapshot", headers={"Accept-Encoding": "gzip"})

    page = MemberSnapshotPage.model_validate_json(plain.content)
    assert len(page.members) == 10_000
    assert page.next_after == "M009999"
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    compressed = len(gzip.compress(plain.content, compresslevel=5, mtime=0))
    print(  # the measurement, shown with -s
        f"10 000 members: {len(plain.content)} bytes JSON, {compressed} gzipped, {elapsed:.2f} s"
    )
    assert len(plain.content) < 700_000
    assert compressed < len(plain.content) / 5
    assert zipped.json()["members"][0]["member_id"] == "M000000"


# --- member delta --------------------------------------------------------------------------


def test_delta_lists_changes_after_a_version(client: TestClient, session: Session) -> None:
    base = access_store.upsert_members(session=session, entries=members(5), now=NOW)
    access_store.revoke_member(session=session, member_id="M000001", now=NOW)
    access_store.upsert_member(session=session, member_id="N1", groups=["nurse"], now=NOW)

    delta = MemberDelta.model_validate_json(
        client.get(f"{SYNC}/members/delta", params={"from_version": base}).content
    )

    assert (delta.from_version, delta.to_version) == (base, base + 2)
    assert [(c.member_id, c.status, c.groups) for c in delta.changes] == [
        ("M000001", MemberStatus.REVOKED, ("rider",)),
        ("N1", MemberStatus.ACTIVE, ("nurse",)),
    ]


def test_delta_is_paged_by_limit(client: TestClient, session: Session) -> None:
    access_store.upsert_members(session=session, entries=members(5), now=NOW)

    first = client.get(f"{SYNC}/members/delta", params={"from_version": 0, "limit": 3}).json()
    rest = client.get(
        f"{SYNC}/members/delta", params={"from_version": first["to_version"], "limit": 3}
    ).json()

    assert [len(first["changes"]), first["to_version"]] == [3, 3]
    assert [len(rest["changes"]), rest["to_version"]] == [2, 5]


def test_delta_at_the_current_version_is_a_heartbeat(client: TestClient, session: Session) -> None:
    current = access_store.upsert_members(session=session, entries=members(2), now=NOW)

    body = client.get(f"{SYNC}/members/delta", params={"from_version": current}).json()

    assert body == {
        "v": 1,
        "from_version": current,
        "to_version": current,
        "generated_at": "2025-05-01T03:00:00Z",
        "changes": [],
    }


def test_delta_from_a_compacted_version_asks_for_a_snapshot(
    client: TestClient, session: Session
) -> None:
    access_store.upsert_members(session=session, entries=members(10), now=NOW)
    assert access_store.compact_member_log(session=session, through_version=6) == 6

    error = assert_error(
        client.get(f"{SYNC}/members/delta", params={"from_version": 5}), 410, "snapshot_required"
    )
    ok = client.get(f"{SYNC}/members/delta", params={"from_version": 6}).json()

    assert "/api/v1/sync/members/snapshot" in error["message"]
    assert "compacted" in error["message"]
    assert [c["member_id"] for c in ok["changes"]] == [f"M{i:06d}" for i in range(6, 10)]


def test_delta_from_a_version_the_cloud_never_had_asks_for_a_snapshot(
    client: TestClient, session: Session
) -> None:
    access_store.upsert_members(session=session, entries=members(3), now=NOW)

    error = assert_error(
        client.get(f"{SYNC}/members/delta", params={"from_version": 99}), 410, "snapshot_required"
    )

    assert "restored" in error["message"]


def test_compacting_beyond_the_stream_is_refused(session: Session) -> None:
    access_store.upsert_members(session=session, entries=members(2), now=NOW)

    with pytest.raises(ValueError, match="stream is at 2"):
        access_store.compact_member_log(session=session, through_version=3)


@pytest.mark.parametrize(
    ("params", "field"),
    [({}, "query.from_version"), ({"from_version": -1}, "query.from_version"),
     ({"from_version": 0, "limit": 10_001}, "query.limit")],
)  # fmt: skip
def test_bad_delta_query_is_422(client: TestClient, params: dict[str, int], field: str) -> None:
    error = assert_error(client.get(f"{SYNC}/members/delta", params=params), 422, "invalid_request")

    assert [d["field"] for d in error["details"]] == [field]


def test_bad_member_input_is_refused_before_it_is_stored(session: Session) -> None:
    with pytest.raises(ValueError, match="member_id"):
        access_store.upsert_member(session=session, member_id="has space", now=NOW)

    assert access_store.stream_version(session=session, stream=Stream.MEMBERS) == 0


# --- keys ----------------------------------------------------------------------------------


def test_keys_lists_the_active_keys(client: TestClient, session: Session) -> None:
    access_store.put_key(session=session, kid="u2024", public_key=KEY_A, now=NOW)
    access_store.put_key(session=session, kid="u2025", public_key=KEY_B, now=NOW)
    access_store.retire_key(session=session, kid="u2024", now=NOW)

    keyset = KeySet.model_validate_json(client.get(f"{SYNC}/keys").content)

    assert keyset == KeySet(version=3, keys={"u2025": KEY_B})


def test_a_key_past_its_not_after_is_retired_with_a_new_version(
    client: TestClient, session: Session
) -> None:
    access_store.put_key(
        session=session, kid="old", public_key=KEY_A, not_after=NOW - timedelta(seconds=1)
    )
    access_store.put_key(
        session=session, kid="new", public_key=KEY_B, not_before=NOW + timedelta(days=1)
    )

    first = client.get(f"{SYNC}/keys").json()
    again = client.get(f"{SYNC}/keys").json()

    # The future key is distributed early: doors must hold it before codes signed with it.
    assert first == {"version": 3, "keys": {"new": KEY_B}}
    assert again == first


def test_a_bad_key_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="32"):
        access_store.put_key(session=session, kid="u2025", public_key=KEY_A[:20] + "==")
    with pytest.raises(access_store.AccessStoreError):
        access_store.retire_key(session=session, kid="nope")


# --- bookings ------------------------------------------------------------------------------


def book(session: Session, booking_id: str, *, venue: str = "v1", hours: int = 1) -> int:
    return access_store.upsert_booking(
        session=session,
        booking_id=booking_id,
        venue_id=venue,
        door="nursing-room",
        member_id="M000001",
        starts_at=NOW + timedelta(hours=hours - 1),
        ends_at=NOW + timedelta(hours=hours),
        now=NOW,
    )


def test_bookings_from_zero_are_the_current_ones(client: TestClient, session: Session) -> None:
    book(session, "b1")
    book(session, "b2")
    book(session, "ended", hours=-1)
    book(session, "other-venue", venue="v2")
    access_store.cancel_booking(session=session, booking_id="b2", now=NOW)

    body = BookingSet.model_validate_json(client.get(f"{SYNC}/venues/v1/bookings").content)

    assert body.full
    assert body.to_version == 5
    assert [(b.booking_id, b.door_id, b.start, b.end) for b in body.bookings] == [
        ("b1", "nursing-room", NOW, NOW + timedelta(hours=1))
    ]


def test_booking_delta_carries_cancellations(client: TestClient, session: Session) -> None:
    book(session, "b1")
    base = book(session, "b2")
    access_store.cancel_booking(session=session, booking_id="b1", now=NOW)
    book(session, "b3", hours=3)

    body = client.get(f"{SYNC}/venues/v1/bookings", params={"from_version": base}).json()

    assert body["full"] is False
    assert [(b["booking_id"], b["cancelled"]) for b in body["bookings"]] == [
        ("b1", True),
        ("b3", False),
    ]
    assert (body["from_version"], body["to_version"]) == (base, base + 2)


def test_bookings_are_paged_by_version(client: TestClient, session: Session) -> None:
    for i in range(5):
        book(session, f"b{i}")

    first = client.get(f"{SYNC}/venues/v1/bookings", params={"limit": 3}).json()
    rest = client.get(
        f"{SYNC}/venues/v1/bookings", params={"from_version": first["to_version"], "limit": 3}
    ).json()

    assert [b["booking_id"] for b in first["bookings"]] == ["b0", "b1", "b2"]
    assert [b["booking_id"] for b in rest["bookings"]] == ["b3", "b4"]
    assert rest["to_version"] == 5


def test_bookings_of_an_unknown_venue_are_404(client: TestClient) -> None:
    assert_error(client.get(f"{SYNC}/venues/nope/bookings"), 404, "venue_not_found")


def test_bookings_from_a_future_version_ask_for_a_full_fetch(client: TestClient) -> None:
    response = client.get(f"{SYNC}/venues/v1/bookings", params={"from_version": 7})

    error = assert_error(response, 410, "snapshot_required")
    assert "from_version=0" in error["message"]


def test_a_booking_cannot_move_venue(session: Session) -> None:
    book(session, "b1")

    with pytest.raises(access_store.AccessStoreError, match="belongs to venue 'v1'"):
        book(session, "b1", venue="v2")


# --- auth ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/members/snapshot", "/members/delta?from_version=0", "/keys", "/venues/v1/bookings"],
)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token"])
def test_sync_without_the_token_is_401(client: TestClient, path: str, header: str | None) -> None:
    headers = {"Authorization": header} if header else {"Authorization": ""}

    response = client.get(SYNC + path, headers=headers)

    assert_error(response, 401, "unauthorized")


def test_openapi_lists_the_sync_routes(client: TestClient) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])

    assert {
        "/api/v1/sync/members/snapshot",
        "/api/v1/sync/members/delta",
        "/api/v1/sync/keys",
        "/api/v1/sync/venues/{venue_id}/bookings",
    } <= paths
