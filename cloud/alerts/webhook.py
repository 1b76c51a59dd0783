"""The webhook delivery job: POST queued alert transitions, signed, with backoff and a limit.

Transitions are queued in ``webhook_delivery`` by the transaction that made them
(cloud/alerts/lifecycle.py); this job only reads that table, so evaluation never waits
on a receiver. Each POST carries:

- ``X-Yizhan-Event``: opened | acknowledged | resolved
- ``X-Yizhan-Delivery``: the delivery id, the same on every retry (drop repeats by it)
- ``X-Yizhan-Timestamp``: Unix seconds of this attempt
- ``X-Yizhan-Signature``: ``sha256=`` + hex HMAC-SHA256(secret, timestamp + "." + body);
  the timestamp is signed so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from cloud.alerts.models import WebhookDelivery
from cloud.core.time import as_utc
from cloud.settings import CloudSettings, InsecureSettingsError, api_token_weakness

logger = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Yizhan-Signature"
TIMESTAMP_HEADER: Final = "X-Yizhan-Timestamp"
DELIVERY_HEADER: Final = "X-Yizhan-Delivery"
EVENT_HEADER: Final = "X-Yizhan-Event"
_MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str
    secret: bytes = field(repr=False)
    timeout_s: float = 10.0
    backoff_base_s: float = 5.0
    backoff_max_s: float = 600.0
    max_attempts: int = 12
    max_age: timedelta = timedelta(days=1)
    batch_size: int = 100


def webhook_config(settings: CloudSettings) -> WebhookConfig | None:
    """The webhook to deliver to, or None when none is set.

    Raises InsecureSettingsError in production with a short or placeholder secret: a
    receiver that checks signatures against a guessable key trusts anyone.
    """
    alerts = settings.alerts
    if alerts.webhook_url is None or alerts.webhook_secret is None:
        return None
    secret = alerts.webhook_secret.get_secret_value()
    weakness = api_token_weakness(secret)
    if settings.mode == "production" and weakness:
        raise InsecureSettingsError(
            weakness.replace("the API token", "the alert webhook secret")
            + "; set YZ_CLOUD_ALERTS__WEBHOOK_SECRET to at least 32 random characters "
            "and give the same value to the receiver"
        )
    return WebhookConfig(
        url=alerts.webhook_url,
        secret=secret.encode(),
        timeout_s=alerts.webhook_timeout_s,
        backoff_base_s=alerts.backoff_base_s,
        backoff_max_s=alerts.backoff_max_s,
        max_attempts=alerts.max_attempts,
        max_age=timedelta(seconds=alerts.max_age_s),
        batch_size=alerts.batch_size,
    )


def sign(secret: bytes, *, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def backoff(attempts: int, *, config: WebhookConfig, rng: random.Random) -> timedelta:
    """Wait before the next try after ``attempts`` failures: doubling from the base up to the
    cap, then 50-100 % of that ("equal jitter"), so receivers that come back together are
    not hit by every sender in the same second."""
    delay = min(config.backoff_max_s, config.backoff_base_s * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=delay * rng.uniform(0.5, 1.0))


@dataclass(slots=True)
class DeliveryResult:
    delivered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    gave_up: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Due:
    id: int
    event: str
    payload: str
    attempts: int
    created_at: datetime


def _due(engine: Engine, *, now: datetime, limit: int) -> list[_Due]:
    """Deliveries due now, oldest first, each only after its alert's earlier ones are done:
    a receiver must never see "resolved" before "opened"."""
    earlier = aliased(WebhookDelivery)
    blocked = (
        select(earlier.id)
        .where(
            col(earlier.alert_id) == col(WebhookDelivery.alert_id),
            col(earlier.id) < col(WebhookDelivery.id),
            col(earlier.done).is_(False),
        )
        .exists()
    )
    query = (
        select(WebhookDelivery)
        .where(
            col(WebhookDelivery.done).is_(False),
            col(WebhookDelivery.next_attempt_at) <= now,
            ~blocked,
        )
        .order_by(col(WebhookDelivery.id))
        .limit(limit)
    )
    with Session(engine) as session:
        return [
            _Due(d.id or 0, d.event, d.payload, d.attempts, as_utc(d.created_at))
            for d in session.exec(query)
        ]


def _post(client: httpx.Client, config: WebhookConfig, due: _Due, *, now: datetime) -> str | None:
    """POST one delivery; None on a 2xx answer, else why it failed."""
    body = due.payload.encode()
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        EVENT_HEADER: due.event,
        DELIVERY_HEADER: str(due.id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(config.secret, timestamp=timestamp, body=body),
    }
    try:
        response = client.post(config.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
    if response.is_success:
        return None
    return f"HTTP {response.status_code}: {response.text[:200]}"[:_MAX_ERROR_CHARS]


class WebhookJob:
    """``job(engine, now)``: send what is due. Built once per process by the composition root;
    ``transport`` and ``rng`` are injected so tests control the network and the jitter."""

    def __init__(
        self,
        config: WebhookConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._transport = transport
        self._rng = rng or random.Random()

    def __call__(self, engine: Engine, now: datetime) -> None:
        self.run(engine, now)

    def run(self, engine: Engine, now: datetime) -> DeliveryResult:
        result = DeliveryResult()
        due = _due(engine, now=now, limit=self._config.batch_size)
        if not due:
            return result
        timeout = httpx.Timeout(self._config.timeout_s)
        with httpx.Client(timeout=timeout, transport=self._transport) as client:
            for item in due:
                if now - item.created_at > self._config.max_age:
                    error: str | None = "expired: older than alerts.max_age_s before it was sent"
                    self._record(engine, item, error=error, now=now, result=result, final=True)
                    continue
                error = _post(client, self._config, item, now=now)
                self._record(engine, item, error=error, now=now, result=result, final=False)
        return result

    def _record(
        self,
        engine: Engine,
        item: _Due,
        *,
        error: str | None,
        now: datetime,
        result: DeliveryResult,
        final: bool,
    ) -> None:
        with Session(engine) as session:
            row = session.get(WebhookDelivery, item.id)
            if row is None:
                return
            row.attempts = item.attempts + (0 if final else 1)
            row.last_error = error
            if error is None:
                row.done, row.delivered_at = True, now
                result.delivered.append(item.id)
            elif final or row.attempts >= self._config.max_attempts:
                row.done, row.gave_up_at = True, now
                result.gave_up.append(item.id)
                logger.warning(
                    "alert webhook delivery %d gave up after %d attempts: %s",
                    item.id,
                    row.attempts,
                    error,
                )
            else:
                row.next_attempt_at = now + backoff(
                    row.attempts, config=self._config, rng=self._rng
                )
                result.retrying.append(item.id)
            session.add(row)
            session.commit()


def make_webhook_job(
    settings: CloudSettings,
    *,
    transport: httpx.BaseTransport | None = None,
    rng: random.Random | None = None,
) -> WebhookJob | None:
    """The delivery job to register with the scheduler, or None when no webhook is set."""
    config = webhook_config(settings)
    return None if config is None else WebhookJob(config, transport=transport, rng=rng)
