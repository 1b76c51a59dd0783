"""``GET /metrics``: Prometheus text of whatever this process registered (ingest, in the demo).

Mounted at the app root without the API token, like /healthz, so a Prometheus scraper
needs no secret; it exposes counters only, never data.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse

from cloud.ingest.metrics import CONTENT_TYPE, MetricsRegistry

router = APIRouter(tags=["metrics"])


def install_metrics(app: FastAPI, registry: MetricsRegistry) -> None:
    """Serve ``registry`` at /metrics of ``app`` (the composition root calls this)."""
    app.state.metrics = registry


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format; empty when nothing in this process registered metrics."""
    registry = getattr(request.app.state, "metrics", None)
    body = registry.render() if isinstance(registry, MetricsRegistry) else ""
    return PlainTextResponse(body, media_type=CONTENT_TYPE)
