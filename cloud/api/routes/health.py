"""``GET /healthz``: the process answers, its database answers ``SELECT 1``, and an ingest
worker running in the same process (the demo) is well."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cloud.api.deps import EngineDep
from cloud.api.errors import ApiError, ErrorResponse
from cloud.api.schemas import HealthPublic
from cloud.ingest.metrics import MetricsRegistry

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    responses={
        503: {
            "model": ErrorResponse,
            "description": "The database does not answer, or this process's ingest is failing",
        }
    },
)
def healthz(engine: EngineDep, request: Request) -> HealthPublic:
    """Open without a token, so load balancers and uptime checks can call it."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning("health check: database does not answer: %s", exc)
        raise ApiError(
            503,
            code="database_unavailable",
            message=f"the database does not answer ({type(exc).__name__}); check that it is "
            "running and that YZ_CLOUD_DATABASE_URL points at it",
        ) from exc
    _check_ingest(request)
    return HealthPublic(status="ok", database="ok")


def _check_ingest(request: Request) -> None:
    """503 when an ingest worker registered in this process (see install_metrics) fails."""
    registry = getattr(request.app.state, "metrics", None)
    if not isinstance(registry, MetricsRegistry):
        return
    failing = [r for r in registry.health() if not r.ok]
    if failing:
        problems = "; ".join(str(r.problem) for r in failing)
        logger.warning("health check: %s", problems)
        raise ApiError(
            503,
            code="ingest_unhealthy",
            message=problems,
            details=[r.as_json() for r in failing],
        )
