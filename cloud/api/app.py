"""Composition root of the HTTP side: builds the FastAPI app from settings and an engine."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import Engine

from cloud.api.deps import require_api_token
from cloud.api.errors import ErrorResponse, install_error_handlers
from cloud.api.routes import (
    access_events,
    aggregates,
    alerts,
    auth,
    devices,
    docking,
    health,
    metrics,
    sync,
    telemetry,
    venues,
)
from cloud.api.state import ApiState, Clock
from cloud.settings import CloudSettings

API_PREFIX = "/api/v1"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _api_v1_router() -> APIRouter:
    router = APIRouter(
        prefix=API_PREFIX,
        dependencies=[Depends(require_api_token)],
        responses={401: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
    )
    router.include_router(venues.router)
    router.include_router(telemetry.router)
    router.include_router(sync.router)
    for extra in (auth, devices, access_events, aggregates, docking, alerts):
        router.include_router(extra.router)
    return router


def create_app(*, settings: CloudSettings, engine: Engine, clock: Clock = _utc_now) -> FastAPI:
    """The cloud's read API on ``engine``; the caller owns the engine and disposes it.

    Raises InsecureSettingsError in production without an API token. In development without
    one the /api/v1 routes are open to anyone who can reach the port.
    """
    api_token = settings.require_api_token()
    app = FastAPI(title="yizhan cloud", version="1")
    app.state.api = ApiState(engine=engine, api_token=api_token, clock=clock)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(_api_v1_router())
    return app
