"""`yizhan device …`: a technician's fleet commands, over the cloud's HTTP API.

Everything except `label` talks to the cloud (`--cloud`, `YIZHAN_CLOUD_URL`) as the person
logged in (`--user`, or an API token in `YIZHAN_TOKEN`), so the cloud decides what they may
do: a manager can unlock a door of their own venue, not claim a box into someone else's.
`label` runs on the box itself and needs no cloud.
"""

from __future__ import annotations

import json
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from yizhan.cli_render import (
    DEFAULT_ZONE,
    console,
    print_error,
    render_device,
    render_devices,
    render_pending,
)
from yizhan.cloud_client import CloudClient, CloudError, CloudLogin

device_app = typer.Typer(
    help="Technicians: claim, list, configure, command and retire boxes.", no_args_is_help=True
)
config_app = typer.Typer(help="A device's desired configuration.", no_args_is_help=True)
device_app.add_typer(config_app, name="config")

# Wide enough for every column of `device list` at full length (ids are at most 32).
_PIPED_WIDTH = 400
ClientFactory = Callable[[], CloudClient]
DeviceId = Annotated[str, typer.Argument(help="The device id, e.g. station-07-door-1.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the cloud's JSON instead.")]
Wait = Annotated[
    float, typer.Option(help="Wait up to S seconds for the box to answer (0: do not wait).")
]


def fail(message: str) -> typer.Exit:
    print_error(console, message)
    return typer.Exit(code=2)


@device_app.callback()
def login(
    ctx: typer.Context,
    cloud: Annotated[
        str, typer.Option(envvar="YIZHAN_CLOUD_URL", help="The cloud's base URL.")
    ] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None,
        typer.Option(envvar="YIZHAN_TOKEN", help="An API token (yzt_…) or access token."),
    ] = None,
    user: Annotated[
        str | None, typer.Option(envvar="YIZHAN_USER", help="Log in as this user.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Remember how to reach the cloud; the login itself happens on first use."""
    if isinstance(ctx.obj, dict) and "client_factory" in ctx.obj:
        return  # tests hand in a client bound to an in-process app

    def factory() -> CloudClient:
        password = None
        if user is not None and token is None:
            if password_stdin:
                password = sys.stdin.readline().rstrip("\n")
            else:
                password = typer.prompt(f"password for {user}", hide_input=True)
        return CloudClient(CloudLogin(url=cloud, token=token, username=user, password=password))

    ctx.obj = {"client_factory": factory}


@contextmanager
def cloud_session(ctx: typer.Context, *, details: bool = True) -> Iterator[CloudClient]:
    """The logged-in client; a :class:`CloudError` becomes a person's error and exit code 2.

    ``details=False``: the message alone, one line (the cloud's message names the fields).
    """
    client: CloudClient | None = None
    try:
        client = ctx.obj["client_factory"]()
        yield client
    except CloudError as exc:
        detail = _details(exc.details, said=str(exc)) if details else ""
        raise fail(f"{exc}{detail}") from None
    finally:
        if client is not None:
            client.close()


def _details(details: Any, *, said: str) -> str:
    """One line per detail the message has not said already (a field's own sentence)."""
    if not isinstance(details, list):
        return ""
    lines = []
    for item in details[:10]:
        text = str(item.get("message") or item) if isinstance(item, dict) else str(item)
        if text not in said:
            lines.append(f"\n  - {text}")
    return "".join(lines)


def wide_when_piped() -> None:
    """Tables piped to a file or `grep` keep whole ids: rich would fit them into 80
    columns and cut ``station-07-door-1`` to ``stat…``; a terminal keeps its own width."""
    if not console.is_terminal:
        console.width = _PIPED_WIDTH


def print_json(body: Any) -> None:
    typer.echo(json.dumps(body, ensure_ascii=False, indent=2))


@device_app.command("list")
def device_list(
    ctx: typer.Context,
    venue: Annotated[str | None, typer.Option(help="Only this venue's devices.")] = None,
    online: Annotated[bool | None, typer.Option(help="Only online (or --no-online).")] = None,
    as_json: AsJson = False,
) -> None:
    """The fleet as a table: state, version, last seen, health, config."""
    with cloud_session(ctx) as cloud:
        body = cloud.get("/devices", venue_id=venue, online=online, limit=1000)
    if as_json:
        print_json(body)
    else:
        wide_when_piped()
        render_devices(body["data"], total=body["count"])


@device_app.command("show")
def device_show(ctx: typer.Context, device: DeviceId, as_json: AsJson = False) -> None:
    """One device: identity, health, config applied or refused, recent commands.

    Times are shown in the venue's time zone (stored in UTC).
    """
    with cloud_session(ctx) as cloud:
        body = cloud.get(f"/devices/{device}")
        zone = _venue_zone(cloud, str(body["venue_id"]))
    if as_json:
        print_json(body)
    else:
        render_device(body, zone=zone)


def _venue_zone(cloud: CloudClient, venue: str) -> str:
    """The venue's IANA zone; the default when the caller may not read the venue."""
    try:
        return str(cloud.get(f"/venues/{venue}").get("timezone") or DEFAULT_ZONE)
    except CloudError:
        return DEFAULT_ZONE


@device_app.command("pending")
def device_pending(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Unclaimed boxes that are powered on and saying hello."""
    with cloud_session(ctx) as cloud:
        body = cloud.get("/devices/pending")
    if as_json:
        print_json(body)
    else:
        render_pending(body["data"])


@device_app.command("label")
def device_label(
    data_dir: Annotated[Path, typer.Option(help="The box's data folder.")] = Path(".yizhan/edge"),
    out: Annotated[Path | None, typer.Option(help="Also write the label's QR as a PNG.")] = None,
    renew: Annotated[
        bool, typer.Option("--renew", help="New claim secret (same serial): a lapsed code.")
    ] = False,
) -> None:
    """Print this box's factory claim code as a QR label (run on the box)."""
    import qrcode  # noqa: PLC0415

    from edge.provision.factory import load_or_create  # noqa: PLC0415
    from edge.provision.identity import ProvisionError  # noqa: PLC0415
    from yizhan.cli_render import write_qr_png  # noqa: PLC0415

    try:
        code = load_or_create(data_dir, renew=renew)
    except ProvisionError as exc:
        raise fail(str(exc)) from None
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    qr.add_data(code.qr_text())
    qr.make(fit=True)
    qr.print_ascii(out=sys.stdout, invert=True)
    typer.echo(code.text())
    console.print(
        f"serial {code.serial} — claim it with: yizhan device claim CODE --venue …", markup=False
    )
    if out is not None:
        write_qr_png(qr.get_matrix(), out)
        console.print(f"wrote {out}", markup=False)


@device_app.command("claim")
def device_claim(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="The code on the box's label (YZC1-…).")],
    venue: Annotated[str, typer.Option(help="The venue the box goes to.")],
    role: Annotated[str, typer.Option(help="door | kiosk | sensor-hub")],
    device_id: Annotated[
        str | None, typer.Option("--device-id", help="Its id (default: made from venue+role).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="A TOML file: its first desired configuration.")
    ] = None,
    wait: Wait = 0.0,
    as_json: AsJson = False,
) -> None:
    """Claim a new box into a venue: its identity, credentials and config, in one step."""
    from protocol.provisioning import ROLES, ClaimCode, ClaimCodeError  # noqa: PLC0415

    try:
        ClaimCode.parse(code)  # a typo is caught here, without spending a cloud attempt
    except ClaimCodeError as exc:
        raise fail(str(exc)) from None
    if role not in ROLES:
        raise fail(f"role {role!r} is not one of {', '.join(ROLES)}")
    body: dict[str, Any] = {"code": code, "venue_id": venue, "role": role}
    if device_id is not None:
        body["device_id"] = device_id
    if config is not None:
        body["settings"] = _read_settings(config)
    with cloud_session(ctx) as cloud:
        device = cloud.post("/devices/claim", body)
        console.print(
            f"[green]claimed[/green]: box {escape(str(device.get('serial')))} is now "
            f"{escape(device['id'])} ({escape(role)}) at {escape(device['venue_id'])}"
        )
        if wait > 0:
            device = _wait_for(
                cloud, device["id"], wait, lambda d: bool(d.get("online")), what="online"
            )
    if as_json:
        print_json(device)


@device_app.command("unlock")
def device_unlock(
    ctx: typer.Context,
    device: DeviceId,
    door: Annotated[str, typer.Option(help="Which door of the box.")] = "main",
    expires_in: Annotated[int, typer.Option(help="Seconds the command stays valid.")] = 120,
    wait: Wait = 15.0,
) -> None:
    """Open a door once, now (the box refuses it after --expires-in seconds)."""
    _command(ctx, device, "unlock", {"door": door, "expires_in_s": expires_in}, wait=wait)


@device_app.command("restart")
def device_restart(ctx: typer.Context, device: DeviceId, wait: Wait = 15.0) -> None:
    """Restart the box's agent (it re-reads its config and identity)."""
    _command(ctx, device, "restart", {}, wait=wait)


@device_app.command("diagnostics")
def device_diagnostics(ctx: typer.Context, device: DeviceId, wait: Wait = 30.0) -> None:
    """Ask the box for a diagnostics bundle: versions, uptime, disk, temperature, logs."""
    _command(ctx, device, "diagnostics", {}, wait=wait)
    if wait <= 0:
        return
    with cloud_session(ctx) as cloud:
        print_json(cloud.get(f"/devices/{device}/diagnostics"))


@device_app.command("rotate-credentials")
def device_rotate(ctx: typer.Context, device: DeviceId, wait: Wait = 30.0) -> None:
    """Give the box a new broker password; the old one stops working once it has it."""
    _command(ctx, device, "rotate-credentials", {}, wait=wait)


@device_app.command("decommission")
def device_decommission(
    ctx: typer.Context,
    device: DeviceId,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Retire a box: revoke its credentials and tell it to wipe its member cache."""
    if not yes:
        typer.confirm(f"decommission {device}? It stops working at once", abort=True)
    with cloud_session(ctx) as cloud:
        body = cloud.post(f"/devices/{device}/decommission")
    console.print(
        f"[yellow]decommissioned[/yellow]: {escape(body['id'])} ({escape(body['status'])})"
    )


@config_app.command("push")
def config_push(
    ctx: typer.Context,
    device: DeviceId,
    file: Annotated[Path, typer.Argument(help="A TOML file with the settings to push.")],
    wait: Wait = 30.0,
) -> None:
    """Push a new desired config; the box applies it or says why not (the old one stays)."""
    settings = _read_settings(file)
    with cloud_session(ctx) as cloud:
        pushed = cloud.put(f"/devices/{device}/config", {"settings": settings})
        version = int(pushed["version"])
        console.print(f"config version {version} queued for {device}", markup=False)
        if wait <= 0:
            return
        done = _wait_for(cloud, device, wait, lambda d: _config_settled(d, version), what="config")
    state = done.get("config") or {}
    if state.get("applied_version") == version:
        console.print(f"[green]applied[/green]: {escape(device)} runs config version {version}")
        return
    reasons = "".join(f"\n  - {r}" for r in state.get("rejected_errors") or [])
    raise fail(f"{device} refused config version {version}; it keeps its old one:{reasons}")


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="A pushable TOML file (what `push` sends).")],
    box: Annotated[
        Path | None,
        typer.Option(help="Also lay it over this box's own TOML file, as the box will."),
    ] = None,
) -> None:
    """Check a pushable config here, without the cloud: what the cloud checks, and with
    --box what the box checks too. A box's own file is checked with `yizhan edge check-config`.
    """
    from protocol.device_config import NOT_PUSHABLE, config_problems  # noqa: PLC0415

    settings = _read_settings(file)
    problems = config_problems(settings)
    if problems:
        hint = ""
        if settings.keys() & NOT_PUSHABLE:
            hint = "\n(a box's own file? check it with `yizhan edge check-config FILE`)"
        lines = "".join(f"\n  - {p}" for p in problems)
        raise fail(f"{file} cannot be pushed:{lines}{hint}")
    sections = ", ".join(sorted(settings)) or "nothing"
    if box is not None:
        _check_on_box(settings, box)
        console.print(
            f"[green]ok[/green]: {escape(str(file))} — pushable ({sections}); "
            f"{escape(str(box))} takes it"
        )
        return
    console.print(f"[green]ok[/green]: {escape(str(file))} — pushable ({sections})")


def _check_on_box(settings: dict[str, Any], box: Path) -> None:
    """Build the box's settings from its file and ``settings`` pushed, as the box does."""
    from edge.settings import ConfigError, SettingsLayers  # noqa: PLC0415

    try:
        SettingsLayers(_read_toml(box), source=str(box)).build(settings)
    except ConfigError as exc:
        raise fail(str(exc)) from None


@config_app.command("show")
def config_show(ctx: typer.Context, device: DeviceId) -> None:
    """The desired, applied and last refused configuration of a device."""
    with cloud_session(ctx) as cloud:
        print_json(cloud.get(f"/devices/{device}/config"))


def _config_settled(device: dict[str, Any], version: int) -> bool:
    state = device.get("config") or {}
    return version in (state.get("applied_version"), state.get("rejected_version"))


def _command(
    ctx: typer.Context, device: str, name: str, body: dict[str, Any], *, wait: float
) -> None:
    with cloud_session(ctx) as cloud:
        sent = cloud.post(f"/devices/{device}/commands/{name}", body)
        command_id = sent["command_id"]
        console.print(
            f"{name} {command_id} sent to {device}, valid until {sent['expires_at']}",
            markup=False,
        )
        if wait <= 0:
            return
        done = _wait_for(
            cloud, device, wait, lambda d: _command_status(d, command_id) in _FINAL, what=name
        )
    status = _command_status(done, command_id)
    detail = next(
        (c.get("detail") or "" for c in done.get("commands", []) if c["command_id"] == command_id),
        "",
    )
    if status != "done":
        raise fail(f"{name} on {device}: {status} {detail}".rstrip())
    done_text = f"{name} on {device} {detail}".rstrip()
    console.print(f"[green]done[/green]: {escape(done_text)}")


_FINAL = frozenset({"done", "failed", "refused", "expired"})


def _command_status(device: dict[str, Any], command_id: str) -> str | None:
    for command in device.get("commands", []):
        if command["command_id"] == command_id:
            return str(command["status"])
    return None


def _wait_for(
    cloud: CloudClient,
    device: str,
    seconds: float,
    done: Callable[[dict[str, Any]], bool],
    *,
    what: str,
) -> dict[str, Any]:
    """Poll the device until ``done`` holds; a timeout is an error naming what to check."""
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = cloud.get(f"/devices/{device}")
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise fail(
                f"no answer from {device} ({what}) within {seconds:.0f} s; it may be offline — "
                f"`yizhan device show {device}` tells when it was last seen"
            )
        time.sleep(0.5)  # polling a remote API: there is no condition to wait on locally


def _read_settings(path: Path) -> dict[str, Any]:
    """A pushable TOML file as the JSON the cloud takes (TOML dates become ISO text)."""
    from protocol.device_config import settings_from_toml  # noqa: PLC0415
    from protocol.errors import PayloadError  # noqa: PLC0415

    try:
        return settings_from_toml(_read_toml(path))
    except PayloadError as exc:
        raise fail(f"{path}: {exc}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise fail(f"{path} is not valid TOML: {exc}") from None
