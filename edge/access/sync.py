"""Pulls members, issuer keys and bookings from the cloud over HTTPS into the door's caches.

Members: deltas from the cache's version; when there is no version yet, or the cloud says
the delta is impossible (410 ``snapshot_required``), the paged snapshot, streamed into the
cache's atomic replace page by page, then the deltas from the snapshot's first page. Nothing
here raises for a network or cloud failure: every call returns a :class:`SyncResult` for the
agent to log and to retry with backoff; the caches keep what they had.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol, TypeVar

import httpx
from pydantic import BaseModel

from edge.access.bookings import Booking, BookingDelta, BookingError, BookingSnapshot
from edge.access.members import MembersError
from edge.clock import Clock
from edge.errors import EdgeError
from protocol.access import MAX_DELTA_CHANGES, KeySet, MemberDelta, MemberRecord
from protocol.sync import MAX_BOOKING_CHANGES, MAX_SNAPSHOT_PAGE, BookingSet, MemberSnapshotPage

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

SYNC_PATH: Final = "/api/v1/sync"
# Bounds one sync call: a cloud that keeps answering full pages is not followed forever.
MAX_ROUNDS: Final = 1000


class Outcome(StrEnum):
    CURRENT = "current"  # nothing new; the cache's sync time was renewed where it keeps one
    UPDATED = "updated"  # changes applied
    FAILED = "failed"  # nothing applied (or the part before the failure); retry with backoff


@dataclass(frozen=True, slots=True)
class SyncResult:
    what: str  # "members", "keys" or "bookings"
    outcome: Outcome
    detail: str
    version: int | None = None
    changes: int = 0
    snapshot: bool = False  # a full replace happened (or was attempted)

    @property
    def ok(self) -> bool:
        return self.outcome is not Outcome.FAILED


class MemberSink(Protocol):
    """edge.access.members.MemberCache."""

    @property
    def version(self) -> int | None: ...

    def apply_snapshot(
        self, version: int, members: Iterable[MemberRecord], *, synced_at: datetime
    ) -> int: ...

    def apply_delta(
        self,
        from_version: int,
        to_version: int,
        changes: Iterable[MemberRecord],
        *,
        synced_at: datetime,
    ) -> None: ...


class BookingSink(Protocol):
    """edge.access.bookings.Bookings (version -1 = never synced)."""

    @property
    def version(self) -> int: ...

    def apply_snapshot(self, snapshot: BookingSnapshot) -> None: ...

    def apply_delta(self, delta: BookingDelta) -> bool: ...


class SyncRefusedError(EdgeError):
    """The cloud refused a sync request; ``code`` is its error code (``snapshot_required``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code


# What a sync may meet that is not a bug here: the network, the cloud, a bad body, the disk.
_FAILURES: Final = (httpx.HTTPError, SyncRefusedError, ValueError, MembersError, BookingError,
                    sqlite3.Error, OSError)  # fmt: skip


def _refusal(response: httpx.Response) -> SyncRefusedError:
    try:
        error = response.json()["error"]
        return SyncRefusedError(response.status_code, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        return SyncRefusedError(response.status_code, "http_error", response.text[:200])


class SyncClient:
    """One door box's puller; the agent calls the ``sync_*`` methods on its schedule."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        http: httpx.Client,
        clock: Clock,
        page_size: int = MAX_SNAPSHOT_PAGE,
    ) -> None:
        self._base = base_url.rstrip("/") + SYNC_PATH
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = http
        self._clock = clock
        self._page_size = page_size

    def _get(self, path: str, model: type[M], **params: str | int) -> M:
        response = self._http.get(self._base + path, params=params, headers=self._headers)
        if response.status_code != 200:
            raise _refusal(response)
        return model.model_validate_json(response.content)

    # --- members ---------------------------------------------------------------------------

    def sync_members(self, cache: MemberSink) -> SyncResult:
        snapshot = cache.version is None
        try:
            if not snapshot:
                try:
                    return self._member_deltas(cache)
                except SyncRefusedError as exc:
                    if exc.code != "snapshot_required":
                        raise
                    logger.info("member delta refused (%s); fetching a snapshot", exc)
                snapshot = True
            count = self._member_snapshot(cache)
            result = self._member_deltas(cache)
        except _FAILURES as exc:
            logger.warning("member sync failed: %s", exc)
            return SyncResult("members", Outcome.FAILED, str(exc), cache.version, 0, snapshot)
        return SyncResult(
            "members",
            Outcome.UPDATED,
            f"snapshot of {count} members, then {result.changes} changes",
            result.version,
            count + result.changes,
            snapshot=True,
        )

    def _member_deltas(self, cache: MemberSink) -> SyncResult:
        applied, limit = 0, min(self._page_size, MAX_DELTA_CHANGES)
        for _ in range(MAX_ROUNDS):
            from_version = cache.version
            if from_version is None:
                raise MembersError("the member cache lost its version during the sync")
            delta = self._get("/members/delta", MemberDelta, from_version=from_version, limit=limit)
            cache.apply_delta(
                delta.from_version,
                delta.to_version,
                [entry.record() for entry in delta.changes],
                synced_at=self._clock(),
            )
            applied += len(delta.changes)
            if len(delta.changes) < limit:
                break
        outcome = Outcome.UPDATED if applied else Outcome.CURRENT
        return SyncResult("members", outcome, f"{applied} changes", cache.version, applied)

    def _member_snapshot(self, cache: MemberSink) -> int:
        first = self._get("/members/snapshot", MemberSnapshotPage, limit=self._page_size)
        # The first page's version is the base: every later row is at least that new, and
        # the deltas from it (applied next) replay whatever changed during the walk.
        return cache.apply_snapshot(first.version, self._pages(first), synced_at=self._clock())

    def _pages(self, page: MemberSnapshotPage) -> Iterator[MemberRecord]:
        # Consumed inside the cache's transaction: a failing page rolls the whole replace back.
        for _ in range(MAX_ROUNDS * 1000):
            yield from (entry.record() for entry in page.members)
            if page.next_after is None:
                return
            page = self._get(
                "/members/snapshot",
                MemberSnapshotPage,
                after=page.next_after,
                limit=self._page_size,
            )
        raise MembersError("the member snapshot did not end; giving up")

    # --- keys ------------------------------------------------------------------------------

    def sync_keys(
        self, apply: Callable[[KeySet], object], *, current_version: int | None = None
    ) -> SyncResult:
        """Fetch the key set; ``apply`` it (e.g. save a KeyRing) unless at ``current_version``."""
        try:
            keyset = self._get("/keys", KeySet)
            if keyset.version == current_version:
                return SyncResult("keys", Outcome.CURRENT, "key set unchanged", keyset.version)
            apply(keyset)
        except _FAILURES as exc:
            logger.warning("key sync failed: %s", exc)
            return SyncResult("keys", Outcome.FAILED, str(exc), current_version)
        kids = ", ".join(sorted(keyset.keys)) or "none"
        return SyncResult(
            "keys", Outcome.UPDATED, f"keys: {kids}", keyset.version, len(keyset.keys), True
        )

    # --- bookings --------------------------------------------------------------------------

    def sync_bookings(self, venue: str, store: BookingSink) -> SyncResult:
        applied, full = 0, False
        try:
            for _ in range(MAX_ROUNDS):
                try:
                    page = self._booking_page(venue, max(store.version, 0))
                except SyncRefusedError as exc:
                    if exc.code != "snapshot_required" or store.version <= 0:
                        raise
                    page = self._booking_page(venue, 0)
                full = full or page.full
                applied += self._apply_bookings(store, page)
                if len(page.bookings) < self._page_size:
                    break
        except _FAILURES as exc:
            logger.warning("booking sync of %s failed: %s", venue, exc)
            return SyncResult("bookings", Outcome.FAILED, str(exc), store.version, applied, full)
        outcome = Outcome.UPDATED if applied or full else Outcome.CURRENT
        return SyncResult(
            "bookings", outcome, f"{applied} bookings", store.version, applied, snapshot=full
        )

    def _booking_page(self, venue: str, from_version: int) -> BookingSet:
        limit = min(self._page_size, MAX_BOOKING_CHANGES)
        page = self._get(
            f"/venues/{venue}/bookings", BookingSet, from_version=from_version, limit=limit
        )
        if page.venue != venue:
            raise ValueError(f"asked for the bookings of {venue}, got those of {page.venue}")
        return page

    @staticmethod
    def _apply_bookings(store: BookingSink, page: BookingSet) -> int:
        live = tuple(
            Booking(
                booking_id=b.booking_id,
                door_id=b.door_id,
                member_id=b.member_id,
                start=b.start,
                end=b.end,
            )
            for b in page.bookings
            if not b.cancelled
        )
        if page.full:
            store.apply_snapshot(BookingSnapshot(version=page.to_version, bookings=live))
            return len(page.bookings)
        if page.to_version == page.from_version:
            return 0  # nothing changed since the store's version
        cancelled = tuple(b.booking_id for b in page.bookings if b.cancelled)
        store.apply_delta(
            BookingDelta(
                from_version=page.from_version,
                version=page.to_version,
                upserts=live,
                cancelled=cancelled,
            )
        )
        return len(page.bookings)
