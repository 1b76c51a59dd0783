"""How ingest writes a batch the database refuses: it waits while the database is down, and
when a message's content is the cause it writes the batch one message at a time, so one
poison message never stalls ingest for every device. No threads, no sleeping: the caller
says how to write and how to wait."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from sqlalchemy.exc import OperationalError

from cloud.ingest.inbound import Inbound, classify, unclassifiable, unstorable
from cloud.ingest.store import WriteResult

logger = logging.getLogger(__name__)

Write = Callable[[Sequence[Inbound]], WriteResult]


class Failed(Protocol):
    """Told of each failed write: ``count`` messages failed with ``exc``. With ``wait``, it
    waits before the retry and returns False to give up instead (the worker is stopping);
    without, its answer is not asked for."""

    def __call__(self, exc: Exception, count: int, *, wait: bool = True) -> bool: ...


def classify_alone(mid: int, topic: str, payload: bytes) -> Inbound:
    """Decode one message; a codec bug refuses that message alone instead of the batch."""
    try:
        return classify(mid, topic, payload)
    except Exception as exc:  # classify never raises; if it ever does, the message is
        # refused alone instead of taking the writer down with it
        logger.exception("could not classify a message on %.300s", topic)
        return unclassifiable(mid, topic, payload, exc)


class Isolation:
    """Writes batches so that only the message the database refuses is refused."""

    def __init__(self, write: Write, *, failed: Failed) -> None:
        self._store_write = write
        self._failed = failed

    def write(self, inbound: list[Inbound]) -> WriteResult | None:
        """Write a batch; if it fails, find the message that cannot be stored.

        A database that is down is waited for. A message the store refuses for its content
        (a value PostgreSQL will not take, a number SQLite cannot bind, a bug meeting an
        input nobody thought of) is stored as a rejection instead. None: given up (stopping
        with the database down), nothing may be acked.
        """
        while True:
            try:
                return self._store_write(inbound)
            except OperationalError as exc:  # down, restarting, unreachable: wait for it
                if not self._failed(exc, len(inbound)):
                    return None
            except Exception as exc:  # noqa: BLE001 - content: find the message causing it
                self._failed(exc, len(inbound), wait=False)
                return self._one_by_one(inbound)

    def _one_by_one(self, inbound: list[Inbound]) -> WriteResult | None:
        total = WriteResult()
        for message in inbound:
            part = self._single(message)
            if part is None:
                return None
            total.merge(part)
        return total

    def _single(self, message: Inbound) -> WriteResult | None:
        attempt = message
        while True:
            try:
                return self._store_write([attempt])
            except OperationalError as exc:
                if not self._failed(exc, 1):
                    return None
            except Exception as exc:
                self._failed(exc, 1, wait=False)
                if attempt is not message:
                    # Not even its rejection can be stored: acked and dropped, so it cannot
                    # come back after every restart. Logged with the traceback for a person.
                    logger.exception("dropped a message whose rejection cannot be stored")
                    return WriteResult(rejected=1)
                attempt = unstorable(message, exc)
