"""The delivery job: send what is due, record each try, retry failures with backoff.

Rows are written by the alert's change (cloud.notify.planner) and by escalation; this job
only reads them, so a slow robot never holds up evaluation. A try happens outside any
transaction; its outcome is written in a short one of its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from cloud.core.time import as_utc
from cloud.notify.errors import ChannelError
from cloud.notify.models import Delivery, DeliveryStatus, Subscription
from cloud.notify.robots import Message
from cloud.notify.services import NotifyServices

logger = logging.getLogger(__name__)

_MAX_ERROR_CHARS: Final = 500


@dataclass(slots=True)
class DeliveryResult:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    gave_up: list[int] = field(default_factory=list)


def _due(engine: Engine, *, now: datetime, limit: int) -> list[int]:
    with Session(engine) as session:
        return [
            d_id
            for d_id in session.exec(
                select(Delivery.id)
                .where(
                    col(Delivery.status).in_([DeliveryStatus.PENDING, DeliveryStatus.FAILED]),
                    col(Delivery.next_attempt_at) <= now,
                )
                .order_by(col(Delivery.id))
                .limit(limit)
            )
            if d_id is not None
        ]


def attempt(
    services: NotifyServices, delivery: Delivery, sub: Subscription, *, now: datetime
) -> None:
    """One try of ``delivery`` (changed in place, not committed): sent, or failed with why
    and when to try again, or given up."""
    delivery.link = services.link(delivery.alert_id, delivery.username, now=now)
    message = Message(title=delivery.title, text=delivery.text, link=delivery.link)
    delivery.attempts += 1
    try:
        services.send(sub, message, now=now)
    except ChannelError as exc:
        _failed(services, delivery, str(exc), now=now)
        return
    except Exception as exc:  # a bug in one channel must not leave the message pending
        logger.exception("notification %s: unexpected error while sending", delivery.id)
        _failed(services, delivery, f"unexpected error: {type(exc).__name__}: {exc}", now=now)
        return
    delivery.status, delivery.sent_at, delivery.next_attempt_at = DeliveryStatus.SENT, now, None
    delivery.last_error = None


def _failed(services: NotifyServices, delivery: Delivery, why: str, *, now: datetime) -> None:
    delivery.last_error = why[:_MAX_ERROR_CHARS]
    if delivery.attempts >= services.retry.max_attempts:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.GAVE_UP, None
    else:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = now + services.retry.backoff(delivery.attempts, services.rng)


def _give_up(delivery: Delivery, why: str) -> None:
    delivery.status, delivery.next_attempt_at, delivery.last_error = (
        DeliveryStatus.GAVE_UP,
        None,
        why,
    )


class DeliveryJob:
    """``job(engine, now)``: every due delivery, oldest first, one try each."""

    def __init__(self, services: NotifyServices) -> None:
        self._services = services

    def __call__(self, engine: Engine, now: datetime) -> None:
        self.run(engine, now)

    def run(self, engine: Engine, now: datetime) -> DeliveryResult:
        result = DeliveryResult()
        for delivery_id in _due(engine, now=now, limit=self._services.retry.batch_size):
            try:
                self._one(engine, delivery_id, now=now, result=result)
            except Exception:  # e.g. a row that cannot be written back: the rest still go
                logger.exception("notification %d: could not be tried", delivery_id)
                result.failed.append(delivery_id)
        return result

    def _one(
        self, engine: Engine, delivery_id: int, *, now: datetime, result: DeliveryResult
    ) -> None:
        with Session(engine) as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None or delivery.status not in (
                DeliveryStatus.PENDING,
                DeliveryStatus.FAILED,
            ):
                return  # another run took it meanwhile
            sub = (
                session.get(Subscription, delivery.subscription_id)
                if delivery.subscription_id is not None
                else None
            )
            if sub is None:
                _give_up(delivery, "the subscription was removed before this could be sent")
            elif now - as_utc(delivery.created_at) > self._services.retry.max_age:
                _give_up(delivery, "expired: more than a day old before it could be sent")
            else:
                attempt(self._services, delivery, sub, now=now)
            session.add(delivery)
            session.commit()
            if delivery.status == DeliveryStatus.SENT:
                result.sent.append(delivery_id)
            elif delivery.status == DeliveryStatus.FAILED:
                result.failed.append(delivery_id)
            else:
                result.gave_up.append(delivery_id)
                logger.warning(
                    "notification %d gave up after %d tries: %s",
                    delivery_id,
                    delivery.attempts,
                    delivery.last_error,
                )
