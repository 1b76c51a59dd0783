"""Boxes saying hello on the provisioning topic: who is waiting to be claimed, and their bundles.

Every unclaimed box shares one provisioning account, so a hello proves nothing: anyone
holding that account can say hello for any serial with a made-up check. A serial therefore
keeps every distinct check it recently heard (:class:`PendingBoxCheck`), a bounded few, and
a claim succeeds when the label's check is among them (cloud/devices/claims.py). How many
new serials, and how often, is bounded by cloud/devices/hello_limits.py; a serial the cloud
knows (waiting, claimed, or awaited by a claim) is always heard.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, col, delete, select

from cloud.core.time import as_utc
from cloud.devices.hello_limits import (
    ACTIVE,
    DEFAULT_HELLO_LIMITS,
    IDLE,
    HelloLimits,
    admit_new_box,
    box_heard,
    said_hello,
)
from cloud.devices.models import PendingBox, PendingBoxCheck
from protocol.provisioning import Hello, SealedBundle

logger = logging.getLogger(__name__)

# Checks kept per serial. The real box is one; a renewed label adds another; the rest room is
# for forgeries, which are bounded by this instead of by the database's size.
MAX_CHECKS: Final = 16


def note_hello(
    *,
    session: Session,
    hello: Hello,
    now: datetime,
    limits: HelloLimits = DEFAULT_HELLO_LIMITS,
) -> SealedBundle | None:
    """Record ``hello``; the sealed bundle to publish back if the box is claimed but has not
    come online as itself yet, else None.

    Times are the cloud's: a box fresh from the factory may not know the time yet. Raises
    HelloRefusedError (nothing stored) for a new serial past one of ``limits``.
    """
    try:
        box = _note(session, hello, now, limits)
    except (IntegrityError, StaleDataError):
        # Another API replica inserted the same new box or check between our read and our
        # insert, or the box was forgotten meanwhile (its update matched no row).
        session.rollback()
        box = _note(session, hello, now, limits)
    if box is None or box.device_id is None or box.delivered_at is not None:
        return None
    if box.sealed_bundle is None:
        return None
    try:
        return SealedBundle.model_validate_json(box.sealed_bundle)
    except ValueError:
        logger.exception("the stored bundle of box %s does not parse; re-claim it", box.serial)
        return None


def _note(session: Session, hello: Hello, now: datetime, limits: HelloLimits) -> PendingBox | None:
    """The box after ``hello``; None (nothing stored) for a claimed box's forged hello."""
    box = session.get(PendingBox, hello.serial, populate_existing=True)
    key = (hello.serial, hello.check)
    check = session.get(PendingBoxCheck, key, populate_existing=True)
    if check is None and box is not None and box.claimed_at is not None:
        # A claimed box keeps only the check its label was claimed with: any other hello is
        # not from it, and gets neither a row nor the bundle.
        return None
    if check is not None and box is not None and _heard_lately(check, now, limits):
        # Per serial *and check*: throttling a serial as a whole would let a forger who
        # repeats hellos for it keep the real box's own hellos out.
        return box
    if box is None:
        admit_new_box(session=session, now=now, limits=limits)
        box = PendingBox(serial=hello.serial, first_seen_at=now, last_seen_at=now)
        session.add(box)
        session.flush()  # the check's row refers to it
    elif check is None and not box_heard(session, hello.serial):
        box.first_seen_at = now  # awaited by a claim (hello_limits.box_for_claim) until now
    if check is None:
        check = PendingBoxCheck(
            serial=hello.serial, check=hello.check, first_seen_at=now, last_seen_at=now
        )
    check.last_seen_at = now
    check.accepts_client_id = hello.accepts_client_id  # per check: the label's own box says
    box.last_seen_at = now
    box.software = hello.software
    box.hardware = hello.hardware
    session.add_all([box, check])
    session.flush()
    _keep_the_likeliest(session, hello.serial, now)
    session.commit()
    session.refresh(box)
    return box


def _heard_lately(check: PendingBoxCheck, now: datetime, limits: HelloLimits) -> bool:
    return now - as_utc(check.last_seen_at) < limits.store_every


def _keep_the_likeliest(session: Session, serial: str, now: datetime) -> None:
    """Drop all but :data:`MAX_CHECKS` of the serial's checks, the least likely real first."""
    checks = session.exec(
        select(PendingBoxCheck).where(col(PendingBoxCheck.serial) == serial)
    ).all()
    if len(checks) <= MAX_CHECKS:
        return
    ranked = sorted(checks, key=lambda c: _likelihood(c, now), reverse=True)
    gone = [c.check for c in ranked[MAX_CHECKS:]]
    # A statement, not session.delete: another replica may drop the same rows meanwhile.
    session.exec(
        delete(PendingBoxCheck).where(
            col(PendingBoxCheck.serial) == serial, col(PendingBoxCheck.check).in_(gone)
        )
    )
    # info, not warning: a flood of forgeries would otherwise flood the log as well.
    logger.info(
        "box %s was said hello for with %d different checks; someone may be forging its "
        "hellos (the %d least likely real ones were dropped)",
        serial,
        len(checks),
        len(checks) - MAX_CHECKS,
    )


def _likelihood(check: PendingBoxCheck, now: datetime) -> tuple[bool, timedelta, datetime]:
    """How likely ``check`` is a real box's, as a sort key.

    Heard lately beats not; then the longest run of hellos: a real box has repeated its
    hello since it was powered on, so a forgery begun after it has a shorter run however
    often it is repeated. Evicting by last hello alone would let a burst of forgeries
    between two of the box's hellos push the box out.
    """
    first, last = as_utc(check.first_seen_at), as_utc(check.last_seen_at)
    active = now - last <= ACTIVE
    return (active, last - first if active else timedelta(0), last)


def pending_boxes(*, session: Session, now: datetime, window: timedelta) -> list[PendingBox]:
    """Unclaimed boxes that said hello within the claim window and IDLE, newest first.

    Hellos add at most HelloLimits.max_unclaimed of them (cloud/devices/hello_limits.py); a
    serial a claim awaits is not listed until its box says hello.
    """
    query = (
        select(PendingBox)
        .where(col(PendingBox.claimed_at).is_(None), said_hello())
        .where(col(PendingBox.last_seen_at) >= now - min(window, IDLE))
        .order_by(col(PendingBox.last_seen_at).desc(), col(PendingBox.serial))
    )
    return list(session.exec(query))
