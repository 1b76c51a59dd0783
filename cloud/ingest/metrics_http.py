"""A tiny HTTP server for ``/metrics`` and ``/healthz`` of a process without an API
(``yizhan cloud ingest``)."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cloud.ingest.metrics import CONTENT_TYPE, MetricsRegistry

logger = logging.getLogger(__name__)


class MetricsServer:
    """Serves ``registry`` at ``GET /metrics`` on ``host:port`` from a daemon thread, and
    ``GET /healthz``: 200 while every worker in it is well, else 503 saying why."""

    def __init__(self, registry: MetricsRegistry, *, host: str = "127.0.0.1", port: int) -> None:
        handler = _handler(registry)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    def start(self) -> None:
        self._thread.start()
        logger.info("metrics at http://%s:%d/metrics", *self._server.server_address[:2])
        logger.info("health at http://%s:%d/healthz", *self._server.server_address[:2])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(registry: MetricsRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE, registry.render().encode())
            elif path == "/healthz":
                reports = registry.health()
                failing = [r.problem for r in reports if r.problem is not None]
                body = {
                    "status": "failing" if failing else "ok",
                    "workers": [r.as_json() for r in reports],
                }
                if failing:
                    body["problem"] = "; ".join(failing)
                self._send(503 if failing else 200, "application/json", json.dumps(body).encode())
            else:
                self.send_error(404, "only /metrics and /healthz are served here")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            logger.debug("metrics: " + format, *args)  # noqa: G003

    return Handler
