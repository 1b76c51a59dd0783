"""`yizhan demo`: a broker, the cloud and a simulated fleet on one machine, then a tally."""

from __future__ import annotations

import io
import json
import secrets
import shutil
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import qrcode
from pydantic import SecretStr
from rich.console import Console
from rich.live import Live
from rich.table import Table
from sqlalchemy import Engine, bindparam, func, select, text
from sqlmodel import Session

from cloud.access.issuer import load_or_create, public_keyset
from cloud.access.store import put_key
from cloud.aggregates.occupancy import set_venue_settings
from cloud.alerts.models import SensorRole, SensorRoleName
from cloud.api.routes.metrics import install_metrics
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.core.time import utc_now
from cloud.devices.models import Device
from cloud.ingest.metrics import MetricsRegistry
from cloud.ingest.worker import IngestWorker
from cloud.members import roster
from cloud.models import RejectedMessage, Venue
from cloud.service import (
    api_server,
    build_api,
    build_ingest,
    open_database,
    start_cloud_jobs,
)
from cloud.settings import CloudSettings
from cloud.web.settings import WebSettings
from cloud.worker.identity import WorkerKeys
from edge.agent import EdgeAgent
from edge.door.face_settings import ScreenSettings, VoiceSettings
from edge.hardware.door import DoorPins
from edge.settings import DoorSettings, EdgeSettings, SimHardware
from ops.broker.process import BrokerOptions, BrokerProcess, free_port, port_is_free
from protocol.provisioning import ClaimCode
from yizhan.demo_box import start_unclaimed_box
from yizhan.simhw import sim_hardware

_MARKER: Final = ".yizhan-demo"  # only a folder carrying this is wiped on the next run
_DRAIN_SECONDS: Final = 60.0  # how long the end of the demo waits for outboxes to empty
_API_START_S: Final = 20.0
_CROWD: Final = 50  # members who visit the station's door
_REVOKED: Final = frozenset({7, 13})
_SURNAMES: Final = ("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴")
_GROUPS: Final = ("rider", "courier", "sanitation")

# (profile, venue id, (zh-CN name, English name), district): each page prints the name of
# its own language.
_VENUES: Final = (
    (
        "outdoor-station",
        "xuhui-riders",
        ("徐汇区户外劳动者驿站", "Xuhui Outdoor Workers' Station"),
        "徐汇区",
    ),
    ("worker-home", "pudong-home", ("浦东职工之家", "Pudong Workers' Home"), "浦东新区"),
    ("library", "jingan-library", ("静安职工书屋", "Jing'an Workers' Library"), "静安区"),
)
FRIDGE_LABEL: Final = "饮料冰箱"  # what the demo calls each hub's fridge probe
_CAPACITY: Final = 30  # people a demo venue holds: the overview's bars and the over-capacity rule
# The demo's sign-ins: one per kind of person the dashboard serves.
_LOGINS: Final = (
    ("admin", Role.ADMIN, None),
    ("manager", Role.MANAGER, "xuhui-riders"),
    ("tech", Role.TECHNICIAN, None),
    ("member", Role.MEMBER, "M00000001"),
)


class DemoError(Exception):
    """The demo could not run; the message says what failed and what to do."""

    exit_code = 1


class DemoOptionError(DemoError):
    """An option the demo cannot use (a busy port, a folder it may not write)."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class _Logins:
    password: str  # every demo sign-in's
    new_box: ClaimCode  # the label of the box waiting to be claimed
    poster: str  # the station door's walk-in poster (its path), for the worker app
    voice: str  # what became of the station door's spoken prompts


@dataclass(frozen=True, slots=True)
class DemoOptions:
    duration_s: float
    venues: int
    data_dir: Path
    http_port: int
    speed: float
    # After duration_s, keep the fleet and the dashboard running until Ctrl-C.
    keep_open: bool = False


def _fresh_dir(path: Path) -> None:
    try:
        if path.exists() and (path / _MARKER).exists():
            shutil.rmtree(path)
        if path.exists() and any(path.iterdir()):
            raise DemoOptionError(
                f"{path} exists and is not a demo folder; pass --data-dir to another one"
            )
        path.mkdir(parents=True, exist_ok=True)
        (path / _MARKER).touch()
    except OSError as exc:
        raise DemoOptionError(
            f"cannot use {path} for the demo's files: {exc.strerror or exc}; "
            "pass --data-dir with a folder you may write"
        ) from exc


def _fleet(options: DemoOptions, mqtt_port: int) -> list[EdgeSettings]:
    fleet = []
    for index in range(options.venues):
        profile, venue, _name, _district = _VENUES[index % len(_VENUES)]
        venue_id = venue if index < len(_VENUES) else f"{venue}-{index}"
        fleet.append(
            EdgeSettings(
                venue=venue_id,
                device=f"hub-{index + 1:02d}",
                data_dir=options.data_dir / "edge",
                mqtt_port=mqtt_port,
                sample_interval_s=1.0,
                resend_after_s=5.0,
                hardware=SimHardware(profile=profile, seed=index, speed=options.speed),
            )
        )
    return fleet


def _add_people(engine: Engine, password: str) -> None:
    """An admin, a manager of the station, a technician and a member, sharing one password."""
    with Session(engine) as session:
        for username, role, scope in _LOGINS:
            user_in = UserCreate(
                username=username,
                password=password,
                role=role,
                venue_ids=[scope] if role is Role.MANAGER and scope else [],
                member_id=scope if role is Role.MEMBER else None,
            )
            create_user(session=session, user_in=user_in)


def _door(options: DemoOptions, mqtt_port: int, service_token: str) -> EdgeSettings:
    """The outdoor workers' station's door, syncing its caches from the demo cloud."""
    return EdgeSettings(
        venue=_VENUES[0][1],
        device="door-01",
        role="door",
        data_dir=options.data_dir / "edge",
        mqtt_port=mqtt_port,
        sample_interval_s=5.0,
        resend_after_s=5.0,
        hardware=SimHardware(
            profile="outdoor-station",
            seed=99,
            issuer_key_file=options.data_dir / "issuer.json",
            crowd_size=_CROWD,
            crowd_gap_s=2.0,
        ),
        door=DoorSettings.model_validate(
            {
                "policy": {"door_id": "main", "passback_s": 20},
                "pins": DoorPins(
                    relay=5,
                    green_led=6,
                    red_led=13,
                    buzzer=19,
                    door_contact=26,
                    exit_button=20,
                    fire_alarm=21,
                ),
                "access": {
                    "sync_url": f"http://127.0.0.1:{options.http_port}",
                    "sync_token": service_token,
                    "sync_interval_s": 30,
                },
            }
        ),
    )


def _screen_dir(options: DemoOptions) -> Path:
    return options.data_dir / "door-screen"


def _with_face(door: EdgeSettings, options: DemoOptions, poster: str) -> tuple[EdgeSettings, str]:
    """The station door with its screen (frames under the demo's folder) and its voice, whose
    prompts espeak-ng makes here as the box's install does; and what became of the voice."""
    from edge.door.clips import build_clips  # noqa: PLC0415 - the door's face: the demo's door
    from edge.door.voice import VoiceError  # noqa: PLC0415

    assert door.door is not None
    clips = options.data_dir / "voice"
    try:
        report = build_clips(clips)
        said = f"{report.summary()} in {clips}" if report.ok else "; ".join(report.problems)
        voice_on = report.ok
    except VoiceError as exc:
        said, voice_on = f"off: {exc}", False
    face = door.door.model_copy(
        update={
            "screen": ScreenSettings(
                driver="emulator",
                station_zh=_VENUES[0][2][0],
                station_en=_VENUES[0][2][1],
                poster_url=f"http://127.0.0.1:{options.http_port}{poster}",
                frames_dir=_screen_dir(options),
            ),
            "voice": VoiceSettings(device="sim", clips_dir=clips, enabled=voice_on),
        }
    )
    return door.model_copy(update={"door": face}), said


def _latest_frame(agents: list[EdgeAgent]) -> Path | None:
    """The newest frame the station door's emulated screen saved."""
    for agent in agents:
        # firmware_sim's screen names the file of each frame it shows (a real TFT would not).
        latest = getattr(agent.door.display, "latest", None) if agent.door else None
        if isinstance(latest, Path):
            return latest
    return None


# What the worker app's finder shows of each kind of demo venue (GCJ-02, as Chinese maps).
_PROFILES: Final[dict[str, dict[str, Any]]] = {
    "outdoor-station": {
        "latitude": 31.1880,
        "longitude": 121.4365,
        "address": "漕溪北路 100 号",
        "amenities": ["water", "microwave", "fridge", "charging", "toilet", "rest_area"],
    },
    "worker-home": {
        "latitude": 31.2310,
        "longitude": 121.5440,
        "address": "浦东大道 900 号",
        "amenities": ["water", "charging", "wifi", "nursing_room"],
        "hours": ["daily 08:00-21:00"],
    },
    "library": {
        "latitude": 31.2290,
        "longitude": 121.4480,
        "address": "南京西路 1500 号",
        "amenities": ["water", "wifi"],
        "hours": ["mon-sat 09:00-20:00"],
        "admits_guests": False,
    },
}


def _seed(engine: Engine, fleet: list[EdgeSettings], issuer: Path) -> None:
    """Venues, the boxes with their roles, the issuer's public key, and members (two of
    them revoked)."""
    with Session(engine) as session:
        for index, edge in enumerate(fleet):
            profile, _venue, (name, name_en), district = _VENUES[index % len(_VENUES)]
            if session.get(Venue, edge.venue) is None:
                where = _PROFILES.get(profile, {})
                session.add(
                    Venue(
                        id=edge.venue,
                        name=name,
                        name_en=name_en,
                        kind=profile,
                        district=district,
                        **where,
                    )
                )
        session.commit()
        # What a claim records; the demo's boxes are configured, not claimed. Only a door's
        # own decisions earn check-in points, so the door must be known as one.
        for edge in fleet:
            if session.get(Device, edge.device) is None:
                session.add(Device(id=edge.device, venue_id=edge.venue, role=edge.role))
        session.commit()
        _mark_fridges(session, fleet)
    for venue_id in sorted({edge.venue for edge in fleet}):
        set_venue_settings(engine, venue_id, now=utc_now(), capacity=_CAPACITY)
    with Session(engine) as session:
        key = load_or_create(issuer)
        for kid, public in public_keyset(key).items():
            put_key(session=session, kid=kid, public_key=public)
        # Through the roster, as the union's platform would send them: the member page
        # (/members) then shows names, groups and who loaded them.
        roster.upsert(session=session, entries=_demo_roster(), by="demo")


def _mark_fridges(session: Session, fleet: list[EdgeSettings]) -> None:
    """Say which probe of each simulated hub sits in the drinks fridge, as a technician does
    on the settings page, so the fridge alert can fire in the demo."""
    # The rig names its probes from its seed, as a real DS18B20's serial is fixed.
    from firmware_sim.rig import _sensor_id as rig_sensor_id  # noqa: PLC0415 - as simhw

    for edge in fleet:
        hw = edge.hardware
        if edge.role != "sensor-hub" or not isinstance(hw, SimHardware):
            continue
        probe = rig_sensor_id(hw.seed, "fridge")
        if session.get(SensorRole, (edge.device, probe)) is None:
            session.add(
                SensorRole(
                    device_id=edge.device,
                    sensor=probe,
                    venue_id=edge.venue,
                    role=SensorRoleName.FRIDGE.value,
                    label=FRIDGE_LABEL,
                    updated_by="demo",
                )
            )
    session.commit()


def _demo_roster() -> list[roster.RosterEntry]:
    """The demo's crowd: names, an occupation, a year of membership (two of them revoked)."""
    until = utc_now().replace(microsecond=0) + timedelta(days=365)
    return [
        roster.RosterEntry(
            member_id=f"M{n:08d}",
            display_name=f"{_SURNAMES[n % len(_SURNAMES)]}师傅",
            groups=(_GROUPS[n % len(_GROUPS)],),
            valid_until=until,
            standing=roster.Standing.REVOKED if n in _REVOKED else roster.Standing.ACTIVE,
            phone_tail=f"{(n * 7919) % 10_000:04d}",
        )
        for n in range(1, _CROWD + 1)
    ]


def _wait_for_api(port: int) -> None:
    deadline = utc_now().timestamp() + _API_START_S
    while utc_now().timestamp() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        threading.Event().wait(0.1)
    raise DemoError(f"the demo API did not start on port {port}; run again with -v to see why")


def _check_port_free(port: int) -> None:
    """Refuse a busy HTTP port before the broker and the fleet start, not after."""
    if not port_is_free(port):
        raise DemoOptionError(f"port {port} is in use; pass --port with a free one")


def run_demo(options: DemoOptions, *, stop: threading.Event, console: Console) -> str:
    """Run until ``duration_s`` or ``stop``; return the one-line JSON tally."""
    _check_port_free(options.http_port)
    _fresh_dir(options.data_dir)
    with ExitStack() as stack:
        broker = BrokerProcess(
            BrokerOptions(port=free_port(), data_dir=options.data_dir / "broker")
        )
        broker.start()
        stack.callback(broker.stop)
        # The door syncs with a service token; people sign in as _LOGINS (printed below).
        service_token = secrets.token_urlsafe(32)
        password = secrets.token_urlsafe(12)
        settings = CloudSettings(
            data_dir=options.data_dir / "cloud",
            mqtt_port=broker.port,
            api_token=SecretStr(service_token),
            # The member page's rotating code, signed by the demo's own issuer key.
            web=WebSettings(issuer_key_file=options.data_dir / "issuer.json"),
        )
        engine = open_database(settings)
        stack.callback(engine.dispose)
        fleet = [*_fleet(options, broker.port), _door(options, broker.port, service_token)]
        _seed(engine, fleet, options.data_dir / "issuer.json")
        _add_people(engine, password)
        ingest = build_ingest(settings, engine)
        ingest.start()
        stack.callback(ingest.stop)
        jobs = start_cloud_jobs(settings, engine)
        if jobs is not None:
            stack.callback(jobs.stop)
        app = build_api(settings, engine)
        registry = MetricsRegistry()
        registry.add(ingest.metrics)
        install_metrics(app, registry)
        server = api_server(app, host="127.0.0.1", port=options.http_port)
        api = threading.Thread(target=server.run, name="demo-api", daemon=True)
        api.start()
        stack.callback(api.join, 10)
        stack.callback(setattr, server, "should_exit", True)
        _wait_for_api(options.http_port)
        keys = WorkerKeys.derive(app.state.api.auth.pseudonym_key)
        poster = f"/m/join/{fleet[-1].venue}?p={keys.poster_tag(fleet[-1].venue, 1)}"
        fleet[-1], voice = _with_face(fleet[-1], options, poster)
        agents = [
            EdgeAgent(edge, clock=utc_now, hardware=sim_hardware, software="yizhan demo")
            for edge in fleet
        ]
        for agent in agents:
            stack.callback(agent.close)
        label = start_unclaimed_box(
            stack, data_dir=options.data_dir / "new-box", mqtt_port=broker.port, clock=utc_now
        )
        _announce(console, broker, options, fleet, _Logins(password, label, poster, voice))
        _run_fleet(agents, options, stop, console, ingest)
        latest = _latest_frame(agents)
        if latest is not None:
            console.print(f"door screen: latest frame {latest}", markup=False, highlight=False)
        return _tally(engine, agents)
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow


def _terminal_qr(text: str) -> str:
    """``text`` as a QR code of half-block characters, scannable off the terminal."""
    qr = qrcode.QRCode(border=2)
    qr.add_data(text)
    qr.make(fit=True)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()


def _announce(
    console: Console,
    broker: BrokerProcess,
    options: DemoOptions,
    fleet: list[EdgeSettings],
    logins: _Logins,
) -> None:
    base = f"http://127.0.0.1:{options.http_port}"
    # Counted as the tally counts them: a venue's door box is a device, not another venue.
    venues = len({settings.venue for settings in fleet})
    console.print(
        f"[bold]yizhan demo[/bold] — {venues} venues, {len(fleet)} boxes, "
        f"broker {broker.kind} at {broker.url}"
    )
    names = ", ".join(username for username, _role, _scope in _LOGINS)
    console.print(
        f"  [bold]dashboard  {base}/[/bold]  sign in as {names}; password {logins.password}"
    )
    console.print(
        f"  new box    {logins.new_box.text()}  (as tech: Fleet → claim it with this label)"
    )
    console.print(f"  API docs   {base}/docs  (Authorize with the same sign-in)")
    console.print(f"  venues     {base}/api/v1/venues")
    console.print(
        f"  telemetry  {base}/api/v1/venues/{fleet[0].venue}/telemetry?metric=temperature_c"
    )
    console.print(f"  health     {base}/healthz")
    console.print(
        f"  [bold]worker app {base}/m/[/bold]  (a phone; sign-in codes are printed as \\[sms])"
    )
    console.print(f"  walk-in    {base}{logins.poster}  (the station door's poster):")
    console.print(_terminal_qr(base + logins.poster), highlight=False, markup=False)
    console.print(
        f"  door       {_screen_dir(options)}/  (the station door's screen, a PNG a frame)"
    )
    console.print(f"             voice: {logins.voice}", markup=False)
    if options.keep_open:
        console.print(f"Running until Ctrl-C (tally after {options.duration_s:g}s) …")
    else:
        console.print(f"Running {options.duration_s:g}s (Ctrl-C ends early) …")


def _run_fleet(
    agents: list[EdgeAgent],
    options: DemoOptions,
    stop: threading.Event,
    console: Console,
    ingest: IngestWorker,
) -> None:
    fleet_stop = threading.Event()
    threads = [
        threading.Thread(target=a.run, args=(fleet_stop,), name=f"edge-{a.settings.device}")
        for a in agents
    ]
    for thread in threads:
        thread.start()
    elapsed = threading.Event()
    timer = threading.Timer(options.duration_s, elapsed.set)
    timer.start()
    told = False
    with Live(
        _table(agents, ingest), console=console, refresh_per_second=2, transient=True
    ) as live:
        while not stop.wait(0.5):
            live.update(_table(agents, ingest))
            if elapsed.is_set() and not options.keep_open:
                break
            if elapsed.is_set() and not told:
                told = True
                console.print(
                    f"{options.duration_s:g}s done; the fleet and the dashboard keep running. "
                    "Ctrl-C stops them and prints the tally."
                )
        timer.cancel()
        # Stop sampling, then give the uplinks time to deliver what is still queued.
        for agent in agents:
            agent.stop_sampling()
        deadline = utc_now().timestamp() + _DRAIN_SECONDS
        while any(a.outbox.stats().depth for a in agents) and utc_now().timestamp() < deadline:
            live.update(_table(agents, ingest))
            threading.Event().wait(0.2)
    fleet_stop.set()
    for thread in threads:
        thread.join(timeout=30)


def _table(agents: list[EdgeAgent], ingest: IngestWorker) -> Table:
    table = Table("device", "venue", "sampled", "waiting", "confirmed")
    for agent in agents:
        stats = agent.outbox.stats()
        table.add_row(
            agent.settings.device,
            agent.settings.venue,
            str(agent.sampled),
            str(stats.depth),
            str(agent.uplink.confirmed),
        )
    cloud = ingest.stats
    table.caption = (
        f"cloud stored {cloud.stored}, duplicates absorbed {cloud.duplicates}, "
        f"rejected {cloud.rejected}"
    )
    for agent in agents:
        if agent.door is not None:
            seen = ", ".join(f"{k} {v}" for k, v in sorted(agent.door.controller.decisions.items()))
            table.caption += f"\ndoor {agent.door.controller.door_id}: {seen or 'no visitors yet'}"
    latest = _latest_frame(agents)
    if latest is not None:
        table.caption += f"\ndoor screen: {latest}"
    return table


def _tally(engine: Engine, agents: list[EdgeAgent]) -> str:
    sent = 0
    for agent in agents:
        stats = agent.outbox.stats()
        sent += stats.next_seq - stats.first_seq - stats.dropped - stats.skipped
    # Only the fleet's own rows: a box claimed from the dashboard sends readings it did not
    # count as sent here.
    devices = sorted({a.settings.device for a in agents})
    with engine.connect() as conn:
        stored = duplicates = 0
        for table in ("reading", "device_event"):
            pairs = "count(DISTINCT device_id || ':' || CAST(seq AS TEXT))"
            query = text(
                f"SELECT count(*), {pairs} FROM {table} WHERE device_id IN :ids"  # noqa: S608 - fixed names
            ).bindparams(bindparam("ids", expanding=True))
            row = conn.execute(query, {"ids": devices}).one()
            stored += row[1]
            duplicates += row[0] - row[1]
        # Repeats of one refusal within a minute share a row and a count (issue 15).
        rejected = conn.execute(
            select(func.coalesce(func.sum(RejectedMessage.count), 0))
        ).scalar_one()
    return json.dumps(
        {
            "venues": len({a.settings.venue for a in agents}),
            "devices": len(agents),
            "readings_sent": sent,
            "readings_stored": stored,
            "duplicates_stored": duplicates,
            "rejected": rejected,
        }
    )
