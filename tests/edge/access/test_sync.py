"""SyncClient against the real cloud app and database, into the door's real caches."""

import base64
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select
from starlette.exceptions import StarletteDeprecationWarning

from cloud.access import store as access_store
from cloud.access.models import Member, SyncStream
from cloud.api.app import create_app
from cloud.core.db import make_engine
from cloud.models import Venue
from cloud.settings import CloudSettings
from edge.access.bookings import Bookings
from edge.access.keys import KeyRing
from edge.access.members import MemberCache
from edge.access.sync import Outcome, SyncClient
from protocol.access import KeySet, MemberEntry, MemberStatus

with warnings.catch_warnings():
    # Starlette 1.10 prefers the httpx2 fork and warns when it falls back to httpx, which
    # is what the dev dependencies install; the fallback works the same for these tests.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

NOW = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
TOKEN = "k3J9-x2Qm_Pz7Lw4Vn8Rt1Yb6Hc5Fd0Gs"
BASE = "http://testserver"
KEY = base64.b64encode(bytes(range(32))).decode()


def clock() -> datetime:
    return NOW


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    with Session(engine) as session:
        session.add(Venue(id="v1", name="Riders' station"))
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@pytest.fixture
def http(engine: Engine) -> Iterator[TestClient]:
    settings = CloudSettings(mode="development", api_token=SecretStr(TOKEN))
    with TestClient(create_app(settings=settings, engine=engine, clock=clock)) as client:
        yield client


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[MemberCache]:
    cache = MemberCache(tmp_path / "members.db")
    yield cache
    cache.close()


def sync_client(http: httpx.Client, *, page_size: int = 10, token: str = TOKEN) -> SyncClient:
    return SyncClient(BASE, token, http=http, clock=clock, page_size=page_size)


def seed_members(session: Session, count: int) -> int:
    entries = [
        MemberEntry(member_id=f"M{i:04d}", status=MemberStatus.ACTIVE, groups=("rider",))
        for i in range(count)
    ]
    return access_store.upsert_members(session=session, entries=entries, now=NOW)


def cloud_members(session: Session) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {m.member_id: (m.status, tuple(m.groups)) for m in session.exec(select(Member))}


def cached(cache: MemberCache, ids: list[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    found = {i: cache.lookup(i) for i in ids}
    return {i: (r.status.value, r.groups) for i, r in found.items() if r is not None}


# --- members -------------------------------------------------------------------------------


def test_first_sync_takes_the_paged_snapshot(
    http: TestClient, session: Session, cache: MemberCache
) -> None:
    version = seed_members(session, 25)
    access_store.revoke_member(session=session, member_id="M0007", now=NOW)

    result = sync_client(http).sync_members(cache)

    assert result.outcome is Outcome.UPDATED
    assert result.snapshot
    assert result.version == cache.version == version + 1
    assert len(cache) == 25
    assert cache.is_revoked("M0007")
    assert not cache.is_revoked("M0008")
    assert cache.synced_at == NOW


def test_later_syncs_pull_deltas_then_nothing(
    http: TestClient, session: Session, cache: MemberCache
) -> None:
    seed_members(session, 3)
    client = sync_client(http)
    client.sync_members(cache)
    access_store.revoke_member(session=session, member_id="M0001", now=NOW)
    access_store.upsert_member(session=session, member_id="N1", groups=["nurse"], now=NOW)

    changed = client.sync_members(cache)
    idle = client.sync_members(cache)

    assert (changed.outcome, changed.changes, changed.snapshot) == (Outcome.UPDATED, 2, False)
    assert cache.is_revoked("M0001")
    assert cache.lookup("N1") is not None
    assert (idle.outcome, idle.version) == (Outcome.CURRENT, cache.version)


def test_a_long_delta_is_pulled_page_by_page(
    http: TestClient, session: Session, cache: MemberCache
) -> None:
    client = sync_client(http, page_size=4)
    client.sync_members(cache)
    version = seed_members(session, 10)

    result = client.sync_members(cache)

    assert (result.changes, result.version, len(cache)) == (10, version, 10)


def test_a_compacted_log_falls_back_to_a_snapshot(
    http: TestClient, session: Session, cache: MemberCache
) -> None:
    seed_members(session, 5)
    client = sync_client(http)
    client.sync_members(cache)
    access_store.revoke_member(session=session, member_id="M0002", now=NOW)
    access_store.upsert_member(session=session, member_id="N1", now=NOW)
    access_store.compact_member_log(session=session, through_version=7)

    result = client.sync_members(cache)

    assert result.snapshot
    assert result.outcome is Outcome.UPDATED
    assert cache.is_revoked("M0002")
    assert len(cache) == 6


def test_changes_during_the_snapshot_walk_end_up_in_the_cache(
    http: TestClient, session: Session, cache: MemberCache
) -> None:
    seed_members(session, 30)
    pages = 0

    def meddle(response: httpx.Response) -> None:
        nonlocal pages
        if "/members/snapshot" in str(response.request.url):
            pages += 1
            if pages == 1:  # after page one: change a member ahead, add one behind the cursor
                access_store.revoke_member(session=session, member_id="M0025", now=NOW)
                access_store.upsert_member(session=session, member_id="A0000", now=NOW)
                access_store.revoke_member(session=session, member_id="M0001", now=NOW)

    http.event_hooks = {"response": [meddle]}

    result = sync_client(http).sync_members(cache)

    assert result.ok
    expected = cloud_members(session)
    assert cached(cache, list(expected)) == expected
    assert len(cache) == 31


def test_a_snapshot_broken_off_mid_walk_keeps_the_old_cache(
    http: TestClient, session: Session, cache: MemberCache
) -> None:
    seed_members(session, 5)
    client = sync_client(http)
    client.sync_members(cache)
    access_store.compact_member_log(session=session, through_version=5)
    seed_members(session, 25)  # same ids again plus new ones, log from 6 on
    access_store.compact_member_log(session=session, through_version=30)
    calls = 0

    def cut(request: httpx.Request) -> None:
        nonlocal calls
        if "/members/snapshot" in str(request.url):
            calls += 1
            if calls == 2:
                raise httpx.ConnectError("uplink lost", request=request)

    http.event_hooks = {"request": [cut]}

    result = client.sync_members(cache)

    assert result.outcome is Outcome.FAILED
    assert "uplink lost" in result.detail
    assert (len(cache), cache.version) == (5, 5)


def test_network_errors_are_a_result_not_an_exception(cache: MemberCache) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with httpx.Client(transport=httpx.MockTransport(refuse)) as http:
        client = sync_client(http)
        members = client.sync_members(cache)
        keys = client.sync_keys(lambda _ks: None)
        bookings = client.sync_bookings("v1", _FailingBookings())

    assert [r.outcome for r in (members, keys, bookings)] == [Outcome.FAILED] * 3
    assert all("connection refused" in r.detail for r in (members, keys, bookings))
    assert cache.version is None


@pytest.mark.parametrize(
    "body",
    [b"<html>proxy error</html>", b'{"v":1,"version":-1}', b"\xff\xfe"],
)
def test_garbage_from_the_cloud_is_a_failed_result(cache: MemberCache, body: bytes) -> None:
    transport = httpx.MockTransport(lambda _request: httpx.Response(200, content=body))
    with httpx.Client(transport=transport) as http:
        result = sync_client(http).sync_members(cache)

    assert result.outcome is Outcome.FAILED
    assert cache.version is None


def test_a_wrong_token_is_a_failed_result_that_says_so(
    http: TestClient, cache: MemberCache
) -> None:
    result = sync_client(http, token="wrong").sync_members(cache)

    assert result.outcome is Outcome.FAILED
    assert "401 unauthorized" in result.detail


# --- keys ----------------------------------------------------------------------------------


def test_keys_are_saved_and_then_current(
    http: TestClient, session: Session, tmp_path: Path
) -> None:
    access_store.put_key(session=session, kid="u2025", public_key=KEY, now=NOW)
    path = tmp_path / "keys.json"
    client = sync_client(http)

    first = client.sync_keys(lambda keyset: KeyRing.from_keyset(keyset).save(path))
    ring = KeyRing.load(path)
    again = client.sync_keys(lambda _ks: pytest.fail("unchanged"), current_version=ring.version)

    assert (first.outcome, first.version) == (Outcome.UPDATED, 1)
    assert ring.to_keyset() == KeySet(version=1, keys={"u2025": KEY})
    assert again.outcome is Outcome.CURRENT


# --- bookings ------------------------------------------------------------------------------


class _FailingBookings:
    version = -1

    def apply_snapshot(self, snapshot: object) -> None:
        pytest.fail("nothing to apply")

    def apply_delta(self, delta: object) -> bool:
        pytest.fail("nothing to apply")


def book(session: Session, booking_id: str, *, door: str = "nursing-room") -> int:
    return access_store.upsert_booking(
        session=session,
        booking_id=booking_id,
        venue_id="v1",
        door=door,
        member_id="M0001",
        starts_at=NOW,
        ends_at=NOW + timedelta(hours=1),
        now=NOW,
    )


def test_bookings_sync_full_then_deltas(http: TestClient, session: Session, tmp_path: Path) -> None:
    store = Bookings(tmp_path / "bookings.db")
    client = sync_client(http)
    book(session, "b1")
    book(session, "b2", door="reading-room")

    first = client.sync_bookings("v1", store)
    access_store.cancel_booking(session=session, booking_id="b1", now=NOW)
    book(session, "b3", door="gym")
    second = client.sync_bookings("v1", store)
    idle = client.sync_bookings("v1", store)

    assert (first.outcome, first.snapshot, first.version) == (Outcome.UPDATED, True, 2)
    assert (second.outcome, second.changes, second.version) == (Outcome.UPDATED, 2, 4)
    assert idle.outcome is Outcome.CURRENT
    assert not store.is_booked("M0001", "nursing-room", NOW, timedelta(0))
    assert store.is_booked("M0001", "reading-room", NOW, timedelta(0))
    assert store.is_booked("M0001", "gym", NOW, timedelta(0))
    store.close()


def test_bookings_of_an_empty_venue_sync_and_stay_current(http: TestClient, tmp_path: Path) -> None:
    store = Bookings(tmp_path / "bookings.db")
    client = sync_client(http)

    first = client.sync_bookings("v1", store)
    again = client.sync_bookings("v1", store)

    assert (first.snapshot, store.version) == (True, 0)
    assert again.ok
    store.close()


def test_bookings_ahead_of_the_cloud_are_refetched_in_full(
    http: TestClient, session: Session, tmp_path: Path
) -> None:
    store = Bookings(tmp_path / "bookings.db")
    client = sync_client(http)
    for i in range(4):
        book(session, f"b{i}")
    client.sync_bookings("v1", store)
    # The cloud database restored from an older backup: its stream is behind the box.
    session.exec(update(SyncStream).where(col(SyncStream.name) == "bookings").values(version=1))
    session.commit()

    result = client.sync_bookings("v1", store)

    assert (result.outcome, result.snapshot, store.version) == (Outcome.UPDATED, True, 4)
    store.close()
