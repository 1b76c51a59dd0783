"""`yizhan bench …`: contenders side by side in one run, JSON on the last line."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

bench_app = typer.Typer(
    help="Benchmarks: contenders side by side in one run, JSON on the last line.",
    no_args_is_help=True,
)
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        help="sqlite:///path.db (default: a temporary file) or postgresql://user@host/db."
    ),
]
# The benches that make a fresh database for each run (yizhan.bench.ingest._bench_database).
FreshDatabaseUrl = Annotated[
    str | None,
    typer.Option(
        help="postgresql://user@host/db: a fresh database is made beside it and dropped after "
        "(default: a fresh SQLite file)."
    ),
]


class IngestMix(StrEnum):
    """The loads `bench ingest` publishes (yizhan/bench/ingest_load.py)."""

    FIXED = "fixed"
    REALISTIC = "realistic"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


@bench_app.command("scan")
def bench_scan(
    json: Annotated[bool, typer.Option("--json", help="Print the JSON line last.")] = False,
    frames: Annotated[int, typer.Option(min=2, help="Phone-screen frames (both sizes).")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic set.")] = 1,
    face_frames: Annotated[
        int,
        typer.Option(
            min=0,
            help="Frames for the door with its screen and voice on and off, side by side "
            "at 10 a second (0: skip).",
        ),
    ] = 200,
) -> None:
    """QR decoders side by side on synthetic phone screens, scan -> relay end to end, and
    the relay with the door's screen and voice on and off."""
    from yizhan.bench.scan import main as scan_main  # noqa: PLC0415

    scan_main(json=json, frames=frames, seed=seed, face_frames=face_frames)


@bench_app.command("ingest")
def bench_ingest(
    json: Annotated[bool, typer.Option("--json", help="Print the JSON line last.")] = False,
    seconds: Annotated[float, typer.Option(min=1, help="Seconds of load.")] = 10.0,
    devices: Annotated[int, typer.Option(min=1, help="Simulated devices.")] = 20,
    database_url: FreshDatabaseUrl = None,
    workers: Annotated[int, typer.Option(min=1, help="Ingest workers sharing the stream.")] = 2,
    mix: Annotated[
        IngestMix,
        typer.Option(
            help="fixed: 3 readings in every message; realistic: 1-11 items a message, "
            "readings and events, as hubs and doors send them."
        ),
    ] = IngestMix.FIXED,
) -> None:
    """Readings stored per second end to end, beside what a bare subscriber receives."""
    from yizhan.bench.ingest import main as ingest_main  # noqa: PLC0415

    ingest_main(
        json=json,
        seconds=seconds,
        devices=devices,
        database_url=database_url,
        workers=workers,
        mix=mix.value,
    )


@bench_app.command("ingest-peer")
def bench_ingest_peer(
    database_url: Annotated[
        str, typer.Option(help="postgresql://user@host/db: a fresh database is made beside it.")
    ],
    json: Annotated[bool, typer.Option("--json", help="Print the JSON line last.")] = False,
    seconds: Annotated[float, typer.Option(min=1, help="Seconds of load.")] = 10.0,
    devices: Annotated[int, typer.Option(min=1, help="Simulated devices.")] = 20,
    mix: Annotated[
        IngestMix, typer.Option(help="The load, as for `bench ingest`.")
    ] = IngestMix.FIXED,
    warmup_s: Annotated[
        float, typer.Option(min=0, help="Seconds of load Node-RED gets before it is measured.")
    ] = 2.0,
) -> None:
    """A plain Node-RED 4 flow storing the same load as `bench ingest`, measured the same way
    (needs node and npm; its packages are installed from yizhan/bench/node_red's lock)."""
    from yizhan.bench.ingest_peer import PeerUnavailableError  # noqa: PLC0415
    from yizhan.bench.ingest_peer import main as peer_main  # noqa: PLC0415

    try:
        peer_main(
            database_url=database_url,
            json=json,
            seconds=seconds,
            devices=devices,
            mix=mix.value,
            warmup_s=warmup_s,
        )
    except PeerUnavailableError as exc:
        raise _fail(str(exc)) from None


@bench_app.command("drain")
def bench_drain(
    json: Annotated[bool, typer.Option("--json", help="Print the JSON line last.")] = False,
    readings: Annotated[
        int,
        typer.Option(
            min=1_000, max=400_000, help="Readings in the door box's outbox (24 h of them)."
        ),
    ] = 100_000,
    door_rate: Annotated[
        float, typer.Option(min=0.5, max=100, help="Codes shown to its door per second.")
    ] = 10.0,
    fleet_boxes: Annotated[
        int, typer.Option(min=0, max=2_000, help="Boxes reconnecting at once (0: no fleet run).")
    ] = 200,
    fleet_backlog: Annotated[
        int, typer.Option(min=1, max=100_000, help="Readings in each fleet box's outbox.")
    ] = 540,
    fleet_processes: Annotated[
        int, typer.Option(min=1, max=32, help="Child processes the fleet's boxes run in.")
    ] = 4,
    database_url: FreshDatabaseUrl = None,
    workers: Annotated[int, typer.Option(min=1, help="Ingest workers sharing the stream.")] = 2,
) -> None:
    """A backlog after an outage: one door box's day of readings (its door deciding all the
    while) and a fleet reconnecting at once, timed to the cloud's storage ack."""
    from yizhan.bench.drain import DrainOptions  # noqa: PLC0415
    from yizhan.bench.drain import main as drain_main  # noqa: PLC0415
    from yizhan.bench.drain_backlog import DrainBenchError  # noqa: PLC0415

    options = DrainOptions(
        readings=readings,
        door_rate=door_rate,
        fleet_boxes=fleet_boxes,
        fleet_backlog=fleet_backlog,
        fleet_processes=fleet_processes,
        workers=workers,
    )
    try:
        figures = drain_main(json=json, options=options, database_url=database_url)
    except (DrainBenchError, ValueError) as exc:  # a SQLite --database-url is a ValueError
        raise _fail(str(exc)) from None
    audit_failed = figures["lost"] or figures["duplicates_stored"] or figures["left"]
    if audit_failed or figures["meets_target"] is False:
        raise typer.Exit(code=1)


@bench_app.command("soak")
def bench_soak(
    database_url: Annotated[
        str, typer.Option(help="postgresql://user@host/db (migrated, then filled).")
    ],
    json: Annotated[bool, typer.Option("--json", help="Print the JSON line last.")] = False,
    seconds: Annotated[float, typer.Option(min=10, help="Seconds the fleet samples.")] = 600.0,
    devices: Annotated[int, typer.Option(min=1, max=999, help="Simulated sensor hubs.")] = 24,
    interval: Annotated[
        float, typer.Option(min=0.05, help="Each hub's sample interval in seconds.")
    ] = 0.5,
) -> None:
    """Two ingest workers under a simulated fleet: no loss, no duplicates, memory flat."""
    from yizhan.bench.soak import main as soak_main  # noqa: PLC0415

    soak_main(
        json=json,
        seconds=seconds,
        database_url=database_url,
        devices=devices,
        interval_s=interval,
    )


@bench_app.command("sdcard")
def bench_sdcard(
    json: Annotated[bool, typer.Option("--json", help="Print the JSON line last.")] = False,
    hours: Annotated[float, typer.Option(min=0.1, max=24 * 7, help="Simulated hours.")] = 24.0,
    entries: Annotated[int, typer.Option(min=0, help="Door decisions per simulated day.")] = 600,
) -> None:
    """A day of a box's outbox writes to its SD card: synchronous NORMAL beside FULL."""
    from yizhan.bench.sdcard import Day  # noqa: PLC0415
    from yizhan.bench.sdcard import main as sdcard_main  # noqa: PLC0415

    sdcard_main(json=json, day=Day(hours=hours, entries=round(entries * hours / 24)))


@bench_app.command("dashboard")
def bench_dashboard(
    json: Annotated[bool, typer.Option("--json", help="Print the JSON line last.")] = False,
    venues: Annotated[int, typer.Option(min=1, max=20_000, help="Venues in the database.")] = 500,
    rounds: Annotated[int, typer.Option(min=1, help="Requests of each page.")] = 30,
    database_url: DatabaseUrl = None,
    postgres_url: Annotated[
        str | None,
        typer.Option(
            help="postgresql://user@host/db: the pages again in a fresh database beside it "
            "(dropped after)."
        ),
    ] = None,
) -> None:
    """Dashboard pages with hundreds of venues beside the bare API venue list (SQLite and
    PostgreSQL), live-update bytes per minute, the month report and alert notification."""
    from yizhan.bench.dashboard import main as dashboard_main  # noqa: PLC0415

    dashboard_main(
        json=json,
        venues=venues,
        rounds=rounds,
        database_url=database_url,
        postgres_url=postgres_url,
    )


@bench_app.command("kiosk")
def bench_kiosk(
    json: Annotated[bool, typer.Option("--json", help="Print the JSON line last.")] = False,
    redemptions: Annotated[int, typer.Option(min=1, help="Redemptions to attempt.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the faults and the members' choices.")] = 1,
    database_url: DatabaseUrl = None,
) -> None:
    """Redemptions under random faults (kiosk killed, cloud killed, lost messages, jams)."""
    from yizhan.bench.kiosk import main as kiosk_main  # noqa: PLC0415

    kiosk_main(json, redemptions, seed, database_url)


@bench_app.command("access")
def bench_access(
    json: Annotated[bool, typer.Option("--json", help="Print the JSON line last.")] = False,
    members: Annotated[int, typer.Option(min=1, help="Members in the door's cache.")] = 1_000_000,
    revoked: Annotated[int, typer.Option(min=0, help="How many of them are revoked.")] = 100_000,
    decisions: Annotated[int, typer.Option(min=1, help="Decisions to time.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the members and their codes.")] = 1,
) -> None:
    """Door decisions per second against a large member cache (verify + revocation + replay)."""
    from yizhan.bench.access import main as access_main  # noqa: PLC0415

    if revoked > members:
        raise _fail("--revoked cannot exceed --members")
    access_main(json, members, revoked, decisions=decisions, seed=seed)


@bench_app.command("provision")
def bench_provision(
    json: Annotated[bool, typer.Option("--json", help="Print the JSON line last.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """New boxes from claim to first stored reading, and a stolen box against the ACLs."""
    from yizhan.bench.provision import main as provision_main  # noqa: PLC0415

    figures = provision_main(json=json, database_url=database_url)
    if not figures["meets_target"]:
        raise typer.Exit(code=1)


@bench_app.command("attacks")
def bench_attacks(
    json: Annotated[
        bool, typer.Option("--json", help="Print one JSON line per database last.")
    ] = False,
    database_url: Annotated[
        list[str] | None,
        typer.Option(
            help="Run against this empty database (the run fills it); repeat for several "
            "(sqlite:///path.db or postgresql://user@host/db). Default: a temporary SQLite file."
        ),
    ] = None,
    fuzz_messages: Annotated[int, typer.Option(min=1, help="Hostile payloads sent.")] = 400,
    flood_seconds: Annotated[float, typer.Option(min=1, help="Seconds of garbage flood.")] = 20.0,
    login_guesses: Annotated[int, typer.Option(min=1, help="Wrong passwords tried.")] = 420,
) -> None:
    """A stolen box's credentials against a secure broker and the real cloud: 0 accepted."""
    from yizhan.bench.stolen_box import Options  # noqa: PLC0415
    from yizhan.bench.stolen_box import main as attacks_main  # noqa: PLC0415

    options = Options(
        fuzz_messages=fuzz_messages, flood_seconds=flood_seconds, login_guesses=login_guesses
    )
    urls: list[str | None] = [*database_url] if database_url else [None]
    results = attacks_main(json=json, database_urls=urls, options=options)
    if not all(figures["meets_target"] for figures in results):
        raise typer.Exit(code=1)


@bench_app.command("clock")
def bench_clock(
    json: Annotated[bool, typer.Option("--json", help="Print one JSON line.")] = False,
    valid: Annotated[
        int, typer.Option(min=1, max=100_000, help="Valid codes shown per clock offset.")
    ] = 200,
) -> None:
    """A door booted offline with its clock -2 d, -3 h, 0 and +10 min off: all valid codes
    open, no stale or replayed one does."""
    from yizhan.bench.clock import main as clock_main  # noqa: PLC0415

    if not clock_main(json=json, valid=valid)["met"]:
        raise typer.Exit(code=1)


@bench_app.command("footprint")
def bench_footprint(
    json: Annotated[bool, typer.Option("--json", help="Print the JSON line last.")] = False,
    seconds: Annotated[float, typer.Option(min=1, help="Seconds measured once both run.")] = 120.0,
) -> None:
    """A door box's and a sensor hub's memory and idle CPU, each a real `edge run` process."""
    from yizhan.bench.footprint import FootprintError  # noqa: PLC0415
    from yizhan.bench.footprint import main as footprint_main  # noqa: PLC0415

    try:
        figures = footprint_main(json=json, seconds=seconds)
    except FootprintError as exc:
        raise _fail(str(exc)) from None
    if not figures["meets_target"]:
        raise typer.Exit(code=1)


@bench_app.command("members")
def bench_members(
    json: Annotated[bool, typer.Option("--json", help="Print the JSON line last.")] = False,
    members: Annotated[int, typer.Option(min=10, help="Members in the imported roster.")] = 300_000,
    changes: Annotated[
        int, typer.Option(min=2, help="Changes through the API: half revoke, half add.")
    ] = 1_000,
    sync_interval: Annotated[
        float | None,
        typer.Option(min=0.1, help="The door's sync interval in seconds (default: the door's)."),
    ] = None,
    code_seconds: Annotated[
        float, typer.Option(min=1, help="Seconds of codes issued through the API.")
    ] = 10.0,
    database_url: FreshDatabaseUrl = None,
) -> None:
    """A roster imported, changed through the API and synced to a door; codes issued per second."""
    from yizhan.bench.members import SYNC_INTERVAL_S, MembersBenchError, Options  # noqa: PLC0415
    from yizhan.bench.members import main as members_main  # noqa: PLC0415

    options = Options(
        members=members,
        changes=changes,
        sync_interval_s=SYNC_INTERVAL_S if sync_interval is None else sync_interval,
        code_seconds=code_seconds,
    )
    try:
        figures = members_main(json=json, options=options, database_url=database_url)
    except MembersBenchError as exc:
        raise _fail(str(exc)) from None
    if not figures["meets_target"]:
        raise typer.Exit(code=1)


@bench_app.command("worker-app")
def bench_worker_app(
    json: Annotated[bool, typer.Option("--json", help="Print the JSON line last.")] = False,
    stations: Annotated[
        int, typer.Option(min=1, max=1000, help="Stations in the one district listed.")
    ] = 500,
    samples: Annotated[int, typer.Option(min=1, help="Requests of each list timed.")] = 200,
    walkins: Annotated[int, typer.Option(min=1, help="Walk-ins, poster to open door.")] = 20,
    database_url: FreshDatabaseUrl = None,
) -> None:
    """The worker's phone app: station list beside the bare API, code page bytes, walk-ins."""
    from yizhan.bench.worker_app import Options, WorkerAppBenchError  # noqa: PLC0415
    from yizhan.bench.worker_app import main as worker_app_main  # noqa: PLC0415

    options = Options(stations=stations, samples=samples, walkins=walkins)
    try:
        figures = worker_app_main(json=json, options=options, database_url=database_url)
    except WorkerAppBenchError as exc:
        raise _fail(str(exc)) from None
    if not figures["meets_target"]:
        raise typer.Exit(code=1)


@bench_app.command("ota")
def bench_ota(
    json: Annotated[bool, typer.Option("--json", help="Print the JSON line last.")] = False,
    database_url: DatabaseUrl = None,
    boxes: Annotated[int, typer.Option(min=2, help="Simulated boxes (agent processes).")] = 50,
    doors: Annotated[int, typer.Option(min=0, help="How many of them are doors.")] = 3,
    soak: Annotated[float, typer.Option(min=0, help="Seconds each stage soaks.")] = 5.0,
    health_deadline: Annotated[
        float, typer.Option(min=5, help="Seconds a new release has to report healthy.")
    ] = 45.0,
) -> None:
    """A fleet takes a good, a bad and a one-wheel release in stages from the real cloud."""
    from yizhan.bench.ota import OtaOptions  # noqa: PLC0415
    from yizhan.bench.ota import main as ota_main  # noqa: PLC0415

    if doors >= boxes:
        raise _fail(f"--doors {doors} leaves no sensor hub among {boxes} boxes; use fewer doors")
    options = OtaOptions(boxes=boxes, doors=doors, soak_s=soak, health_deadline_s=health_deadline)
    figures = ota_main(json=json, database_url=database_url, options=options)
    if not figures["meets_target"]:
        raise typer.Exit(code=1)
