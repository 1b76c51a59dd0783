"""Test doubles for the kiosk: an in-memory ledger shaped like the cloud's, power cuts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from edge.kiosk.cloud import CloudResult, Menu, MenuItem, Outcome, Redemption
from edge.kiosk.journal import Journal, State, Txn

MENU = (
    MenuItem("A1", "矿泉水", "Water", 30),
    MenuItem("A2", "毛巾", "Towel", 60),
    MenuItem("B1", "雨衣", "Raincoat", 20, in_stock=False),
)


class PowerCut(BaseException):
    """The box loses power: nothing after this line runs, nothing in memory survives."""


class Clock:
    def __init__(self, now: datetime = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Hold:
    member: str
    price: int
    state: str  # reserved, committed, cancelled (a tombstone when member is "")


@dataclass
class FakeLedger:
    """The cloud's ledger rules in memory: every step idempotent on the kiosk's txn id.

    ``reachable = False`` is a cut uplink. ``lose_reply`` names ops that are applied but
    whose answer is lost (a timeout after the cloud did it). ``cut_after`` names an op after
    which the *kiosk* loses power (the cloud did it; the kiosk never heard).
    """

    balances: dict[str, int] = field(default_factory=lambda: {"M1": 100, "M2": 100})
    holds: dict[str, Hold] = field(default_factory=dict)
    items: tuple[MenuItem, ...] = MENU
    reachable: bool = True
    lose_reply: set[str] = field(default_factory=set)
    cut_after: str | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    applied: list[tuple[str, str]] = field(default_factory=list)  # state changes only

    _AWAY = CloudResult(Outcome.UNAVAILABLE, detail="no route to host")

    def _answer(self, op: str, result: CloudResult) -> CloudResult:
        if self.cut_after == op:
            self.cut_after = None
            raise PowerCut(op)
        if op in self.lose_reply:
            return self._AWAY
        return result

    def reserve(self, redemption: Redemption) -> CloudResult:
        txn = redemption.transaction_id
        self.calls.append(("reserve", txn))
        if not self.reachable:
            return self._AWAY
        hold = self.holds.get(txn)
        if hold is None:
            balance = self.balances.get(redemption.member_id, 0)
            if balance < redemption.price:
                return self._answer(
                    "reserve", CloudResult(Outcome.REFUSED, "insufficient_points", "short")
                )
            self.balances[redemption.member_id] = balance - redemption.price
            hold = self.holds[txn] = Hold(redemption.member_id, redemption.price, "reserved")
            self.applied.append(("reserve", txn))
        if hold.state == "cancelled":
            return self._answer("reserve", CloudResult(Outcome.REFUSED, "cancelled", "cancelled"))
        return self._answer("reserve", CloudResult(Outcome.OK, status=hold.state))

    def commit(self, transaction_id: str) -> CloudResult:
        self.calls.append(("commit", transaction_id))
        if not self.reachable:
            return self._AWAY
        hold = self.holds.get(transaction_id)
        if hold is None or hold.state == "cancelled":
            return self._answer("commit", CloudResult(Outcome.REFUSED, "not_reserved", "no"))
        if hold.state == "reserved":
            hold.state = "committed"
            self.applied.append(("commit", transaction_id))
        return self._answer(
            "commit",
            CloudResult(Outcome.OK, status="committed", balance=self.balances[hold.member]),
        )

    def cancel(self, transaction_id: str, *, reason: str) -> CloudResult:
        self.calls.append(("cancel", transaction_id))
        if not self.reachable:
            return self._AWAY
        hold = self.holds.get(transaction_id)
        if hold is None:
            self.holds[transaction_id] = Hold("", 0, "cancelled")  # a late reserve must fail
        elif hold.state == "committed":
            return self._answer("cancel", CloudResult(Outcome.REFUSED, "committed", reason))
        elif hold.state == "reserved":
            hold.state = "cancelled"
            self.balances[hold.member] += hold.price
            self.applied.append(("cancel", transaction_id))
        return self._answer("cancel", CloudResult(Outcome.OK, status="cancelled"))

    def status(self, transaction_id: str) -> CloudResult:
        hold = self.holds.get(transaction_id)
        if not self.reachable:
            return self._AWAY
        if hold is None:
            return CloudResult(Outcome.REFUSED, "not_found")
        return CloudResult(Outcome.OK, status=hold.state)

    def balance(self, member_id: str) -> CloudResult:
        self.calls.append(("balance", member_id))
        if not self.reachable:
            return self._AWAY
        return CloudResult(Outcome.OK, balance=self.balances.get(member_id, 0))

    def menu(self, kiosk_id: str) -> Menu:
        if not self.reachable:
            return Menu(self._AWAY)
        return Menu(CloudResult(Outcome.OK), self.items)

    def committed(self) -> set[str]:
        return {txn for txn, hold in self.holds.items() if hold.state == "committed"}


class CuttingJournal(Journal):
    """A journal whose box loses power right after one transition reaches the disk."""

    cut_at: State | None = None

    def advance(
        self, txn_id: str, to: State, *, detail: str | None = None, offline: bool | None = None
    ) -> Txn:
        txn = super().advance(txn_id, to, detail=detail, offline=offline)
        if to is self.cut_at:
            self.cut_at = None
            raise PowerCut(str(to))
        return txn

    def start(
        self, txn_id: str, *, member_id: str, slot: str, price: int, cloud_touched: bool
    ) -> Txn:
        txn = super().start(
            txn_id, member_id=member_id, slot=slot, price=price, cloud_touched=cloud_touched
        )
        if self.cut_at is State.STARTED:
            self.cut_at = None
            raise PowerCut("started")
        return txn
