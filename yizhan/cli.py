"""The `yizhan` command line: one entry point for broker, edge, cloud, members and demo."""

from __future__ import annotations

import logging
import os
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from edge.door.face_settings import DEFAULT_CLIPS_DIR
from yizhan.cli_backup import register as register_backup
from yizhan.cli_bench import bench_app
from yizhan.cli_cloud import DatabaseUrl, DataDir, cloud_settings
from yizhan.cli_deploy import deploy_app
from yizhan.cli_device import device_app
from yizhan.cli_member import member_app
from yizhan.cli_members import members_app
from yizhan.cli_release import release_app
from yizhan.cli_render import (
    ReportingGroup,
    ingest_summary,
    print_error,
    serving_line,
)
from yizhan.cli_venue import venue_app
from yizhan.lifecycle import edge_summary, stop_on_signals

err = Console(stderr=True, soft_wrap=True)  # long paths and errors stay on one line


app = typer.Typer(
    cls=ReportingGroup,
    help="yizhan (驿站): self-running union venues — QR doors, points kiosks, telemetry.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
edge_app = typer.Typer(
    help="Run an edge agent on a box (or against firmware_sim).", no_args_is_help=True
)
cloud_app = typer.Typer(
    help="Run the cloud: database migrations, ingest, HTTP API and dashboard.", no_args_is_help=True
)
app.add_typer(edge_app, name="edge")
app.add_typer(cloud_app, name="cloud")
app.add_typer(member_app, name="member")
app.add_typer(bench_app, name="bench")
app.add_typer(deploy_app, name="deploy")
user_app = typer.Typer(help="People who log in to the cloud API.", no_args_is_help=True)
cloud_app.add_typer(user_app, name="user")
cloud_app.add_typer(members_app, name="members")
token_app = typer.Typer(help="API tokens for the union's platform.", no_args_is_help=True)
cloud_app.add_typer(token_app, name="token")
register_backup(cloud_app)
pki_app = typer.Typer(help="Certificates for the broker's TLS listener.", no_args_is_help=True)
app.add_typer(pki_app, name="pki")
app.add_typer(device_app, name="device")
app.add_typer(venue_app, name="venue")
app.add_typer(release_app, name="release")

# None: CloudSettings decides (YZ_CLOUD_DATA_DIR, .env, else .yizhan/cloud), so a flag's
# default never hides the environment.
CloudDataDir = Annotated[
    Path | None,
    typer.Option(
        help="Folder for the database and files (default: YZ_CLOUD_DATA_DIR, else .yizhan/cloud)."
    ),
]
Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log what happens; a failure's traceback too.")
]


def _logging(verbose: bool) -> None:
    handler: logging.Handler = RichHandler(console=err, show_path=False)
    if os.environ.get("JOURNAL_STREAM"):  # stderr is systemd's journal (a service)
        from yizhan.journal import journal_handler  # noqa: PLC0415

        handler = journal_handler()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(name)s: %(message)s",
        handlers=[handler],
    )


def _fail(message: str, *, code: int = 2) -> typer.Exit:
    print_error(err, message)
    return typer.Exit(code=code)


@app.command()
def broker(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="MQTT port.")] = 1883,
    data_dir: DataDir = Path(".yizhan/broker"),
    prefer: Annotated[str, typer.Option(help="auto | mosquitto | embedded")] = "auto",
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            help="Per-device credentials and ACLs (Mosquitto dynamic security); no anonymous.",
        ),
    ] = False,
    tls_dir: Annotated[
        Path | None,
        typer.Option(help="Folder from `yizhan pki init` (ca.pem, server.pem, server.key)."),
    ] = None,
    tls_port: Annotated[int, typer.Option(help="MQTT over TLS port (with --tls-dir).")] = 8883,
) -> None:
    """Start a local MQTT broker: mosquitto when installed, the embedded one otherwise."""
    from ops.broker.process import main as broker_main  # noqa: PLC0415 - keep startup light

    argv = ["--host", host, "--port", str(port), "--data-dir", str(data_dir), "--prefer", prefer]
    if secure:
        argv.append("--secure")
    if tls_dir is not None:
        argv += ["--tls-dir", str(tls_dir), "--tls-port", str(tls_port)]
    broker_main(argv)


@pki_app.command("init")
def pki_init(
    directory: Annotated[Path, typer.Option("--dir", help="Where to write the files.")] = Path(
        ".yizhan/pki"
    ),
    name: Annotated[
        list[str] | None,
        typer.Option(help="A host name or IP the broker is reached by (repeatable)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace existing files.")] = False,
) -> None:
    """Create a DEVELOPMENT CA and a broker server certificate signed by it."""
    from ops.pki import PkiError, init_pki  # noqa: PLC0415

    names = tuple(name or ("localhost", "127.0.0.1"))
    try:
        files = init_pki(directory, server_names=names, force=force)
    except PkiError as exc:
        raise _fail(str(exc)) from None
    err.print(f"[green]ok[/green]: CA {files.ca_cert}, server certificate for {', '.join(names)}")
    err.print(f"boxes trust {files.ca_cert}; keep {files.ca_key} off the boxes and offline")


@edge_app.command("run")
def edge_run(
    config: Annotated[
        Path | None, typer.Option(help="TOML settings file (see docs/ARCHITECTURE.md).")
    ] = None,
    venue: Annotated[str | None, typer.Option(help="Venue id, e.g. station-07.")] = None,
    device: Annotated[str | None, typer.Option(help="This box's device id.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder for the outbox.")] = None,
    mqtt_host: Annotated[
        str | None, typer.Option(help="Broker host (default: the file's).")
    ] = None,
    mqtt_port: Annotated[
        int | None, typer.Option(help="Broker port (default: the file's).")
    ] = None,
    sample_interval: Annotated[float | None, typer.Option(help="Seconds between readings.")] = None,
    resend_after: Annotated[
        float | None, typer.Option(help="Resend unconfirmed rows after S.")
    ] = None,
    sim_profile: Annotated[
        str | None,
        typer.Option(help="Run against firmware_sim: outdoor-station | worker-home | library."),
    ] = None,
    sim_speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 1.0,
    sim_seed: Annotated[int, typer.Option(help="Seed of the simulated venue.")] = 0,
    duration: Annotated[float | None, typer.Option(help="Stop after S seconds.")] = None,
    verbose: Verbose = False,
) -> None:
    """Run a box until stopped: get it claimed if it is new, then sample, decide and send.

    A box with no venue and device (in its file, flags or claim) is unclaimed: it prints
    its claim code and waits, saying hello through the \\[provision] broker account, until a
    technician runs `yizhan device claim`. Restart commands, pushed configs and a wipe at
    decommissioning all restart the box in this process.
    """
    from yizhan import box  # noqa: PLC0415 - the box's libraries, for this command only

    _logging(verbose)
    hardware = None
    if sim_profile is not None:
        hardware = {"kind": "sim", "profile": sim_profile, "speed": sim_speed, "seed": sim_seed}
    overrides = {
        "venue": venue,
        "device": device,
        "data_dir": data_dir,
        "mqtt_host": mqtt_host,
        "mqtt_port": mqtt_port,
        "sample_interval_s": sample_interval,
        "resend_after_s": resend_after,
        "hardware": hardware,
    }
    stop = stop_on_signals()
    if duration is not None:
        threading.Timer(duration, stop.set).start()
    try:
        outcome = box.run(
            config,
            overrides=overrides,
            stop=stop,
            announce=lambda line: err.print(line, markup=False),
        )
    except box.BoxError as exc:
        raise _fail(str(exc)) from None
    err.print(f"edge stopped: {edge_summary(outcome.report)}", markup=False)


@edge_app.command("check-config")
def edge_check_config(
    config: Annotated[Path, typer.Argument(help="The TOML settings file to check.")],
    pushable: Annotated[
        bool,
        typer.Option(
            "--pushable",
            help="FILE is a pushable config (what `yizhan device config push` sends), not a "
            "box's own file: check it as `yizhan device config check` does.",
        ),
    ] = False,
) -> None:
    """Validate an edge config; name each error with its location and a fix."""
    from edge.settings import ConfigError, load_layers  # noqa: PLC0415

    if pushable:
        from yizhan.cli_device import config_check  # noqa: PLC0415 - the one pushable check

        config_check(config, box=None)
        return
    try:
        layers = load_layers(config)
        if layers.unclaimed is not None:
            where = f"{layers.unclaimed.provision.mqtt_host}:{layers.unclaimed.provision.mqtt_port}"
            said = f"{config} — an unclaimed box; it says hello via {where}"
            err.print(f"[green]ok[/green]: {escape(said)}")
            return
        settings = layers.build()
    except ConfigError as exc:
        raise _fail(str(exc) + _pushable_hint(config)) from None
    role: str = settings.role
    found: list[str] = []
    if settings.door is not None:
        from edge.door.face_parts import face_problems  # noqa: PLC0415 - a door's parts only

        found = face_problems(settings.door.screen, settings.door.voice)
        role += f", door {settings.door.policy.door_id!r}"
    where = f"device {settings.device} at {settings.venue}"
    err.print(f"[green]ok[/green]: {escape(f'{config} — {where} ({role})')}")
    if found:  # the file is right; this machine lacks what its screen or voice needs
        said = "\n".join(f"  - {problem}" for problem in found)
        err.print(
            f"warning: on this machine the door's screen or voice would not work (the door "
            f"still opens):\n{said}",
            markup=False,
        )


@edge_app.command("voice-clips")
def edge_voice_clips(
    out: Annotated[
        Path, typer.Option(help="Where the door's prompts go (\\[door.voice] clips_dir).")
    ] = DEFAULT_CLIPS_DIR,
    force: Annotated[bool, typer.Option(help="Remake every prompt this made before.")] = False,
) -> None:
    """Make the door's spoken prompts (<reason>.<lang>.wav) offline with espeak-ng.

    WAV files the union recorded under the same names are kept, never overwritten.
    """
    from yizhan.box_clips import make_clips  # noqa: PLC0415

    if make_clips(out, force=force, say=lambda line: err.print(line, markup=False)):
        raise typer.Exit(1)


def _pushable_hint(config: Path) -> str:
    """A hint when the refused box file would pass as a pushable one."""
    import tomllib  # noqa: PLC0415

    from protocol.device_config import config_problems, settings_from_toml  # noqa: PLC0415
    from protocol.errors import PayloadError  # noqa: PLC0415

    try:
        settings = settings_from_toml(tomllib.loads(config.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, PayloadError):
        return ""
    if not settings or config_problems(settings):
        return ""
    return f"\n(a pushable config? check it with `yizhan edge check-config --pushable {config}`)"


@cloud_app.command("migrate")
def cloud_migrate(data_dir: CloudDataDir = None, database_url: DatabaseUrl = None) -> None:
    """Bring the database to the newest schema (safe to run again)."""
    from cloud.migrate import current_revision  # noqa: PLC0415

    engine = _open_database(
        cloud_settings(role="database", data_dir=data_dir, database_url=database_url)
    )
    err.print(f"database at revision {current_revision(engine)}")
    engine.dispose()


@cloud_app.command("ingest")
def cloud_ingest(
    data_dir: CloudDataDir = None,
    database_url: DatabaseUrl = None,
    mqtt_host: Annotated[
        str | None, typer.Option(help="Broker host (default: YZ_CLOUD_MQTT_HOST, else 127.0.0.1).")
    ] = None,
    mqtt_port: Annotated[
        int | None, typer.Option(help="Broker port (default: YZ_CLOUD_MQTT_PORT, else 1883).")
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            help="MQTT client id; unique per worker "
            "(default: YZ_CLOUD_INGEST_CLIENT_ID, else yz-ingest-1)."
        ),
    ] = None,
    client_id_from_hostname: Annotated[
        bool,
        typer.Option(
            "--client-id-from-hostname",
            help="Use yz-ingest-HOSTNAME: distinct for container replicas sharing one command.",
        ),
    ] = False,
    group: Annotated[
        str | None, typer.Option(help="Shared-subscription group: MQTT 5, several workers.")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve Prometheus /metrics and /healthz (503 when the writer is dead or "
            "stalled) on 127.0.0.1:PORT."
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Store every device message idempotently until stopped."""
    from cloud.service import run_ingest  # noqa: PLC0415

    _logging(verbose)
    if client_id_from_hostname:
        if client_id is not None:
            raise _fail("give --client-id or --client-id-from-hostname, not both")
        import socket  # noqa: PLC0415

        from ops.site.replicas import replica_client_id  # noqa: PLC0415

        client_id = replica_client_id("yz-ingest", socket.gethostname())
    settings = cloud_settings(
        role="ingest",
        data_dir=data_dir,
        database_url=database_url,
        mqtt_host=mqtt_host,
        mqtt_port=mqtt_port,
        ingest_client_id=client_id,
    )
    engine = _open_database(settings)
    try:
        stats = run_ingest(
            settings, engine, stop=stop_on_signals(), group=group, metrics_port=metrics_port
        )
    finally:
        engine.dispose()
    err.print(f"ingest stopped: {ingest_summary(stats)}", markup=False)


@cloud_app.command("serve")
def cloud_serve(
    data_dir: CloudDataDir = None,
    database_url: DatabaseUrl = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    mqtt_host: Annotated[
        str | None, typer.Option(help="The broker the device control talks to.")
    ] = None,
    mqtt_port: Annotated[
        int | None, typer.Option(help="Broker port (default: YZ_CLOUD_MQTT_PORT, else 1883).")
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            envvar="FORWARDED_ALLOW_IPS",
            help="Addresses (or networks) of the reverse proxy whose X-Forwarded-For and "
            "-Proto are trusted (default: this host's loopback).",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs), the web dashboard (at /) and the device
    control (claims, commands, config). Broker accounts: YZ_CLOUD_BROKER__SECURITY=dynsec
    and its control password."""
    from cloud.service import api_server, build_api, start_cloud_jobs  # noqa: PLC0415

    settings = cloud_settings(
        role="api",
        data_dir=data_dir,
        database_url=database_url,
        mqtt_host=mqtt_host,
        mqtt_port=mqtt_port,
    )
    engine = _open_database(settings)
    jobs = start_cloud_jobs(settings, engine)
    try:
        api = build_api(settings, engine)
        err.print(serving_line(host, port), markup=False, highlight=False)
        api_server(
            api,
            host=host,
            port=port,
            forwarded_allow_ips=forwarded_allow_ips,
        ).run()
    finally:
        if jobs is not None:
            jobs.stop()
        engine.dispose()


@user_app.command("add")
def cloud_user_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="admin | manager | technician | member")],
    venue: Annotated[
        list[str] | None, typer.Option(help="A venue a manager/technician runs (repeatable).")
    ] = None,
    member_id: Annotated[str | None, typer.Option(help="For a member: their member id.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    data_dir: CloudDataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a person who logs in to the API (the password is prompted, never a flag)."""
    from cloud.auth.cli import AddUserError, add_user  # noqa: PLC0415
    from cloud.auth.principal import Role  # noqa: PLC0415
    from cloud.core.db import reporting_unreachable  # noqa: PLC0415

    try:
        chosen = Role(role)
    except ValueError:
        raise _fail(f"role {role!r} is not one of admin, manager, technician, member") from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    settings = cloud_settings(role="database", data_dir=data_dir, database_url=database_url)
    try:
        with reporting_unreachable(settings.resolved_database_url()):
            add_user(
                settings,
                username,
                role=chosen,
                venues=venue or [],
                member_id=member_id,
                password=password,
            )
    except AddUserError as exc:
        raise _fail(str(exc)) from None
    err.print(f"[green]ok[/green]: {escape(username)} ({chosen})")


@token_app.command("add")
def cloud_token_add(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. the platform's name.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="What it may do (repeatable): members:read, members:write, codes:issue, "
            "bookings:write."
        ),
    ] = None,
    days: Annotated[
        int, typer.Option(min=1, max=3650, help="Days until it expires (make the next in time).")
    ] = 365,
    data_dir: CloudDataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an integration token for the union's platform; the token is printed once.

    docs/integration.md says what each scope opens. The token goes to standard output
    (pipe it into the platform's secret store); revoke it with DELETE /api/v1/auth/tokens/ID.
    """
    from cloud.auth.cli import AddUserError, add_token  # noqa: PLC0415
    from cloud.auth.principal import Role  # noqa: PLC0415
    from cloud.core.db import reporting_unreachable  # noqa: PLC0415
    from cloud.core.time import utc_now  # noqa: PLC0415

    settings = cloud_settings(role="database", data_dir=data_dir, database_url=database_url)
    expires = utc_now() + timedelta(days=days)
    try:
        with reporting_unreachable(settings.resolved_database_url()):
            token_id, secret = add_token(
                settings,
                name,
                role=Role.INTEGRATION,
                scopes=scope or [],
                venues=[],
                expires_at=expires,
            )
    except AddUserError as exc:
        raise _fail(str(exc)) from None
    err.print(
        f"[green]ok[/green]: token {token_id} for {escape(name)} "
        f"({', '.join(scope or [])}), expires {expires:%Y-%m-%d}; it is shown this once:"
    )
    typer.echo(secret)


def _open_database(settings: Any) -> Any:
    """The migrated engine; a database that does not answer is one line naming it."""
    from cloud.core.db import reporting_unreachable  # noqa: PLC0415
    from cloud.service import open_database  # noqa: PLC0415

    with reporting_unreachable(settings.resolved_database_url()):
        return open_database(settings)


@app.command()
def demo(
    duration: Annotated[float, typer.Option(help="Seconds to run (Ctrl-C ends early).")] = 30.0,
    venues: Annotated[int, typer.Option(min=3, max=50, help="Simulated venues (≥ 3).")] = 3,
    data_dir: DataDir = Path(".yizhan/demo"),
    port: Annotated[int, typer.Option(help="HTTP port of the cloud API.")] = 8000,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 60.0,
    keep_open: Annotated[
        bool | None,
        typer.Option(
            "--keep-open/--no-keep-open",
            help="After --duration keep the fleet and dashboard up until Ctrl-C. "
            "Default: on when run in a terminal, off in scripts.",
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Broker + cloud + dashboard + a simulated fleet; prints one JSON line of sent vs stored.

    The dashboard's address and the demo sign-ins (admin, manager, tech, member) are printed
    at the start.
    """
    from ops.broker.process import port_is_free  # noqa: PLC0415

    # Before the slow import and start below: a busy port is refused at once.
    if not port_is_free(port):
        raise _fail(f"port {port} is in use; pass --port with a free one")
    from yizhan.demo import DemoError, DemoOptions, run_demo  # noqa: PLC0415

    _logging(verbose)
    if keep_open is None:
        keep_open = sys.stdin.isatty() and sys.stdout.isatty()
    options = DemoOptions(
        duration_s=duration,
        venues=venues,
        data_dir=data_dir,
        http_port=port,
        speed=speed,
        keep_open=keep_open,
    )
    try:
        summary = run_demo(options, stop=stop_on_signals(), console=err)
    except DemoError as exc:
        raise _fail(str(exc), code=exc.exit_code) from None
    typer.echo(summary)
    if '"readings_sent": 0' in summary:
        raise typer.Exit(code=1)


def main() -> None:
    app()
