"""The production stack without Docker: compose.yaml's services as host processes.

`yizhan deploy cloud` renders a site for host paths and free ports; then real Mosquitto,
PostgreSQL, nginx and `yizhan` processes run the commands compose.yaml gives them, with that
site's files and its .env as their environment. Everything is checked from outside, the way
a person and a box see the stack: HTTPS through the proxy, MQTT over the broker's TLS.
"""

from __future__ import annotations

import re
import secrets
import ssl
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from cloud.core.db import make_engine
from cloud.devices.broker_admin import DynsecAdmin
from edge.clock import utc_now
from edge.outbox import Outbox
from edge.uplink import BrokerEndpoint, SendPolicy, Uplink
from ops.broker.probe import Login, Probe
from ops.site.build import HostName, SiteFiles, SiteOptions, write_site
from ops.site.env_file import read_env_file
from tests.deploy.compose import container_env
from tests.deploy.host_stack import (
    Ports,
    Services,
    accepts,
    broker_argv,
    find_nginx,
    host_layout,
    proxy_argv,
    service_env,
    upstreams_used,
    with_value,
    yizhan_argv,
)
from tests.e2e.conftest import Edge
from tests.fixtures import missing_service
from tests.fixtures.secure_broker import require_secure_mosquitto

pytestmark = [pytest.mark.mosquitto, pytest.mark.postgres]

# Shared, slow machines: generous deadlines, never sleeps.
TIMEOUT = 90.0
HOST = "localhost"  # the dashboard's and the broker's name; both certificates carry it
ADMIN = "admin"
PASSWORD = secrets.token_urlsafe(16)
VENUE, DEVICE = "v1", "stack-dev-1"


@dataclass(frozen=True, slots=True)
class Stack:
    site: SiteFiles
    ports: Ports
    env: dict[str, str]
    services: Services
    work: Path
    database_url: str

    def https(self) -> httpx.Client:
        """A client that trusts the proxy's generated CA, as a browser told to would."""
        trust = ssl.create_default_context(cafile=str(self.site.proxy_ca))
        return httpx.Client(
            base_url=f"https://{HOST}:{self.ports.https}", verify=trust, timeout=TIMEOUT
        )

    def ingest_metric(self, worker: int, name: str) -> float:
        body = httpx.get(f"http://127.0.0.1:{self.ports.metrics[worker]}/metrics").text
        found = re.search(rf"^{name} (\S+)$", body, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    def mqtt_login(self, username: str | None, password: str | None, client_id: str) -> Probe:
        return Probe(
            Login(
                host=HOST,
                port=self.ports.mqtt_tls,
                username=username,
                password=password,
                ca_file=self.site.broker_ca,
                client_id=client_id,
            )
        )


def _require_nginx() -> Path:
    nginx = find_nginx()
    if nginx is None:
        missing_service("nginx is not installed (apt-get install nginx)")
    return nginx


def _start(services: Services, site: SiteFiles, work: Path, ports: Ports, nginx: Path) -> None:
    """Start what compose would, in its order: broker, migrate, users, replicas, proxy.

    Each yizhan service gets the environment compose would give its container: the site's
    .env with the secrets it does not use blanked (compose.yaml's ``environment:``).
    """
    site_env = read_env_file(site.env)

    def env(service: str) -> dict[str, str]:
        return service_env(container_env(site_env, service))

    services.start("mosquitto", broker_argv(site.root))
    services.wait(lambda: accepts(ports.mqtt_tls), timeout=TIMEOUT, message="no broker")
    services.run("migrate", yizhan_argv("migrate"), env=env("migrate"))
    # `docker compose run --rm migrate yizhan cloud user add …`: the database alone.
    add_admin = ["cloud", "user", "add", ADMIN, "--role", "admin", "--password-stdin"]
    argv = [sys.executable, "-m", "yizhan", *add_admin]
    services.run("user-add", argv, stdin=f"{PASSWORD}\n", env=env("migrate"))
    for number, port in enumerate(ports.api, start=1):
        argv = with_value(yizhan_argv("api"), "--host", "127.0.0.1")
        services.start(f"api-{number}", with_value(argv, "--port", str(port)), env=env("api"))
    for number, port in enumerate(ports.metrics, start=1):
        # compose's --client-id-from-hostname would give both host processes one id.
        argv = yizhan_argv("ingest")
        at = argv.index("--client-id-from-hostname")
        argv[at : at + 1] = ["--client-id", f"yz-ingest-{number}"]
        argv = with_value(argv, "--metrics-port", str(port))
        services.start(f"ingest-{number}", argv, env=env("ingest"))
    (work / "nginx-temp").mkdir(parents=True, exist_ok=True)
    services.start("proxy", proxy_argv(site.root, work, nginx))


@pytest.fixture
def stack(tmp_path: Path, pg_url: str) -> Iterator[Stack]:
    require_secure_mosquitto()
    nginx = _require_nginx()
    ports = Ports.free()
    work = tmp_path / "work"
    layout = host_layout(tmp_path / "site", work, ports, database_url=pg_url)
    options = SiteOptions(domain=HostName(HOST), broker_host=HostName(HOST))
    site = write_site(tmp_path / "site", options, layout=layout)
    env = read_env_file(site.env)
    services = Services(work / "logs", service_env(env))
    try:
        _start(services, site, work, ports, nginx)
        for port in ports.api:
            services.wait(
                partial(_healthy, f"http://127.0.0.1:{port}"),
                timeout=TIMEOUT,
                message=f"the API replica on {port} never answered /healthz",
            )
        running = Stack(site, ports, env, services, work, pg_url)
        for worker in range(2):
            services.wait(
                partial(running.ingest_metric, worker, "yizhan_ingest_connected"),
                timeout=TIMEOUT,
                message=f"ingest worker {worker + 1} never connected to the broker",
            )
        services.wait(lambda: accepts(ports.https), timeout=TIMEOUT, message="no proxy")
        yield running
    finally:
        services.stop_all()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _proxy_spreads_requests_over_both_replicas(stack: Stack) -> None:
    with stack.https() as client:
        for _ in range(4):
            answer = client.get("/healthz")
            assert answer.status_code == 200
            assert answer.json()["status"] == "ok"
            assert answer.headers["strict-transport-security"] == "max-age=31536000"
        assert client.get("/metrics").status_code == 404  # for the private network only
    replicas = {f"127.0.0.1:{port}" for port in stack.ports.api}
    stack.services.wait(
        lambda: upstreams_used(stack.work / "nginx-access.log") >= replicas,
        timeout=TIMEOUT,
        message="nginx did not send requests to both API replicas",
    )


def _plain_http_redirects_to_https(stack: Stack) -> None:
    answer = httpx.get(f"http://{HOST}:{stack.ports.http}/healthz?x=1", timeout=TIMEOUT)
    assert answer.status_code == 301
    assert answer.headers["location"] == f"https://{HOST}:{stack.ports.https}/healthz?x=1"


def _signed_in_dashboard_and_live_stream(stack: Stack) -> None:
    with stack.https() as client:
        signed_in = client.post("/login", data={"username": ADMIN, "password": PASSWORD})
        assert signed_in.status_code == 303, signed_in.text
        assert "secure" in signed_in.headers["set-cookie"].lower()
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers.get_list("x-frame-options") == ["DENY"]  # once, not twice
        assert "content-security-policy" in page.headers  # the app's own
        # uvicorn believed the proxy's X-Forwarded-Proto: the app's absolute redirect is https.
        slash = client.get("/api/v1/venues/")
        assert slash.headers["location"] == f"https://{HOST}:{stack.ports.https}/api/v1/venues"
        with client.stream("GET", "/live") as live:
            assert live.status_code == 200
            assert live.headers["content-type"].startswith("text/event-stream")
            # The first event arrives at once: a buffering proxy would hold it.
            assert next(live.iter_lines()).startswith("retry:")


def _broker_refuses_anonymous_and_admits_its_accounts(stack: Stack) -> None:
    anonymous = stack.mqtt_login(None, None, "stack-anonymous")
    try:
        assert anonymous.connect().is_failure
    finally:
        anonymous.close()
    provision = tomllib.loads(stack.site.provision.read_text())["provision"]
    assert provision["mqtt_port"] == stack.ports.mqtt_tls
    box = stack.mqtt_login(provision["username"], provision["password"], "stack-new-box")
    try:
        assert not box.connect().is_failure
    finally:
        box.close()


def _new_device(stack: Stack, tmp_path: Path) -> Edge:
    """A device account made as a claim makes it, and a box's outbox and uplink over TLS."""
    password = secrets.token_urlsafe(24)
    admin = DynsecAdmin(
        host=HOST,
        port=stack.ports.mqtt_tls,
        username=stack.env["YZ_CLOUD_BROKER__CONTROL_USERNAME"],
        password=stack.env["YZ_CLOUD_BROKER__CONTROL_PASSWORD"],
        ca_file=stack.site.broker_ca,
    )
    try:
        admin.add_device(
            username=DEVICE, password=password, venue=VENUE, device=DEVICE, client_id=f"yz-{DEVICE}"
        )
    finally:
        admin.close()
    path = tmp_path / "box" / f"{DEVICE}-outbox.db"
    outbox = Outbox(path, clock=utc_now)
    endpoint = BrokerEndpoint(
        HOST,
        stack.ports.mqtt_tls,
        username=DEVICE,
        password=password,
        tls=True,
        ca_file=stack.site.broker_ca,
    )
    # Small batches make many messages for the group to share; a quick resend covers
    # messages published before both workers had subscribed.
    policy = SendPolicy(batch_size=10, resend_after=timedelta(seconds=2))
    uplink = Uplink(
        outbox, venue=VENUE, device=DEVICE, endpoint=endpoint, clock=utc_now, policy=policy
    )
    uplink.start()
    return Edge(DEVICE, path, outbox, uplink)


def _telemetry_is_stored_once_by_the_two_workers(stack: Stack, tmp_path: Path) -> None:
    device = _new_device(stack, tmp_path)
    try:

        def both_workers_stored() -> bool:
            if all(stack.ingest_metric(w, "yizhan_ingest_stored_total") > 0 for w in range(2)):
                return True
            device.append_readings(10, chunk=10)
            return False

        stack.services.wait(
            both_workers_stored,
            timeout=TIMEOUT,
            message="the shared subscription never gave both ingest workers readings",
        )
        stack.services.wait(
            lambda: device.outbox.stats().depth == 0,
            timeout=TIMEOUT,
            message="the device's outbox never drained: the cloud did not confirm everything",
        )
        issued = device.issued()
    finally:
        device.uplink.stop()
        device.outbox.close()
    engine = make_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT seq FROM reading WHERE device_id = :d ORDER BY seq"), {"d": DEVICE}
            )
            stored = [int(seq) for seq in rows.scalars()]
    finally:
        engine.dispose()
    assert stored == issued  # every reading, each exactly once


@pytest.mark.slow
def test_the_generated_stack_serves_people_and_boxes(stack: Stack, tmp_path: Path) -> None:
    _proxy_spreads_requests_over_both_replicas(stack)
    _plain_http_redirects_to_https(stack)
    _signed_in_dashboard_and_live_stream(stack)
    _broker_refuses_anonymous_and_admits_its_accounts(stack)
    _telemetry_is_stored_once_by_the_two_workers(stack, tmp_path)
    stack.services.check_alive()
