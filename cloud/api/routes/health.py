"""``GET /healthz``: the process answers and its database answers ``SELECT 1``."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cloud.api.deps import EngineDep
from cloud.api.errors import ApiError, ErrorResponse
from cloud.api.schemas import HealthPublic

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    responses={503: {"model": ErrorResponse, "description": "The database does not answer"}},
)
def healthz(engine: EngineDep) -> HealthPublic:
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
    return HealthPublic(status="ok", database="ok")
