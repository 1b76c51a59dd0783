"""Refuse request bodies past a size limit before anything reads them (pure ASGI middleware).

FastAPI reads and parses a route's body before it runs the route's dependencies, so without
this an unauthenticated caller could make a replica buffer any amount of JSON before the
answer was 401 (issue 15: 100 MB took a replica from 153 to 430 MB). nginx refuses bodies
past ``client_max_body_size`` too (ops/site/proxy.py); this guards a replica that
is reached without it, and bodies sent in chunks, whose size nobody knows in advance.
"""

from __future__ import annotations

import logging
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.api.errors import error_response

logger = logging.getLogger(__name__)

# The largest requests are JSON and form posts (a config push, a product list, a sign-in) of
# a few KiB; nginx's client_max_body_size is the same 1 MiB.
DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
# Paths that take a file upload, and how much: a union's roster (300,000 members are ~20 MB
# of CSV). Only the route's own principal check stands behind it, so the upload is spooled
# to disk by the form parser, never held whole before the route has said who may.
UPLOADS: Final[dict[str, int]] = {"/api/v1/members/import": 200 * 1024 * 1024}
# Paths under these prefixes take uploads too: a release's wheels, streamed by their route
# to a spool file (cloud/api/routes/releases.py), 512 MiB at most as a manifest allows.
UPLOAD_PREFIXES: Final[dict[str, int]] = {"/api/v1/releases/blobs/": 512 * 1024 * 1024}


class _BodyTooLargeError(Exception):
    """Raised out of ``receive`` to stop the app reading; never leaves the middleware."""


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed one before we are called
    return None


async def refuse(scope: Scope, receive: Receive, send: Send, *, max_bytes: int) -> None:
    """Answer 413 in the API's error shape."""
    logger.info(
        "refused a body past %d bytes on %s %.120s", max_bytes, scope["method"], scope["path"]
    )
    response = error_response(
        413,
        code="body_too_large",
        message=f"the request body is larger than the {max_bytes // 1024} KiB this API "
        "accepts; send less at a time",
        # The rest of the body is never read: the connection cannot carry another request.
        headers={"Connection": "close"},
    )
    await response(scope, receive, send)


class BodyLimit:
    """Answers 413 to a body past ``max_bytes``: at once when Content-Length says so, else as
    soon as the chunks read so far pass it. Install it outermost (``add_middleware`` last)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int = DEFAULT_MAX_BODY_BYTES,
        uploads: dict[str, int] | None = None,
    ) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be 0 or more, not {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = dict(UPLOADS if uploads is None else uploads)

    def limit_of(self, scope: Scope) -> int:
        """The largest body ``scope``'s path takes: an upload path's own, else the default."""
        path = scope.get("path", "")
        prefixed = [n for prefix, n in UPLOAD_PREFIXES.items() if path.startswith(prefix)]
        return max(self.max_bytes, self.uploads.get(path, 0), *prefixed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await refuse(scope, receive, send, max_bytes=limit)
            return
        await _LimitedRequest(self.app, limit, scope, receive, send).run()


class _LimitedRequest:
    """One request whose body size is not known up front: counted as the app reads it."""

    def __init__(
        self, app: ASGIApp, limit: int, scope: Scope, receive: Receive, send: Send
    ) -> None:
        self._app, self._limit = app, limit
        self._scope, self._receive, self._send = scope, receive, send
        self._received = 0
        self._started = False  # the app has begun its answer: too late for a 413
        self._answered = False  # we answered 413: whatever the app sends now is dropped

    async def run(self) -> None:
        try:
            await self._app(self._scope, self._receive_counted, self._send_unless_answered)
        except _BodyTooLargeError:
            # The app let the stop propagate (most turn it into their own 400 instead, which
            # _send_unless_answered drops).
            if not self._answered:
                raise

    async def _receive_counted(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limit:
                if not self._started and not self._answered:
                    self._answered = True
                    await refuse(self._scope, self._receive, self._send, max_bytes=self._limit)
                raise _BodyTooLargeError
        return message

    async def _send_unless_answered(self, message: Message) -> None:
        if self._answered:
            return
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)
