"""How much the shared provisioning account can make the cloud store: limits on hellos.

Every factory box holds the same provisioning login, so a hello proves nothing; without
limits 2,000 forged hellos became 1,373 pending boxes on the technicians' list (issue 15).
A forger can still keep the caps full, so the caps never decide whether a box can be
claimed: a claim for a serial not heard yet leaves the serial *awaited* (a pending box with
no check), and a hello for a serial the cloud knows is stored whatever the caps say. The
limits are counted in the database, so every API replica enforces the same ones.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, exists, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, or_, select

from cloud.devices.models import PendingBox, PendingBoxCheck

logger = logging.getLogger(__name__)

_MINUTE: Final = timedelta(minutes=1)
# Unclaimed and unheard this long: hidden from the list and deleted by the device control
# (one value for both, so what is listed is what is kept). A box switched off in a
# warehouse is listed again at its next hello.
IDLE: Final = timedelta(hours=24)
# A box not heard for this long is no longer saying hello: twice the longest hello interval
# a box may be set to (edge.settings.ProvisionSettings.hello_interval_s, 300 s). Only such a
# box makes room for a new one, so a box that is on is never pushed out.
ACTIVE: Final = timedelta(minutes=10)
# Serials awaited at once. Only signed-in claimers add them, one per claim of a box not
# heard yet; past this the longest-awaited goes, so the newest claim is always awaited.
MAX_AWAITED: Final = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class HelloLimits:
    # A box repeats its hello every 5 s (edge ProvisionSettings.hello_interval_s); storing
    # one of each serial and check per 10 s halves the writes and bounds a replayed flood.
    store_every: timedelta = timedelta(seconds=10)
    # A fitter powering on a pallet of boxes makes a few dozen new serials a minute; this
    # bounds the rows a flood of made-up serials writes, not who may be claimed.
    new_per_minute: int = 60
    # Unclaimed boxes heard within IDLE: far more than one district fits at once, few
    # enough for the technicians' list and the table to stay small.
    max_unclaimed: int = 500


DEFAULT_HELLO_LIMITS: Final = HelloLimits()


class HelloRefusedError(Exception):
    """A hello for a new serial that a limit keeps out; nothing was stored."""


def admit_new_box(*, session: Session, now: datetime, limits: HelloLimits) -> None:
    """Make room for one more pending box, or raise HelloRefusedError.

    When ``max_unclaimed`` are waiting, the least recently heard box that stopped saying
    hello makes room; the change is committed with the caller's.
    """
    recent = _count(
        session, col(PendingBox.claimed_at).is_(None), col(PendingBox.first_seen_at) > now - _MINUTE
    )
    if recent >= limits.new_per_minute:
        raise HelloRefusedError(
            f"{recent} new boxes said hello in the last minute (at most {limits.new_per_minute})"
        )
    unclaimed = _count(
        session, col(PendingBox.claimed_at).is_(None), col(PendingBox.last_seen_at) > now - IDLE
    )
    if unclaimed >= limits.max_unclaimed and not _evict_a_silent_box(session, now):
        raise HelloRefusedError(
            f"{unclaimed} boxes are waiting to be claimed (at most {limits.max_unclaimed}), "
            f"all heard in the last {ACTIVE.total_seconds() / 60:g} minutes"
        )


def box_for_claim(*, session: Session, serial: str, now: datetime) -> PendingBox | None:
    """The pending box of ``serial`` if it said hello; else None, and ``serial`` is awaited.

    An awaited serial is a pending box without a check: its next hello is stored whatever
    the caps say (cloud/devices/hello.py), so the claim's next try finds the box. It is not
    listed, and it goes after IDLE like any box nobody hears.
    """
    box = session.get(PendingBox, serial, populate_existing=True)
    if box is not None and box_heard(session, serial):
        return box
    if box is None:
        _drop_the_longest_awaited(session)
        box = PendingBox(serial=serial, first_seen_at=now, last_seen_at=now)
    box.last_seen_at = now  # awaited since the latest claim
    session.add(box)
    try:
        session.commit()
    except IntegrityError:
        # The box's hello (or another claim) inserted the row between our read and insert.
        session.rollback()
    return None


def box_heard(session: Session, serial: str) -> bool:
    """Whether ``serial`` said hello: it has a check (an awaited serial has none)."""
    heard: bool = session.exec(select(exists().where(col(PendingBoxCheck.serial) == serial))).one()
    return heard


def forget_idle_boxes(*, session: Session, now: datetime) -> int:
    """Delete unclaimed boxes not heard for IDLE, and their checks; how many went.

    A box whose claim attempts are locked stays until the lock ends: forgetting it would let
    the next hello start the wrong-code count afresh.
    """
    idle = _unclaimed_silent_since(now - IDLE, now)
    serials = list(session.exec(select(PendingBox.serial).where(*idle)))
    if not serials:
        return 0
    gone = _delete_boxes(session, serials, idle)
    session.commit()
    logger.info("forgot %d unclaimed boxes not heard for %s", gone, IDLE)
    return gone


def _evict_a_silent_box(session: Session, now: datetime) -> bool:
    """Delete the least recently heard box that stopped saying hello; whether one went.

    Never an awaited serial (it has no check yet) nor one locked against guessing.
    """
    silent = [*_unclaimed_silent_since(now - ACTIVE, now), said_hello()]
    oldest = session.exec(
        select(PendingBox.serial)
        .where(*silent)
        .order_by(col(PendingBox.last_seen_at), col(PendingBox.serial))
        .limit(1)
    ).first()
    return oldest is not None and _delete_boxes(session, [oldest], silent) == 1


def _drop_the_longest_awaited(session: Session) -> None:
    """Leave room for one more awaited serial under MAX_AWAITED."""
    awaited = [col(PendingBox.claimed_at).is_(None), ~said_hello()]
    beyond = session.exec(
        select(PendingBox.serial)
        .where(*awaited)
        .order_by(col(PendingBox.last_seen_at).desc(), col(PendingBox.serial))
        .offset(MAX_AWAITED - 1)
    ).all()
    if beyond:
        _delete_boxes(session, beyond, awaited)


def _delete_boxes(
    session: Session, serials: Sequence[str], where: Sequence[ColumnElement[bool]]
) -> int:
    """Delete the boxes of ``serials`` still matching ``where``, with their checks.

    ``where`` is asked again in the DELETE: a box that said hello since it was selected
    stays. Boxes first: their checks go with them (ON DELETE CASCADE), and a check's hello
    racing with the delete then finds no box and is stored as a new one.
    """
    result = session.exec(delete(PendingBox).where(col(PendingBox.serial).in_(serials), *where))
    # By statement as well, for a connection that does not enforce foreign keys.
    session.exec(
        delete(PendingBoxCheck).where(
            col(PendingBoxCheck.serial).in_(serials),
            col(PendingBoxCheck.serial).not_in(
                select(PendingBox.serial).where(col(PendingBox.serial).in_(serials))
            ),
        )
    )
    gone: int = result.rowcount
    return gone


def _unclaimed_silent_since(cutoff: datetime, now: datetime) -> list[ColumnElement[bool]]:
    return [
        col(PendingBox.claimed_at).is_(None),
        col(PendingBox.last_seen_at) <= cutoff,
        or_(col(PendingBox.locked_until).is_(None), col(PendingBox.locked_until) <= now),
    ]


def said_hello() -> ColumnElement[bool]:
    """A PendingBox condition: the box said hello (an awaited serial has no check yet)."""
    return exists().where(col(PendingBoxCheck.serial) == col(PendingBox.serial))


def _count(session: Session, *where: ColumnElement[bool]) -> int:
    count: int = session.exec(select(func.count()).select_from(PendingBox).where(*where)).one()
    return count
