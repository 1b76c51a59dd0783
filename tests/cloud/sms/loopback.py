"""A provider stand-in on 127.0.0.1: a real HTTP server whose answers a fake decides."""

from __future__ import annotations

import threading
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (status, JSON body) for the headers and body of one POST.
Answer = Callable[[Message, bytes], tuple[int, bytes]]


class LoopbackServer:
    """Serves POST / in a thread until ``close``; every answer comes from ``answer``."""

    def __init__(self, answer: Answer) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, reply = answer(self.headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:  # quiet: pytest shows failures
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}/"
        # shutdown() waits for the loop to look up: at the default 0.5 s that was most of
        # each test's time.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class FakeProvider:
    """What both fakes share: the keys they know, the sends they accepted, and the switches
    a test flips to make them refuse (``refusal``) or answer garbage (``raw_answer``)."""

    def __init__(self, *, keys: dict[str, str], now: Callable[[], float]) -> None:
        self.keys = keys  # key id -> secret
        self.now = now  # Unix seconds, for the staleness check
        self.sent: list[tuple[str, str]] = []  # (11-digit phone, code) of each accepted send
        self.refusal: tuple[str, str] | None = None  # (provider code, message) for the next sends
        self.raw_answer: bytes | None = None
        self._server = LoopbackServer(self._dispatch)
        self.endpoint = self._server.endpoint

    def answer(self, headers: Message, body: bytes) -> tuple[int, bytes]:
        raise NotImplementedError

    def close(self) -> None:
        self._server.close()

    def _dispatch(self, headers: Message, body: bytes) -> tuple[int, bytes]:
        if self.raw_answer is not None:
            return 200, self.raw_answer
        return self.answer(headers, body)
