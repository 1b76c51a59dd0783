"""A secure fleet on one machine: Mosquitto with dynamic security and TLS, the cloud, new boxes.

Shared by ``yizhan bench provision`` and the provisioning end-to-end tests. Everything is
the real thing: the broker runs the generated dynamic-security config (default deny, one
role per device), the cloud is the FastAPI app with its DeviceControl and an ingest worker
logged in with their own accounts, and a box is the real runner (``edge.runner.run_box``)
on firmware_sim hardware that starts unclaimed and says hello.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pydantic import SecretStr
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from cloud.auth import store
from cloud.auth.models import ApiTokenCreate
from cloud.auth.principal import Role
from cloud.auth.settings import AuthSettings
from cloud.devices.settings import BrokerSettings
from cloud.ingest.worker import IngestWorker
from cloud.jobs.settings import JobSettings
from cloud.models import Reading, Venue
from cloud.releases.settings import ReleaseSettings
from cloud.service import api_server, build_api, build_ingest, open_database
from cloud.settings import CloudSettings
from cloud.web.settings import WebSettings
from edge.clock import utc_now
from edge.provision.factory import load_or_create
from edge.provision.identity import Identity
from edge.runner import RunOutcome, run_box
from edge.settings import EdgeSettings
from ops.broker.probe import poll_until
from ops.broker.process import BrokerOptions, BrokerProcess, free_port
from ops.broker.security import BrokerSecurity, ServiceAccounts, TlsListener
from ops.pki import PkiFiles, init_pki
from protocol.provisioning import ClaimCode
from yizhan.cloud_client import CloudClient, CloudLogin
from yizhan.simhw import sim_hardware

VENUES: Final = {"station-07": "Xuhui riders' station", "home-03": "Minhang workers' home"}
START_TIMEOUT_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class SecureCloud:
    """What a test or the benchmark needs to reach the running fleet."""

    root: Path
    broker: BrokerProcess
    accounts: ServiceAccounts
    pki: PkiFiles
    tls_port: int
    engine: Engine
    api_url: str
    token: str  # a technician's API token
    ingest: IngestWorker

    def client(self) -> CloudClient:
        return CloudClient(CloudLogin(url=self.api_url, token=self.token))

    def readings_of(self, device: str) -> int:
        with Session(self.engine) as session:
            query = (
                select(func.count()).select_from(Reading).where(col(Reading.device_id) == device)
            )
            return int(session.execute(query).scalar_one())


def _settings(
    root: Path,
    *,
    tls_port: int,
    http_port: int,
    accounts: ServiceAccounts,
    ca: Path,
    database_url: str | None,
    web: WebSettings,
    releases: ReleaseSettings,
) -> CloudSettings:
    return CloudSettings(
        mode="development",
        data_dir=root / "cloud",
        database_url=database_url,
        mqtt_host="127.0.0.1",
        mqtt_port=tls_port,
        mqtt_username=accounts.ingest.username,
        mqtt_password=SecretStr(accounts.ingest.password),
        mqtt_ca_file=ca,
        ingest_client_id="yz-ingest-bench",
        auth=AuthSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32))),
        jobs=JobSettings(enabled=False),
        broker=BrokerSettings(
            security="dynsec",
            control_password=SecretStr(accounts.control.password),
            ca_file=ca,
            api_url=f"http://127.0.0.1:{http_port}",
        ),
        web=web,
        releases=releases,
    )


def _seed(engine: Engine) -> str:
    """The venues, and a technician's API token (every venue)."""
    with Session(engine) as session:
        session.add_all(Venue(id=venue, name=name) for venue, name in VENUES.items())
        session.commit()
        token_in = ApiTokenCreate(name="bench technician", role=Role.TECHNICIAN)
        _, bearer = store.create_api_token(session=session, token_in=token_in, created_by="bench")
    return bearer


def _serve(stack: ExitStack, settings: CloudSettings, engine: Engine, port: int) -> None:
    server = api_server(build_api(settings, engine), host="127.0.0.1", port=port)
    thread = threading.Thread(target=server.run, name="bench-api", daemon=True)
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    stack.callback(stop)
    poll_until(lambda: server.started, timeout=START_TIMEOUT_S, what="the API never started")


@contextmanager
def secure_cloud(
    root: Path,
    *,
    database_url: str | None = None,
    web: WebSettings | None = None,
    releases: ReleaseSettings | None = None,
) -> Iterator[SecureCloud]:
    """Broker (plain + TLS listeners), API with device control, ingest; torn down after.

    ``web`` sets the dashboard (an issuer key file for the member page's code, say).
    """
    with ExitStack() as stack:
        pki = init_pki(root / "pki")
        accounts = ServiceAccounts.generate()
        tls_port, http_port = free_port(), free_port()
        security = BrokerSecurity(
            accounts=accounts, tls=TlsListener.from_directory(root / "pki", port=tls_port)
        )
        broker = BrokerProcess(
            BrokerOptions(
                port=free_port(), data_dir=root / "broker", prefer="mosquitto", security=security
            )
        )
        broker.start()
        stack.callback(broker.stop)
        settings = _settings(
            root,
            tls_port=tls_port,
            http_port=http_port,
            accounts=accounts,
            ca=pki.ca_cert,
            database_url=database_url,
            web=web or WebSettings(),
            releases=releases or ReleaseSettings(),
        )
        engine = open_database(settings)
        stack.callback(engine.dispose)
        token = _seed(engine)
        ingest = build_ingest(settings, engine)
        ingest.start()
        stack.callback(ingest.stop)
        _serve(stack, settings, engine, http_port)
        yield SecureCloud(
            root,
            broker,
            accounts,
            pki,
            tls_port,
            engine,
            f"http://127.0.0.1:{http_port}",
            token,
            ingest,
        )


# A door box's [door] wiring, as the installer writes it into the box's file (new_box's
# ``wiring``).
DOOR_WIRING: Final = """
[door.policy]
door_id = "main"

[door.pins]
relay = 5
green_led = 6
red_led = 13
buzzer = 19
door_contact = 26
exit_button = 20
fire_alarm = 21
"""


@dataclass
class Box:
    """A new box on firmware_sim, run by the real runner in a thread until stopped."""

    data_dir: Path
    config: Path
    stop: threading.Event = field(default_factory=threading.Event)
    outcome: RunOutcome | None = None
    thread: threading.Thread | None = None

    @property
    def code(self) -> ClaimCode:
        """What the technician reads off the label."""
        return load_or_create(self.data_dir)

    def identity(self) -> Identity | None:
        return Identity.load(self.data_dir)

    def power_on(self) -> None:
        def run() -> None:
            self.outcome = run_box(
                self.config,
                overrides={},
                stop=self.stop,
                clock=utc_now,
                hardware_for=_hardware_for,
                software="yizhan bench",
            )

        self.thread = threading.Thread(target=run, name=f"box-{self.data_dir.name}", daemon=True)
        self.thread.start()

    def power_off(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=30)


def _hardware_for(_settings: EdgeSettings) -> Any:
    return sim_hardware


def new_box(
    cloud: SecureCloud,
    name: str,
    *,
    tls: bool = True,
    hardware: str = 'kind = "sim"\nprofile = "outdoor-station"\nspeed = 60',
    wiring: str = "",
) -> Box:
    """A factory-fresh box: a label, and a file that only knows how to say hello.

    ``hardware`` is the body of its ``[hardware]`` table; ``wiring`` is TOML appended to the
    file (a door box's ``[door]`` sections, for example).
    """
    data_dir = cloud.root / name
    data_dir.mkdir(parents=True)
    load_or_create(data_dir)  # the factory printed its label
    provision = cloud.accounts.provision
    port = cloud.tls_port if tls else cloud.broker.port
    tls_lines = f'tls = true\nca_file = "{cloud.pki.ca_cert}"\n' if tls else ""
    config = data_dir / "box.toml"
    config.write_text(
        f'data_dir = "{data_dir}"\ndrain_on_stop_s = 1\n\n'
        f"[hardware]\n{hardware}\n\n"
        f'[provision]\nmqtt_host = "127.0.0.1"\nmqtt_port = {port}\n'
        f'username = "{provision.username}"\npassword = "{provision.password}"\n'
        f"{tls_lines}\n{wiring}",
        encoding="utf-8",
    )
    config.chmod(0o600)
    return Box(data_dir, config)


def wait_pending(cloud: SecureCloud, serial: str, *, timeout: float) -> None:
    """Until the cloud lists the box among the unclaimed ones saying hello."""
    with cloud.client() as client:
        poll_until(
            lambda: any(b["serial"] == serial for b in client.get("/devices/pending")["data"]),
            timeout=timeout,
            what=f"box {serial} never said hello",
            interval=0.1,
        )


def wait_readings(cloud: SecureCloud, device: str, *, timeout: float) -> float:
    """Until the first reading of ``device`` is stored; returns the monotonic time then."""
    poll_until(
        lambda: cloud.readings_of(device) > 0,
        timeout=timeout,
        what=f"no reading of {device} was stored",
        interval=0.05,
    )
    return time.monotonic()
