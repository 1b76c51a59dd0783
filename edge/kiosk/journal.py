"""The kiosk's write-ahead journal: one row per redemption and the state it has reached.

Every transition is written (SQLite, ``synchronous=FULL``) *before* the kiosk acts on it,
so after a power cut at any moment the row says exactly what may have happened and
:mod:`edge.kiosk.recovery` knows what to do:

=================  ======================================  ===============================
state              what may have happened                  recovery
=================  ======================================  ===============================
started            a reservation may be held at the cloud  cancel (idempotent) → refunded
reserved           points held, the motor never ran        cancel → refunded
approved_offline   offline approval, the motor never ran   cancel if the cloud saw the txn
                                                           → refunded
dispensing         the motor may have run, no drop seen    jammed (alert) → refunded
dispensing +       the beam saw the item fall; the power   dispensed → as dispensed
  ``drop_seen``    went before ``dispensed`` was written
dispensed          the member has the item                 commit (offline: reserve, then
                                                           commit) → committed, or
                                                           overspent if the cloud refuses
jammed             no item came out                        cancel → refunded
=================  ======================================  ===============================

Terminal: ``committed``, ``refunded``, ``declined`` (the cloud refused the reservation, or
the offline limits did before anything was asked of the cloud; nothing held, nothing
given) and ``overspent`` (an offline item the ledger could not cover on reconciliation,
flagged to the manager). A ``dispensed`` row never becomes ``refunded`` and a ``jammed``
one never ``committed``: each row ends in exactly one of them.

Why ``drop_seen`` is a column and not the driver's memory: the chute beam's edge is the
only evidence that an item fell, and between that edge and the ``dispensed`` write a power
cut would erase it, so the member would be refunded for an item they hold. The driver
calls :meth:`Journal.record_drop` from the beam's edge *before* it tells the controller
(see :mod:`edge.hardware.kiosk`), so the evidence reaches the disk first; a row still in
``dispensing`` without it is one whose item never fell, and is refunded as before.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Final

from edge.clock import Clock
from edge.errors import EdgeError
from edge.kiosk.limits import OfflineUsage
from edge.storage import open_sqlite


class State(StrEnum):
    STARTED = "started"
    RESERVED = "reserved"
    APPROVED_OFFLINE = "approved_offline"
    DISPENSING = "dispensing"
    DISPENSED = "dispensed"
    JAMMED = "jammed"
    COMMITTED = "committed"
    REFUNDED = "refunded"
    DECLINED = "declined"
    OVERSPENT = "overspent"


TERMINAL: Final = frozenset({State.COMMITTED, State.REFUNDED, State.DECLINED, State.OVERSPENT})
# States in which the member holds nothing and owes nothing: not counted against limits.
_VOID: Final = (State.REFUNDED, State.DECLINED, State.JAMMED)

_NEXT: Final[dict[State, frozenset[State]]] = {
    State.STARTED: frozenset(
        {State.RESERVED, State.APPROVED_OFFLINE, State.DECLINED, State.REFUNDED}
    ),
    State.RESERVED: frozenset({State.DISPENSING, State.REFUNDED}),
    State.APPROVED_OFFLINE: frozenset({State.DISPENSING, State.REFUNDED}),
    State.DISPENSING: frozenset({State.DISPENSED, State.JAMMED}),
    State.DISPENSED: frozenset({State.COMMITTED, State.OVERSPENT}),
    State.JAMMED: frozenset({State.REFUNDED}),
}

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS txn (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    txn_id TEXT NOT NULL UNIQUE,
    member_id TEXT NOT NULL,
    slot TEXT NOT NULL,
    price INTEGER NOT NULL,
    state TEXT NOT NULL,
    cloud_touched INTEGER NOT NULL,
    offline INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    drop_seen INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ix_txn_state ON txn (state, id);
CREATE INDEX IF NOT EXISTS ix_txn_member ON txn (member_id, created_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
# Journals written before drop evidence was kept gain the column in place (every old row
# is 0: no evidence, which is what those kiosks had). SQLite has no ADD COLUMN IF NOT EXISTS.
_ADD_DROP_SEEN: Final = "ALTER TABLE txn ADD COLUMN drop_seen INTEGER NOT NULL DEFAULT 0"
_COLUMNS: Final = (
    "txn_id, member_id, slot, price, state, cloud_touched, offline, created_at, detail, drop_seen"
)
_TERMINAL_MARKS: Final = ", ".join("?" * len(TERMINAL))
_VOID_MARKS: Final = ", ".join("?" * len(_VOID))
_SPENT_TODAY: Final = (
    "SELECT coalesce(sum(price), 0) FROM txn WHERE member_id = ? AND offline = 1"  # noqa: S608
    f" AND state NOT IN ({_VOID_MARKS}) AND created_at >= ? AND created_at < ?"
)
_SINCE_RECONCILE: Final = (
    "SELECT count(*) FROM txn WHERE member_id = ? AND offline = 1"  # noqa: S608
    f" AND state NOT IN ({_VOID_MARKS}) AND id > "
    "(SELECT value FROM meta WHERE key = 'reconciled_through')"
)
_MARK_RECONCILED: Final = (
    "UPDATE meta SET value = coalesce("  # noqa: S608
    f"(SELECT min(id) - 1 FROM txn WHERE state NOT IN ({_TERMINAL_MARKS})),"
    " (SELECT max(id) FROM txn), 0) WHERE key = 'reconciled_through'"
)


class JournalError(EdgeError, RuntimeError):
    """A transition the state machine does not allow, or a journal that cannot be written."""


@dataclass(frozen=True, slots=True)
class Txn:
    """One redemption as journalled."""

    txn_id: str
    member_id: str
    slot: str
    price: int
    state: State
    cloud_touched: bool  # a reservation was sent: a refund must cancel it at the cloud
    offline: bool  # approved by the offline limits: reconciliation reserves before commit
    created_at: datetime
    detail: str = ""
    drop_seen: bool = False  # the chute beam saw this row's item fall (see record_drop)

    @property
    def open(self) -> bool:
        return self.state not in TERMINAL


def _txn(row: tuple[str, str, str, int, str, int, int, float, str, int]) -> Txn:
    txn_id, member, slot, price, state, touched, offline, created, detail, dropped = row
    return Txn(
        txn_id, member, slot, int(price), State(state), bool(touched), bool(offline),
        datetime.fromtimestamp(created, UTC), detail, bool(dropped),
    )  # fmt: skip


def _migrate(db: sqlite3.Connection) -> None:
    columns = {name for _, name, *_ in db.execute("PRAGMA table_info(txn)")}
    if "drop_seen" not in columns:
        db.execute(_ADD_DROP_SEEN)


class Journal:
    """Crash-safe redemption rows; every method is one committed SQLite transaction."""

    def __init__(self, path: Path, *, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # FULL: a transition the kiosk acted on is on the card even across a power cut.
            self._db = open_sqlite(path, synchronous="FULL")
            self._db.executescript(_SCHEMA)
            _migrate(self._db)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('reconciled_through', 0)")
        except sqlite3.Error as exc:
            raise JournalError(
                f"cannot open the kiosk journal at {path}: {exc}; check the disk and permissions"
            ) from exc

    def start(
        self, txn_id: str, *, member_id: str, slot: str, price: int, cloud_touched: bool
    ) -> Txn:
        """Write a new row in ``started`` before anything is asked of the cloud or the motor."""
        now = self._clock().timestamp()
        with self._lock:
            self._db.execute(
                "INSERT INTO txn (txn_id, member_id, slot, price, state, cloud_touched,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (txn_id, member_id, slot, price, State.STARTED, int(cloud_touched), now, now),
            )
        return self.get(txn_id)

    def advance(
        self, txn_id: str, to: State, *, detail: str | None = None, offline: bool | None = None
    ) -> Txn:
        """Move a row on, refusing a transition the state machine does not have."""
        with self._lock:
            current = self._get(txn_id)
            if to not in _NEXT.get(current.state, frozenset()):
                raise JournalError(f"transaction {txn_id}: {current.state} cannot become {to}")
            self._db.execute(
                "UPDATE txn SET state = ?, updated_at = ?, detail = coalesce(?, detail),"
                " offline = coalesce(?, offline) WHERE txn_id = ? AND state = ?",
                (
                    to,
                    self._clock().timestamp(),
                    None if detail is None else detail[:200],
                    None if offline is None else int(offline),
                    txn_id,
                    current.state,
                ),
            )
            return self._get(txn_id)

    def record_drop(self) -> str | None:
        """The chute beam saw an item fall: mark the row being dispensed; its id, or None.

        Called from the beam's edge while a motor runs. The kiosk dispenses one item at a
        time, so the newest ``dispensing`` row is the one whose item fell (an older one
        can only be a row recovery has not reached, and it did not turn this motor).
        """
        with self._lock:
            row = self._db.execute(
                "SELECT txn_id FROM txn WHERE state = ? ORDER BY id DESC LIMIT 1",
                (State.DISPENSING,),
            ).fetchone()
            if row is None:
                return None
            self._db.execute(
                "UPDATE txn SET drop_seen = 1, updated_at = ? WHERE txn_id = ? AND state = ?",
                (self._clock().timestamp(), row[0], State.DISPENSING),
            )
            return str(row[0])

    def _get(self, txn_id: str) -> Txn:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM txn WHERE txn_id = ?", (txn_id,)).fetchone()  # noqa: S608
        if row is None:
            raise JournalError(f"no transaction {txn_id} in the journal")
        return _txn(row)

    def get(self, txn_id: str) -> Txn:
        with self._lock:
            return self._get(txn_id)

    def open_rows(self) -> list[Txn]:
        """Every row not yet in a terminal state, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM txn WHERE state NOT IN ({_TERMINAL_MARKS}) ORDER BY id",  # noqa: S608
                tuple(TERMINAL),
            ).fetchall()
        return [_txn(row) for row in rows]

    def all_rows(self) -> list[Txn]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM txn ORDER BY id").fetchall()  # noqa: S608
        return [_txn(row) for row in rows]

    def offline_usage(self, member_id: str, *, day: tuple[datetime, datetime]) -> OfflineUsage:
        """The member's offline redemptions here: points this local day, count since reconcile."""
        with self._lock:
            (spent,) = self._db.execute(
                _SPENT_TODAY, (member_id, *_VOID, day[0].timestamp(), day[1].timestamp())
            ).fetchone()
            (count,) = self._db.execute(_SINCE_RECONCILE, (member_id, *_VOID)).fetchone()
        return OfflineUsage(spent_today=int(spent), consecutive=int(count))

    def mark_reconciled(self) -> None:
        """The cloud has every closed offline row: consecutive-offline counters start again.

        Rows still open (a redemption in progress) stay on the far side of the mark, so
        one that turns into an offline redemption is still counted.
        """
        with self._lock:
            self._db.execute(_MARK_RECONCILED, tuple(TERMINAL))

    def close(self) -> None:
        with self._lock:
            self._db.close()
