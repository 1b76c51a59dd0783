"""One kiosk's flow: a scanned code opens a member session; a selection becomes exactly one
dispensed-and-paid item, or nothing given and nothing taken.

scan → verify (the door's verifier) → balance + menu (or offline: cached menu, limits) →
select → journal → reserve (or offline approval) → motor → drop beam → commit (or
offline record) → events. Each journal transition is written before the step it names.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from edge.access.reasons import Reason
from edge.access.verifier import Verifier
from edge.clock import Clock
from edge.hardware.interfaces import HardwareError
from edge.hardware.kiosk import DispenseResult
from edge.kiosk.cloud import KioskCloud, MenuItem, Outcome, Redemption
from edge.kiosk.journal import Journal, State, Txn
from edge.kiosk.limits import OfflineLimits, check, local_day
from edge.kiosk.menu import MenuCache
from edge.kiosk.messages import Notice, Say, code_notice, limit_notice, notice
from edge.kiosk.recovery import Recovery, RecoveryReport
from edge.kiosk.settle import JAMMED_EVENT, OFFLINE_EVENT, EventSink, Settler
from protocol.kiosk import ErrorCode

logger = logging.getLogger(__name__)


class Dispenser(Protocol):
    """edge.hardware.kiosk.KioskHardware."""

    def dispense(self, slot: str, timeout_s: float) -> DispenseResult: ...


@dataclass(frozen=True, slots=True)
class KioskTiming:
    dispense_timeout_s: float = 8.0
    session_s: float = 60.0  # a member who walks away is logged out after this
    result_s: float = 8.0  # how long an outcome stays on the screen


@dataclass(frozen=True, slots=True)
class Session:
    member_id: str
    balance: int | None  # None offline: the kiosk cannot know it
    online: bool
    items: tuple[MenuItem, ...]
    until: datetime

    def item(self, slot: str) -> MenuItem | None:
        return next((item for item in self.items if item.slot == slot), None)


@dataclass(frozen=True, slots=True)
class Screen:
    """What the kiosk display shows now."""

    notice: Notice
    session: Session | None = None
    txn_id: str | None = None  # the last selection's transaction, once there is one
    state: State | None = None  # where that transaction got to
    until: datetime | None = None  # an outcome shown without a session goes away then


@dataclass(frozen=True, slots=True)
class KioskParts:
    """The collaborators a controller needs (built by the runtime, or by a test)."""

    verifier: Verifier
    cloud: KioskCloud
    journal: Journal
    dispenser: Dispenser
    menu_cache: MenuCache


def _new_txn_id() -> str:
    return uuid.uuid4().hex


class KioskController:
    """Serves one member at a time; ``tick`` settles and reconciles in the background."""

    def __init__(
        self,
        *,
        kiosk_id: str,
        parts: KioskParts,
        limits: OfflineLimits,
        zone: ZoneInfo,
        events: EventSink,
        clock: Clock,
        timing: KioskTiming = KioskTiming(),
        new_txn_id: Callable[[], str] = _new_txn_id,
    ) -> None:
        self.kiosk_id = kiosk_id
        self._verifier, self._cloud, self._journal = parts.verifier, parts.cloud, parts.journal
        self._dispenser, self._menu_cache = parts.dispenser, parts.menu_cache
        self._limits, self._zone, self._clock = limits, zone, clock
        self._timing, self._new_txn_id = timing, new_txn_id
        self.settler = Settler(
            kiosk_id=kiosk_id, journal=parts.journal, cloud=parts.cloud, events=events, clock=clock
        )
        self._lock = threading.Lock()  # one member, one selection at a time
        self._live: set[str] = set()  # transactions the member flow is driving right now
        self._live_lock = threading.Lock()
        self._recovery = Recovery(journal=parts.journal, settler=self.settler, busy=self._is_live)
        self._recovery_lock = threading.Lock()
        self._screen = Screen(notice(Say.SCAN))
        self.cloud_away = False  # the last tick found no cloud: sessions start offline

    # -- what the screen shows -------------------------------------------------------------

    def screen(self) -> Screen:
        with self._lock:
            return self._current()

    def _current(self) -> Screen:
        now = self._clock()
        screen = self._screen
        if screen.session is not None and now >= screen.session.until:
            screen = self._screen = Screen(notice(Say.SCAN))
        if screen.session is None and screen.until is not None and now >= screen.until:
            screen = self._screen = Screen(notice(Say.SCAN))
        return screen

    def _show(self, screen: Screen) -> Screen:
        self._screen = screen
        return screen

    def _outcome(self, say: Notice, txn: Txn | None = None) -> Screen:
        until = self._clock() + timedelta(seconds=self._timing.result_s)
        return self._show(
            Screen(say, None, txn.txn_id if txn else None, txn.state if txn else None, until)
        )

    # -- a member code ---------------------------------------------------------------------

    def present(self, text: str) -> Screen:
        """A code came out of the scanner: open a session for its member, or say why not."""
        with self._lock:
            verification = self._verifier.verify(text)
            credential = verification.credential
            if verification.reason is not Reason.ACCEPTED or credential is None:
                return self._outcome(code_notice(verification.reason))
            # Burn the code here, like a door that opened: a photo of it cannot spend again.
            if not self._verifier.commit(credential):
                return self._outcome(code_notice(Reason.REPLAYED))
            member = credential.member_id
            balance = None if self.cloud_away else self._cloud.balance(member)
            online = balance is not None and balance.outcome is not Outcome.UNAVAILABLE
            items = self._menu(online=online)
            if not items:
                return self._outcome(notice(Say.NO_MENU))
            until = self._clock() + timedelta(seconds=self._timing.session_s)
            session = Session(member, balance.balance if balance else None, online, items, until)
            return self._show(Screen(notice(Say.CHOOSE if online else Say.CHOOSE_OFFLINE), session))

    def _menu(self, *, online: bool) -> tuple[MenuItem, ...]:
        if online:
            menu = self._cloud.menu(self.kiosk_id)
            if menu.result.ok and menu.items:
                self._save_menu(menu.items)
                return menu.items
        return self._menu_cache.load()

    def _save_menu(self, items: tuple[MenuItem, ...]) -> None:
        try:
            self._menu_cache.save(items)
        except OSError:
            logger.exception("could not cache the kiosk menu")

    # -- a selection -----------------------------------------------------------------------

    def select(self, slot: str) -> Screen:
        """The member touched an item: reserve, dispense, commit — or refuse with a reason."""
        with self._lock:
            screen = self._current()
            session = screen.session
            if session is None:
                return self._outcome(notice(Say.NO_SESSION))
            item = session.item(slot)
            refusal = self._precheck(session, item)
            if refusal is not None or item is None:
                return self._show(replace(screen, notice=refusal or notice(Say.NO_SUCH_ITEM)))
            txn_id = self._new_txn_id()
            with self._live_lock:
                self._live.add(txn_id)
            try:
                return self._redeem(txn_id, session, item)
            finally:
                with self._live_lock:
                    self._live.discard(txn_id)

    @staticmethod
    def _precheck(session: Session, item: MenuItem | None) -> Notice | None:
        if item is None:
            return notice(Say.NO_SUCH_ITEM)
        if not item.in_stock:
            return notice(Say.SOLD_OUT)
        if session.balance is not None and session.balance < item.price:
            return notice(Say.NOT_ENOUGH_POINTS)  # the ledger decides; this saves a round trip
        return None

    def _redeem(self, txn_id: str, session: Session, item: MenuItem) -> Screen:
        txn = self._journal.start(
            txn_id, member_id=session.member_id, slot=item.slot, price=item.price,
            cloud_touched=session.online,
        )  # fmt: skip
        if session.online:
            reserve = self._cloud.reserve(
                Redemption(txn_id, session.member_id, self.kiosk_id, item.slot, item.price)
            )
            if reserve.outcome is Outcome.OK:
                txn = self._journal.advance(txn_id, State.RESERVED)
            elif reserve.outcome is Outcome.REFUSED:
                self._journal.advance(txn_id, State.DECLINED, detail=reserve.reason)
                poor = reserve.reason == ErrorCode.INSUFFICIENT_POINTS
                say = Say.NOT_ENOUGH_POINTS if poor else Say.REFUSED
                return self._show(Screen(notice(say), session))
            # UNAVAILABLE: the reservation may or may not have landed; carry on offline
            # under the same id, which reconciliation re-sends (idempotent) or cancels.
        if txn.state is State.STARTED:
            refused = self._approve_offline(txn)
            if refused is not None:
                return self._show(Screen(refused, replace(session, online=False)))
            txn = self._journal.advance(txn_id, State.APPROVED_OFFLINE, offline=True)
        return self._dispense(txn)

    def _approve_offline(self, txn: Txn) -> Notice | None:
        usage = self._journal.offline_usage(txn.member_id, day=local_day(self._clock(), self._zone))
        refusal = check(self._limits, usage, txn.price)
        if refusal is None:
            return None
        if txn.cloud_touched:
            self.settler.refund(txn, reason=f"offline_{refusal}")  # may wait for the cloud
        else:
            self._journal.advance(txn.txn_id, State.DECLINED, detail=str(refusal))
        return limit_notice(refusal, self._limits)

    def _dispense(self, txn: Txn) -> Screen:
        txn = self._journal.advance(txn.txn_id, State.DISPENSING)
        self._show(Screen(notice(Say.DISPENSING), None, txn.txn_id, txn.state))
        try:
            result = self._dispenser.dispense(txn.slot, self._timing.dispense_timeout_s)
        except HardwareError:
            logger.exception("slot %s motor failed", txn.slot)
            result = DispenseResult.JAMMED
        if result is DispenseResult.JAMMED:
            txn = self._journal.advance(txn.txn_id, State.JAMMED, detail="no drop seen")
            self.settler.event(JAMMED_EVENT, txn, recovered=False)
            txn = self.settler.refund(txn, reason="jammed")
            return self._outcome(notice(Say.JAMMED), txn)
        txn = self._journal.advance(txn.txn_id, State.DISPENSED)
        if txn.offline:
            self.settler.event(OFFLINE_EVENT, txn)
            return self._outcome(notice(Say.TAKE_ITEM_OFFLINE), txn)
        txn = self.settler.settle_dispensed(txn)  # stays dispensed if the cloud is away
        return self._outcome(notice(Say.TAKE_ITEM), txn)

    # -- settling in the background ---------------------------------------------------------

    def _is_live(self, txn_id: str) -> bool:
        with self._live_lock:
            return txn_id in self._live

    def tick(self) -> RecoveryReport:
        """Refresh the menu, settle open rows, reconcile offline ones when the cloud is back."""
        with self._recovery_lock:
            menu = self._cloud.menu(self.kiosk_id)
            reachable = menu.result.outcome is not Outcome.UNAVAILABLE
            if menu.result.ok and menu.items:
                self._save_menu(menu.items)
            report = self._recovery.run(local_only=not reachable)
            if reachable and not report.stalled:
                self._journal.mark_reconciled()
            self.cloud_away = not reachable or report.stalled
            return report

    def recover(self) -> RecoveryReport:
        """At start, before any member: every open row from before the restart."""
        return self.tick()
