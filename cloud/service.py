"""Composition root for cloud processes: the database, the ingest worker, the HTTP API and
the device control that lives in it."""

from __future__ import annotations

import threading
from typing import Final

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from cloud.aggregates.jobs import aggregate_jobs
from cloud.alerts.jobs import alert_jobs
from cloud.alerts.webhook import make_webhook_job
from cloud.api.app import create_app
from cloud.bookings.jobs import bookings_jobs
from cloud.core.db import make_engine
from cloud.core.mqtt import lasting_client_id
from cloud.core.time import Clock, utc_now
from cloud.devices.broker_admin import BrokerAdmin, DynsecAdmin, OpenBrokerAdmin
from cloud.devices.control import ControlEndpoint, DeviceControl
from cloud.ingest.metrics import IngestStats, MetricsRegistry
from cloud.ingest.metrics_http import MetricsServer
from cloud.ingest.store import IngestStore
from cloud.ingest.worker import IngestWorker, MqttEndpoint
from cloud.jobs.job import Job
from cloud.jobs.scheduler import JobScheduler
from cloud.maintenance.jobs import maintenance_jobs
from cloud.migrate import upgrade
from cloud.notify.jobs import notify_jobs
from cloud.points.jobs import points_jobs
from cloud.releases.jobs import release_jobs
from cloud.reports.jobs import report_jobs
from cloud.settings import CloudSettings
from cloud.worker.jobs import worker_jobs

# How often run_ingest looks at its stop event; see there why it does not simply block.
_STOP_POLL_S: Final = 1.0


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


def serve_metrics(worker: IngestWorker, *, port: int) -> MetricsServer:
    """Prometheus /metrics and /healthz of ``worker`` on 127.0.0.1:``port``, started."""
    registry = MetricsRegistry()
    registry.add(worker.metrics)
    server = MetricsServer(registry, port=port)
    server.start()
    return server


def run_ingest(
    settings: CloudSettings,
    engine: Engine,
    *,
    stop: threading.Event,
    group: str | None = None,
    metrics_port: int | None = None,
) -> IngestStats:
    """Store device messages until ``stop`` is set, with this process's share of the jobs
    and, given ``metrics_port``, the metrics server; the worker's stats at the end.

    Whatever happens in between, the parts stop in this order: the jobs (another process
    takes the leadership at once), the worker (it writes what is queued), then the metrics
    server (so /healthz still answers while the worker drains).
    """
    worker = build_ingest(settings, engine, group=group)
    worker.start()
    jobs: JobScheduler | None = None
    metrics: MetricsServer | None = None
    try:
        jobs = start_cloud_jobs(settings, engine)
        if metrics_port is not None:
            metrics = serve_metrics(worker, port=metrics_port)
        # Wake now and then rather than block: Python runs a signal handler (which may be
        # what sets ``stop``) only on the main thread, and only between waits.
        while not stop.wait(_STOP_POLL_S):
            pass
    finally:
        _stop_ingest(jobs, worker, metrics)
    return worker.stats


def _stop_ingest(
    jobs: JobScheduler | None, worker: IngestWorker, metrics: MetricsServer | None
) -> None:
    try:
        if jobs is not None:
            jobs.stop()
    finally:
        try:
            worker.stop()
        finally:
            if metrics is not None:
                metrics.close()


def cloud_jobs(settings: CloudSettings, engine: Engine, *, clock: Clock = utc_now) -> list[Job]:
    """Every domain's scheduled jobs: aggregates, maintenance, alerts, points, bookings, the
    worker app's sign-in retention, and the release rollouts."""
    jobs = settings.jobs
    return [
        *aggregate_jobs(engine, jobs, clock=clock),
        *maintenance_jobs(engine, jobs, clock=clock),
        *alert_jobs(
            engine,
            every_s=jobs.alert_interval_s,
            webhook=make_webhook_job(settings),
            clock=clock,
            quiet_hour=jobs.occupancy_quiet_hour,
        ),
        *points_jobs(engine, every_s=jobs.points_interval_s, clock=clock),
        *bookings_jobs(engine, every_s=jobs.points_interval_s, clock=clock),
        *worker_jobs(engine, clock=clock),
        *release_jobs(engine, settings.releases, clock=clock),
        *notify_jobs(settings, engine, clock=clock),
        *report_jobs(settings, engine, clock=clock),
    ]


def start_cloud_jobs(settings: CloudSettings, engine: Engine) -> JobScheduler | None:
    """Rollups, retention, offline detection, alerts, webhooks and points in this process.

    Every cloud process calls this; a database lock lets exactly one of them (the
    leader) do the work. Returns None when jobs are disabled in the settings. Call
    ``.stop()`` on shutdown so another process takes over at once.
    """
    if not settings.jobs.enabled:
        return None
    scheduler = JobScheduler(engine, settings.jobs, jobs=cloud_jobs(settings, engine))
    scheduler.start()
    return scheduler


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
