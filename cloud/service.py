"""Composition root for cloud processes: the database, the ingest worker, the HTTP API and
the device control that lives in it."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from cloud.aggregates.scheduler import AlertEvaluator, JobScheduler, start_jobs
from cloud.alerts.engine import evaluate as evaluate_alerts
from cloud.alerts.webhook import make_webhook_job
from cloud.api.app import create_app
from cloud.core.time import utc_now
from cloud.db import make_engine
from cloud.devices.broker_admin import BrokerAdmin, DynsecAdmin, OpenBrokerAdmin
from cloud.devices.control import ControlEndpoint, DeviceControl
from cloud.ingest.store import IngestStore
from cloud.ingest.worker import IngestWorker, MqttEndpoint
from cloud.migrate import upgrade
from cloud.mqtt import lasting_client_id
from cloud.points.earning import award_checkins
from cloud.points.expiry import expire_points
from cloud.points.redemption import expire_job
from cloud.settings import CloudSettings


def open_database(settings: CloudSettings, *, migrate: bool = True) -> Engine:
    """The engine for the configured database, migrated to the newest schema."""
    engine = make_engine(settings.resolved_database_url())
    if migrate:
        upgrade(engine)
    return engine


def build_ingest(
    settings: CloudSettings, engine: Engine, *, group: str | None = None
) -> IngestWorker:
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    return IngestWorker(
        IngestStore(engine, clock=utc_now, bounds=settings.ingest_limits.time_bounds()),
        endpoint=MqttEndpoint(
            settings.mqtt_host,
            settings.mqtt_port,
            lasting_client_id(settings.ingest_client_id, password),
            group=group,
            username=settings.mqtt_username,
            password=password,
            ca_file=settings.mqtt_ca_file,
        ),
        batch_size=settings.ingest_batch_size,
        queue_size=settings.ingest_queue_size,
        stall_after_s=settings.ingest_limits.stall_after_s,
        clock=utc_now,
    )


def start_cloud_jobs(settings: CloudSettings, engine: Engine) -> JobScheduler | None:
    """Rollups, retention, offline detection, alerts and webhooks in this process.

    Every cloud process calls this; a database lock lets exactly one of them (the
    leader) do the work. Returns None when jobs are disabled in the settings.
    """
    # The scheduler runs these every alert interval (a minute); each is idempotent, so the
    # daily ones (points expiry) simply find nothing more to do on later runs.
    evaluators: list[AlertEvaluator] = [
        evaluate_alerts,
        expire_job,
        award_checkins,
        expire_points,
    ]
    webhook = make_webhook_job(settings)
    if webhook is not None:
        evaluators.append(webhook)
    return start_jobs(engine, settings.jobs, alert_evaluators=evaluators)


def build_broker_admin(settings: CloudSettings) -> BrokerAdmin:
    """The broker's account manager: none on the anonymous development broker."""
    broker = settings.broker
    if broker.security == "open":
        return OpenBrokerAdmin()
    password = broker.control_password.get_secret_value() if broker.control_password else ""
    return DynsecAdmin(
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        username=broker.control_username,
        password=password,
        ca_file=broker.ca_file,
    )


def build_device_control(settings: CloudSettings, engine: Engine) -> DeviceControl:
    """Hellos, bundles, commands and configs; the API app starts and stops it."""
    broker = settings.broker
    open_broker = broker.security == "open"
    password = broker.control_password
    return DeviceControl(
        engine,
        admin=build_broker_admin(settings),
        endpoint=ControlEndpoint(
            settings.mqtt_host,
            settings.mqtt_port,
            # The development broker is anonymous; a control login there would be refused.
            username=None if open_broker else broker.control_username,
            password=None if open_broker or password is None else password.get_secret_value(),
            ca_file=broker.ca_file,
        ),
        clock=utc_now,
        wipe_grace=broker.wipe_grace,
    )


def build_api(settings: CloudSettings, engine: Engine) -> FastAPI:
    """The API with its device control; the control runs while the app runs (its lifespan)."""
    control = build_device_control(settings, engine)
    return create_app(settings=settings, engine=engine, clock=utc_now, control=control)


def api_server(
    app: FastAPI, *, host: str, port: int, forwarded_allow_ips: str | None = None
) -> uvicorn.Server:
    """A uvicorn server the caller runs (``.run()``) and stops (``.should_exit = True``).

    The lifespan is on: it starts and stops the app's device control. Behind a reverse
    proxy, ``forwarded_allow_ips`` names the proxy's addresses or networks, whose
    X-Forwarded-For and X-Forwarded-Proto uvicorn then believes; None leaves uvicorn's
    default (the FORWARDED_ALLOW_IPS variable, else the loopback addresses).
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    return uvicorn.Server(config)
