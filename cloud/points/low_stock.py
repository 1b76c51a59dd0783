"""Low-stock alerts: open one when a kiosk slot runs low, resolve it when it is restocked.

Checked where stock changes (a take, a restock, a count) rather than by a scheduled rule,
so the manager hears of an empty slot at once. The alert goes through the alerts package's
own lifecycle: one unresolved alert per slot (the ``active_key`` unique index), a webhook
delivery per transition, and the alerts API lists, acknowledges and resolves it like any other.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from cloud.alerts import lifecycle, messages
from cloud.alerts.models import SYSTEM, Alert, AlertKind
from cloud.alerts.rules import Finding
from cloud.alerts.subject import Subject
from cloud.models import Venue
from cloud.points.catalog_models import KioskSlot

logger = logging.getLogger(__name__)


def subject_of(slot: KioskSlot) -> Subject:
    """The alert subject of a slot: the kiosk is the device, ``slot<n>`` the sensor."""
    return Subject(AlertKind.LOW_STOCK, slot.venue_id, slot.kiosk_id, f"slot{slot.slot}")


def is_low(slot: KioskSlot) -> bool:
    """An empty slot with no product is not low: there is nothing to restock."""
    return slot.product_id is not None and slot.stock <= slot.low_stock_threshold


def _active(session: Session, subject: Subject) -> Alert | None:
    return session.exec(select(Alert).where(Alert.active_key == subject.key)).first()


def _describe(session: Session, slot: KioskSlot, subject: Subject) -> tuple[str, str]:
    names = messages.venue_names(session.get(Venue, slot.venue_id), slot.venue_id)
    value, threshold = float(slot.stock), float(slot.low_stock_threshold)
    return messages.describe(subject, value=value, threshold=threshold, venue=names)


def _open(session: Session, slot: KioskSlot, subject: Subject, *, now: datetime) -> None:
    value, threshold = float(slot.stock), float(slot.low_stock_threshold)
    zh, en = _describe(session, slot, subject)
    finding = Finding(subject, True, now, value, threshold, 1, zh, en)
    # A savepoint: if another transaction opened the same alert first, the unique
    # active_key refuses ours and only the savepoint is undone, never the caller's
    # redemption or restock.
    try:
        with session.begin_nested():
            lifecycle.open_alert(session, finding, now=now)
    except IntegrityError:
        logger.info("low-stock alert %s was opened by another transaction", subject.key)


def check(session: Session, slot: KioskSlot, *, now: datetime) -> None:
    """Open, refresh or resolve the slot's low-stock alert; the caller commits."""
    subject = subject_of(slot)
    alert = _active(session, subject)
    if is_low(slot):
        if alert is None:
            _open(session, slot, subject, now=now)
            return
        if float(slot.stock) != alert.last_value:
            alert.last_value, alert.last_seen_at = float(slot.stock), now
            alert.message_zh, alert.message_en = _describe(session, slot, subject)
            session.add(alert)
    elif alert is not None:
        alert.last_value = float(slot.stock)
        lifecycle.resolve(session, alert, by=SYSTEM, now=now)
