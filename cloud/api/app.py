"""Composition root of the HTTP side: builds the FastAPI app from settings and an engine."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import Engine
from starlette.middleware.gzip import GZipMiddleware

from cloud.access.issuer import load_existing as load_issuer_key
from cloud.api.audit import CallLog, IntegrationAudit
from cloud.api.auth_deps import current_principal
from cloud.api.body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimit
from cloud.api.errors import ErrorResponse, install_error_handlers
from cloud.api.routes import (
    access_events,
    aggregates,
    alerts,
    auth,
    bookings,
    catalog,
    device_actions,
    devices,
    docking,
    health,
    issuer_keys,
    members,
    metrics,
    notify,
    points,
    releases,
    reports,
    rollouts,
    sync,
    telemetry,
    venues,
    walkins,
)
from cloud.api.state import ApiState
from cloud.auth.throttle import LoginGuard
from cloud.auth.tokens import AuthKeys
from cloud.core.time import Clock, utc_now
from cloud.devices.control import DeviceControl
from cloud.devices.services import device_services
from cloud.notify.services import notify_services
from cloud.releases.services import release_services
from cloud.settings import CloudSettings, InsecureSettingsError
from cloud.sms.sender import SmsError, SmsSender
from cloud.sms.settings import build_sender, production_weakness
from cloud.web.app import install_web
from cloud.web.worker import WorkerState, install_worker_app
from cloud.worker.identity import WorkerKeys

API_PREFIX = "/api/v1"
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
}


@cache
def _api_v1_router() -> APIRouter:
    """Every /api/v1 route needs a principal, except logging in to get one.

    Built once per process: the routes hold no state of an app's (they find it on
    ``request.app.state``), and FastAPI rebuilds every route's dependants and models on each
    include, which was half a second per app (test suites make a thousand apps).
    """
    public = APIRouter(prefix=API_PREFIX, responses=_ERRORS)
    public.include_router(auth.login_router)
    guarded = APIRouter(
        prefix=API_PREFIX,
        dependencies=[Depends(current_principal)],
        responses={**_ERRORS, 403: {"model": ErrorResponse}},
    )
    for module in (
        venues,
        telemetry,
        sync,
        auth,
        devices,
        device_actions,
        issuer_keys,
        access_events,
        aggregates,
        docking,
        alerts,
        points,
        catalog,
        members,
        bookings,
        walkins,
        releases,
        rollouts,
        notify,
        reports,
    ):
        guarded.include_router(module.router)
    router = APIRouter()
    router.include_router(public)
    router.include_router(guarded)
    return router


def _lifespan(control: DeviceControl | None, calls: CallLog) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if control is not None:
            control.start()
        try:
            yield
        finally:
            await app.state.web.live.stop()
            if control is not None:
                control.stop()
            calls.close()

    return lifespan


logger = logging.getLogger(__name__)


class _ClosedSender:
    """Production without an SMS provider: the worker app finds stations, signs nobody in."""

    def send_code(self, phone: str, code: str) -> None:  # noqa: ARG002
        raise SmsError(
            "provider_refused",
            "no SMS provider is configured; set YZ_CLOUD_SMS__PROVIDER (docs/sms.md)",
        )


def _worker_state(settings: CloudSettings, auth: AuthKeys) -> WorkerState:
    if settings.mode == "production" and production_weakness(settings.sms) is not None:
        logger.warning("no SMS provider configured: the worker app cannot sign anyone in")
        sender: SmsSender = _ClosedSender()
    else:
        sender = build_sender(settings.sms, on_code=_print_code)
    return WorkerState(WorkerKeys.derive(auth.pseudonym_key), sender, settings.worker)


def _print_code(phone: str, code: str) -> None:
    # The development sender's console: the demo's reader signs in with what it prints.
    print(f"[sms] code {code} for phone ending {phone[-4:]}", flush=True)  # noqa: T201


def create_app(
    *,
    settings: CloudSettings,
    engine: Engine,
    clock: Clock = utc_now,
    control: DeviceControl | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    login_guard: LoginGuard | None = None,
) -> FastAPI:
    """The cloud's API on ``engine``; the caller owns the engine and disposes it.

    ``control`` (cloud.service.build_api makes one) runs while the app runs: it publishes
    what the device routes store. Without it the routes still store commands and configs
    (another process's control publishes them) and claims use an open broker's no-op admin.

    A request body past ``max_body_bytes`` is refused (413) before any route reads it.
    ``login_guard`` (tests pass one on their own clock) throttles both login routes; by
    default one is made from ``settings.auth.login``.

    Raises InsecureSettingsError for production settings without a JWT secret (settings
    built by CloudSettings refuse that already; this guards ones built with model_construct).
    """
    if settings.mode == "production" and settings.auth.jwt_secret is None:
        raise InsecureSettingsError(
            "mode=production needs YZ_CLOUD_AUTH__JWT_SECRET; refusing to start without it"
        )
    calls = CallLog(engine)
    app = FastAPI(title="yizhan cloud", version="1", lifespan=_lifespan(control, calls))
    web = settings.web
    issuer = None if web.issuer_key_file is None else load_issuer_key(web.issuer_key_file)
    app.state.api = ApiState(
        engine=engine,
        auth=AuthKeys.from_settings(settings),
        clock=clock,
        devices=device_services(settings, control=control),
        issuer=issuer,
    )
    app.state.login_guard = login_guard or LoginGuard(settings.auth.login)
    app.state.releases = release_services(settings.releases, data_dir=settings.data_dir)
    app.state.notify = notify_services(settings)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(_api_v1_router())
    install_web(
        app,
        engine=engine,
        clock=clock,
        secure_cookies=settings.mode == "production" or web.secure_cookies,
        issuer=issuer,
        quiet_hour=settings.jobs.occupancy_quiet_hour,
        live_interval_s=web.live_interval_s,
        session_minutes=round(web.session_hours * 60),
    )
    install_worker_app(app, _worker_state(settings, app.state.api.auth))
    app.add_middleware(IntegrationAudit, log=calls, clock=clock)
    # Pages, JSON and CSV gzipped for whoever accepts it (a phone on a prepaid plan reloads the
    # station list every half minute); the live feed's event stream is never buffered by it,
    # and release wheels (zip files already) are sent as they are, with their exact length.
    app.add_middleware(
        GZipMiddleware,
        minimum_size=1000,
        exclude_content_types=("text/event-stream", "application/octet-stream"),
    )
    # Added last, so outermost: it wraps authentication and every body read (issue 15).
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app
