"""The uplink's delivery rules without paho or threads: which PUBACK frees which outbox rows,
and when rows the cloud has not confirmed go again.

``edge.uplink.Uplink`` drives paho and its sender thread from these two small classes; it
holds its own lock around them, so neither locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

# PUBACKs of mids from before a reconnect would pile up: past this many, forget the rest.
MAX_EARLY_ACKS: Final = 10_000


class PubackTracker:
    """Which outbox rows each published message carries, until the broker's PUBACK.

    paho can run ``on_publish`` before ``publish()`` has returned the message id, so a
    PUBACK may arrive before its rows are tracked: it is kept as *early* and settles the
    rows the moment they are.
    """

    def __init__(self, *, max_early: int = MAX_EARLY_ACKS) -> None:
        self._inflight: dict[int, list[int]] = {}  # mid -> seqs
        self._early: set[int] = set()
        self._max_early = max_early

    @property
    def waiting(self) -> int:
        """Messages published and still waiting for their PUBACK."""
        return len(self._inflight)

    def published(self, mid: int, seqs: list[int]) -> bool:
        """``mid`` carries ``seqs``; True when its PUBACK came already (the rows are sent)."""
        if mid in self._early:
            self._early.discard(mid)
            return True
        self._inflight[mid] = seqs
        return False

    def acked(self, mid: int) -> list[int] | None:
        """The broker took ``mid``: the rows it carried, or None when not tracked (yet)."""
        seqs = self._inflight.pop(mid, None)
        if seqs is None and len(self._early) < self._max_early:
            self._early.add(mid)
        return seqs

    def clear(self) -> None:
        """A new connection: ids from the old one mean nothing now (the outbox requeues)."""
        self._inflight.clear()
        self._early.clear()


@dataclass(frozen=True, slots=True)
class Resend:
    """Rows sent before ``sent_before`` and still unconfirmed go again.

    ``silent``: the cloud confirmed nothing for ``waited`` (it may be down, so the wait
    doubles); otherwise the cloud confirms others but leaves these behind.
    """

    sent_before: datetime
    silent: bool
    waited: timedelta


class ResendSchedule:
    """When unconfirmed rows are resent.

    After ``resend_after`` without any confirmation, every row sent before then goes again,
    and the wait doubles up to ``max_resend_after`` while the cloud stays silent; a
    confirmation resets it. While the cloud confirms, a row it keeps leaving unconfirmed
    (one dated ahead of the cloud's clock) goes again once it is ``max_resend_after`` old,
    checked once per ``resend_after``: a busy box never has a pause in confirmations.
    """

    def __init__(
        self, *, resend_after: timedelta, max_resend_after: timedelta, now: datetime
    ) -> None:
        self._base = resend_after
        self._max = max_resend_after
        self._after = resend_after
        self._last_confirm = now
        self._last_left_check = now

    @property
    def resend_after(self) -> timedelta:
        """The wait for a confirmation before resending, as backed off now."""
        return self._after

    def confirmed(self, now: datetime) -> None:
        """The cloud confirmed rows: the wait starts again from its base."""
        self._last_confirm = now
        self._after = self._base

    def due(self, now: datetime) -> Resend | None:
        """What to requeue now, if anything; report a non-empty requeue to :meth:`resent`."""
        if now - self._last_confirm >= self._after:
            return Resend(sent_before=now - self._after, silent=True, waited=self._after)
        if now - self._last_left_check < self._base:
            return None
        self._last_left_check = now
        return Resend(sent_before=now - self._max, silent=False, waited=self._max)

    def resent(self, resend: Resend, now: datetime) -> None:
        """Rows did go again; after a silence, wait twice as long before the next resend."""
        if resend.silent:
            self._after = min(self._after * 2, self._max)
            self._last_confirm = now
