"""After a restart, and on every reconcile tick: drive every open redemption to its end.

Rules per state are in :mod:`edge.kiosk.journal`; the steps are in :mod:`edge.kiosk.settle`.
Offline redemptions are reconciled here with their original transaction ids (reserve, then
commit, both idempotent), so the cloud sees each one exactly once however often this runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.kiosk.journal import Journal, State
from edge.kiosk.settle import Settler

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class RecoveryReport:
    ends: dict[State, int] = field(default_factory=dict)  # rows closed, by terminal state
    still_open: int = 0  # rows the cloud did not answer for; the next pass retries them
    stalled: bool = False  # the cloud stopped answering during this pass

    @property
    def closed(self) -> int:
        return sum(self.ends.values())


class Recovery:
    """Walks the journal's open rows oldest first; skips rows the live flow is handling."""

    def __init__(
        self, *, journal: Journal, settler: Settler, busy: Callable[[str], bool] = lambda _: False
    ) -> None:
        self._journal, self._settler, self._busy = journal, settler, busy

    def run(self, *, local_only: bool = False) -> RecoveryReport:
        report = RecoveryReport()
        for txn in self._journal.open_rows():
            if self._busy(txn.txn_id):
                continue
            try:
                after = self._settler.drive(txn, local_only=local_only or report.stalled)
            except Exception:  # one bad row must not stop the others from settling
                logger.exception("could not settle kiosk transaction %s", txn.txn_id)
                report.still_open += 1
                continue
            if after.open:
                report.still_open += 1
                # Still open after a cloud step means the cloud did not answer: the rest
                # only get their local steps this pass, rather than a timeout each.
                report.stalled = report.stalled or not local_only
            else:
                report.ends[after.state] = report.ends.get(after.state, 0) + 1
        if report.closed or report.still_open:
            logger.info(
                "kiosk recovery: closed %s, %d still open",
                {str(k): v for k, v in report.ends.items()}, report.still_open,
            )  # fmt: skip
        return report
