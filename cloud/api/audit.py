"""Every call an integration token makes is logged: the union can see what its platform did.

A pure ASGI middleware learns the principal the route's dependencies found (stored on
``request.state`` by ``cloud.api.auth_deps``) and, once the answer's status is known, hands
one ``IntegrationCall`` to :class:`CallLog`. The log writes in its own thread, many rows per
transaction, so the event loop never waits on the database and a busy platform costs one
insert per batch, not per call. The app's lifespan closes the log, writing what is queued.
A failure to write is logged; the calls' answers stand.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Final

from sqlalchemy import Engine, insert
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.auth.models import IntegrationCall
from cloud.auth.principal import Principal, Role
from cloud.core.db import table_of
from cloud.core.time import Clock

logger = logging.getLogger(__name__)
_PATH_CHARS: Final = 200
_BATCH: Final = 500  # rows per transaction at most
_LINGER_S: Final = 0.2  # how long a row waits for company before it is written
_MAX_QUEUED: Final = 100_000  # past this (a database that stopped answering) calls go unlogged


class CallLog:
    """A queue of integration calls and the thread that writes them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=_MAX_QUEUED)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0

    def add(self, row: dict[str, Any]) -> None:
        self._start()
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self.dropped += 1
            full = self.dropped % 1000 == 1
        else:
            full = False
        if full:
            logger.error("integration call log is full; %d calls not logged", self.dropped)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._write_until_closed, name="integration-call-log", daemon=True
                )
                self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _write_until_closed(self) -> None:
        closing = False
        while not closing:
            first = self._queue.get()
            rows: list[dict[str, Any]] = []
            if first is None:
                closing = True
            else:
                rows.append(first)
            while not closing and len(rows) < _BATCH:
                try:
                    row = self._queue.get(timeout=_LINGER_S)
                except queue.Empty:
                    break
                if row is None:
                    closing = True
                else:
                    rows.append(row)
            while closing and not self._queue.empty() and len(rows) < _BATCH * 10:
                row = self._queue.get_nowait()
                if row is not None:
                    rows.append(row)
            self._write(rows)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            with Session(self._engine) as session:
                session.exec(insert(table_of(IntegrationCall)), params=rows)
                session.commit()
        except Exception:
            logger.exception("could not log %d integration calls", len(rows))


class IntegrationAudit:
    def __init__(self, app: ASGIApp, *, log: CallLog, clock: Clock) -> None:
        self._app = app
        self._log = log
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 500
        # The dependencies write request.state into this dict; keep it to read after.
        state: dict[str, Any] = scope.setdefault("state", {})

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, remember_status)
        finally:
            principal = state.get("principal")
            if isinstance(principal, Principal) and principal.role is Role.INTEGRATION:
                self._log.add(
                    {
                        "token_id": principal.token_id or "?",
                        "method": str(scope.get("method", "?"))[:8],
                        "path": str(scope.get("path", "?"))[:_PATH_CHARS],
                        "status": status,
                        "at": self._clock(),
                    }
                )
