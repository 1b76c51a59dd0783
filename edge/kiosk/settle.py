"""Drive a journalled redemption to its end: commit, refund or flag, idempotently.

Shared by the live flow (:mod:`edge.kiosk.controller`) and by recovery after a restart
(:mod:`edge.kiosk.recovery`), so both follow the same rules (see :mod:`edge.kiosk.journal`).
A step the cloud does not answer leaves the row where it is; the next pass retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Final

from edge.clock import Clock
from edge.kiosk.cloud import KioskCloud, Outcome, Redemption
from edge.kiosk.journal import Journal, State, Txn
from edge.outbox import NewEvent

logger = logging.getLogger(__name__)

EventSink = Callable[[Sequence[NewEvent]], object]

REDEEMED_EVENT: Final = "kiosk.redeemed"
JAMMED_EVENT: Final = "kiosk.jammed"
OFFLINE_EVENT: Final = "kiosk.offline_redemption"
REFUNDED_EVENT: Final = "kiosk.refunded"
OVERSPEND_EVENT: Final = "kiosk.overspend"

# States whose only way out is a refund (the member has nothing).
_REFUND_FROM: Final = frozenset(
    {State.STARTED, State.RESERVED, State.APPROVED_OFFLINE, State.JAMMED}
)


class Settler:
    """Commits, refunds and reconciles journal rows; emits the outcome events."""

    def __init__(
        self,
        *,
        kiosk_id: str,
        journal: Journal,
        cloud: KioskCloud,
        events: EventSink,
        clock: Clock,
    ) -> None:
        self.kiosk_id = kiosk_id
        self._journal, self._cloud = journal, cloud
        self._events, self._clock = events, clock

    def event(self, kind: str, txn: Txn, **extra: str | int | bool | None) -> None:
        data: dict[str, str | int | float | bool | None] = {
            "kiosk": self.kiosk_id,
            "txn": txn.txn_id,
            "member": txn.member_id,
            "slot": txn.slot,
            "price": txn.price,
            "offline": txn.offline,
        }
        data.update(extra)
        try:
            self._events([NewEvent(self._clock(), kind, data)])
        except Exception:  # the kiosk must keep settling even if the disk is failing
            logger.exception("could not write %s for %s to the outbox", kind, txn.txn_id)

    def drive(self, txn: Txn, *, local_only: bool = False) -> Txn:
        """One step towards the end for an open row, by the journal's recovery rules.

        ``local_only`` (the cloud is away): only what needs no cloud answer — a dispense
        cut short becomes ``dispensed`` (the drop was recorded) or a jam, and a refund of
        what the cloud never saw.
        """
        if txn.state is State.DISPENSING:
            txn = self._cut_mid_dispense(txn)
        if local_only and (txn.cloud_touched or txn.state is State.DISPENSED):
            return txn
        if txn.state in _REFUND_FROM:
            return self.refund(txn, reason="jammed" if txn.state is State.JAMMED else "abandoned")
        if txn.state is State.DISPENSED:
            return self.settle_dispensed(txn)
        return txn

    def _cut_mid_dispense(self, txn: Txn) -> Txn:
        """A power cut while the motor ran: the journal's drop evidence decides."""
        if txn.drop_seen:
            # The beam saw the item fall before the power went: the member has it.
            txn = self._journal.advance(
                txn.txn_id, State.DISPENSED, detail="power cut after the drop"
            )
            if txn.offline:
                self.event(OFFLINE_EVENT, txn, recovered=True)
            return txn
        # No drop on record: the member is treated as having got nothing (refund) and
        # staff check the slot.
        txn = self._journal.advance(txn.txn_id, State.JAMMED, detail="power cut mid-dispense")
        self.event(JAMMED_EVENT, txn, recovered=True)
        return txn

    def refund(self, txn: Txn, *, reason: str) -> Txn:
        """Release whatever the cloud may hold for this transaction; nothing is given."""
        if txn.cloud_touched:
            result = self._cloud.cancel(txn.txn_id, reason=reason)
            if not result.ok:
                # Refused means the cloud never held it or already closed it; only the
                # status can tell a committed one, which a refundable row never is.
                if result.outcome is Outcome.UNAVAILABLE:
                    return txn
                logger.warning("cancel of %s refused (%s); nothing held", txn.txn_id, result.reason)
        txn = self._journal.advance(txn.txn_id, State.REFUNDED, detail=reason)
        self.event(REFUNDED_EVENT, txn, reason=reason)
        return txn

    def settle_dispensed(self, txn: Txn) -> Txn:
        """The member has the item: take the points (reserving first if it was offline)."""
        if txn.offline:
            reserve = self._cloud.reserve(
                Redemption(
                    txn.txn_id, txn.member_id, self.kiosk_id, txn.slot, txn.price, dispensed=True
                )
            )
            if reserve.outcome is Outcome.UNAVAILABLE:
                return txn
            if reserve.outcome is Outcome.REFUSED:
                return self._overspent(txn, reserve.reason, reserve.detail)
        commit = self._cloud.commit(txn.txn_id)
        if commit.outcome is Outcome.UNAVAILABLE:
            return txn
        if commit.outcome is Outcome.REFUSED:
            return self._overspent(txn, commit.reason, commit.detail)
        txn = self._journal.advance(txn.txn_id, State.COMMITTED)
        self.event(REDEEMED_EVENT, txn, balance=commit.balance)
        return txn

    def _overspent(self, txn: Txn, reason: str, detail: str) -> Txn:
        # The item is gone and the ledger will not take the points: never silently
        # accepted, the manager gets an alert-worthy event with the cloud's reason.
        txn = self._journal.advance(txn.txn_id, State.OVERSPENT, detail=f"{reason}: {detail}")
        logger.warning("redemption %s not covered by the ledger: %s", txn.txn_id, reason)
        self.event(OVERSPEND_EVENT, txn, reason=reason[:100])
        return txn
