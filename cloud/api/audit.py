"""Every call an integration token makes is logged: the union can see what its platform did.

A pure ASGI middleware: it learns the principal the route's dependencies found (stored on
``request.state`` by ``cloud.api.auth_deps``) and, once the answer's status is known, adds
one ``IntegrationCall`` row. A failure to log is itself logged; the call's answer stands.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.auth.models import IntegrationCall
from cloud.auth.principal import Principal, Role
from cloud.core.time import Clock

logger = logging.getLogger(__name__)
_PATH_CHARS = 200


class IntegrationAudit:
    def __init__(self, app: ASGIApp, *, engine: Engine, clock: Clock) -> None:
        self._app = app
        self._engine = engine
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
            if (
                isinstance(principal, Principal)
                and principal is not None
                and principal.role is Role.INTEGRATION
            ):
                self._log(principal, scope, status)

    def _log(self, principal: Principal, scope: Scope, status: int) -> None:
        call = IntegrationCall(
            token_id=principal.token_id or "?",
            method=str(scope.get("method", "?"))[:8],
            path=str(scope.get("path", "?"))[:_PATH_CHARS],
            status=status,
            at=self._clock(),
        )
        try:
            with Session(self._engine) as session:
                session.add(call)
                session.commit()
        except Exception:
            logger.exception("could not log integration call %s %s", call.method, call.path)
