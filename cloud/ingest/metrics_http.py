"""A tiny HTTP server for ``/metrics`` of a process that has no API (``yizhan cloud ingest``)."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cloud.ingest.metrics import CONTENT_TYPE, MetricsRegistry

logger = logging.getLogger(__name__)


class MetricsServer:
    """Serves ``registry`` at ``GET /metrics`` on ``host:port`` from a daemon thread."""

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

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(registry: MetricsRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404, "only /metrics is served here")
                return
            body = registry.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            logger.debug("metrics: " + format, *args)  # noqa: G003

    return Handler
