"""Boxes saying hello on the provisioning topic: who is waiting to be claimed, and their bundles."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cloud.devices.models import PendingBox
from protocol.provisioning import Hello, SealedBundle

logger = logging.getLogger(__name__)


def note_hello(*, session: Session, hello: Hello, now: datetime) -> SealedBundle | None:
    """Record ``hello``; the sealed bundle to publish back if the box is claimed but has not
    come online as itself yet, else None.

    Times are the cloud's: a box fresh from the factory may not know the time yet.
    """
    try:
        box = _upsert(session, hello, now)
    except IntegrityError:
        # Another API replica inserted the same new box between our read and our insert.
        session.rollback()
        box = _upsert(session, hello, now)
    if box.device_id is None or box.delivered_at is not None or box.sealed_bundle is None:
        return None
    try:
        return SealedBundle.model_validate_json(box.sealed_bundle)
    except ValueError:
        logger.exception("the stored bundle of box %s does not parse; re-claim it", box.serial)
        return None


def _upsert(session: Session, hello: Hello, now: datetime) -> PendingBox:
    box = session.get(PendingBox, hello.serial, populate_existing=True)
    if box is None:
        box = PendingBox(
            serial=hello.serial, check=hello.check, first_seen_at=now, last_seen_at=now
        )
    elif box.check != hello.check:
        # A renewed label (`yizhan device label --renew`): a new secret, a new claim window,
        # and the wrong guesses made against the old secret no longer count.
        box.check = hello.check
        box.first_seen_at = now
        box.failed_attempts = 0
        box.locked_until = None
    box.last_seen_at = now
    box.software = hello.software
    box.hardware = hello.hardware
    session.add(box)
    session.commit()
    session.refresh(box)
    return box


def pending_boxes(*, session: Session, now: datetime, window: timedelta) -> list[PendingBox]:
    """Unclaimed boxes that said hello within the claim window, newest first."""
    query = (
        select(PendingBox)
        .where(col(PendingBox.claimed_at).is_(None))
        .where(col(PendingBox.last_seen_at) >= now - window)
        .order_by(col(PendingBox.last_seen_at).desc(), col(PendingBox.serial))
    )
    return list(session.exec(query))
