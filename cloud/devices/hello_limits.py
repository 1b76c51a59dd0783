"""How much the shared provisioning account can make the cloud store: limits on hellos.

Every factory box holds the same provisioning login, so a hello proves nothing; without
limits 2,000 forged hellos became 1,373 pending boxes on the technicians' list (issue 15).
The limits are counted in the database, so every API replica enforces the same ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func
from sqlmodel import Session, col, delete, or_, select

from cloud.devices.models import PendingBox, PendingBoxCheck

logger = logging.getLogger(__name__)

_MINUTE: Final = timedelta(minutes=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class HelloLimits:
    # A box repeats its hello every 5 s (edge ProvisionSettings.hello_interval_s); storing
    # one of each serial and check per 10 s halves the writes and bounds a replayed flood.
    store_every: timedelta = timedelta(seconds=10)
    # A fitter powering on a pallet of boxes makes a few dozen new serials a minute.
    new_per_minute: int = 60
    # Unclaimed boxes heard within ``idle``: far more than one district fits at once, few
    # enough for the technicians' list and the table to stay small.
    max_unclaimed: int = 500
    # Unclaimed and unheard this long: hidden from the list and deleted by the device
    # control. A box switched off in a warehouse is listed again at its next hello.
    idle: timedelta = timedelta(hours=24)


DEFAULT_HELLO_LIMITS: Final = HelloLimits()


class HelloRefusedError(Exception):
    """A hello for a new serial that a limit keeps out; nothing was stored."""


def admit_new_box(*, session: Session, now: datetime, limits: HelloLimits) -> None:
    """Raise HelloRefusedError if one more pending box would pass a limit."""
    recent = session.exec(
        select(func.count())
        .select_from(PendingBox)
        .where(col(PendingBox.claimed_at).is_(None), col(PendingBox.first_seen_at) > now - _MINUTE)
    ).one()
    if recent >= limits.new_per_minute:
        raise HelloRefusedError(
            f"{recent} new boxes said hello in the last minute (at most {limits.new_per_minute})"
        )
    unclaimed = session.exec(
        select(func.count())
        .select_from(PendingBox)
        .where(
            col(PendingBox.claimed_at).is_(None), col(PendingBox.last_seen_at) > now - limits.idle
        )
    ).one()
    if unclaimed >= limits.max_unclaimed:
        raise HelloRefusedError(
            f"{unclaimed} boxes are waiting to be claimed (at most {limits.max_unclaimed}); "
            "claim them or wait for idle ones to expire"
        )


def forget_idle_boxes(*, session: Session, now: datetime, idle: timedelta) -> int:
    """Delete unclaimed boxes not heard for ``idle``, and their checks; how many went.

    A box whose claim attempts are locked stays until the lock ends: forgetting it would let
    the next hello start the wrong-code count afresh.
    """
    idle_serials = select(PendingBox.serial).where(
        col(PendingBox.claimed_at).is_(None),
        col(PendingBox.last_seen_at) <= now - idle,
        or_(col(PendingBox.locked_until).is_(None), col(PendingBox.locked_until) <= now),
    )
    serials = list(session.exec(idle_serials))
    if not serials:
        return 0
    # Checks first and by statement: SQLite enforces no ON DELETE CASCADE unless told to.
    session.exec(delete(PendingBoxCheck).where(col(PendingBoxCheck.serial).in_(serials)))
    session.exec(
        delete(PendingBox).where(
            col(PendingBox.serial).in_(serials), col(PendingBox.claimed_at).is_(None)
        )
    )
    session.commit()
    logger.info("forgot %d unclaimed boxes not heard for %s", len(serials), idle)
    return len(serials)
