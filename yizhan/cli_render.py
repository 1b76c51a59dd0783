"""How the fleet and failures look in a terminal: device tables, one device in detail, QR PNGs,
and the one-line `error: …` a failed command ends with."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

# stderr: tables are for people; --json output on stdout stays clean for scripts.
console = Console(stderr=True, soft_wrap=True)
# Stored in UTC, shown in the venue's zone; most venues are in China.
DEFAULT_ZONE = "Asia/Shanghai"
_VERBOSE = "yizhan.verbose"
_VERBOSE_FLAGS = frozenset({"-v", "--verbose"})


def print_error(out: Console, message: str) -> None:
    """``error: …`` with the message as plain text: text from an exception or a settings
    error keeps its ``[door]``, which rich would otherwise take for markup and drop."""
    out.print(f"[red]error:[/red] {escape(message)}")


class ReportingGroup(TyperGroup):
    """The root command: a known failure of any subcommand ends as an ``error: …`` line and
    a non-zero exit (2: fix the command or its config, 1: something failed while running),
    never as a traceback a technician has to read from the bottom up."""

    # Any: typer vendors click's Context under a private module name.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        hide_flag_types(self, ctx)
        # The subcommand's -v/--verbose also asks for the traceback of a reported failure.
        ctx.meta[_VERBOSE] = not _VERBOSE_FLAGS.isdisjoint(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            reported = failure_report(exc)
            if reported is None:
                raise
            message, code = reported
            if ctx.meta.get(_VERBOSE):
                console.print_exception()
            print_error(console, message)
            raise typer.Exit(code=code) from None


def hide_flag_types(command: Any, ctx: Any) -> None:
    """Show ``--json``, not ``--json <bool>``, in help: typer's rich help gives every option its
    type, even a flag, which takes no value; an empty metavar leaves the column blank."""
    for param in command.get_params(ctx):  # with --help, which typer adds per command
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        hide_flag_types(sub, ctx)


def failure_report(exc: Exception) -> tuple[str, int] | None:
    """What to tell a person about ``exc`` and the exit code; None: an unexpected bug,
    whose traceback is the useful report."""
    from sqlalchemy.exc import OperationalError  # noqa: PLC0415 - only when failing

    from cloud.core.db import DatabaseUnreachableError, unreachable  # noqa: PLC0415
    from ops.broker.errors import (  # noqa: PLC0415
        BrokerError,
        BrokerPortInUseError,
        BrokerStartError,
    )
    from yizhan.bench import BenchOptionError  # noqa: PLC0415

    if isinstance(exc, BenchOptionError):
        return str(exc), 2
    if isinstance(exc, OperationalError):  # a command that did not name its database
        return str(unreachable(None, exc)), 1
    if isinstance(exc, BrokerStartError):
        return exc.summary, 2 if isinstance(exc, BrokerPortInUseError) else 1
    if isinstance(exc, (DatabaseUnreachableError, BrokerError)):
        return str(exc), 1
    if isinstance(exc, OSError):
        return _os_error(exc)
    return None


def _os_error(exc: OSError) -> tuple[str, int]:
    reason = exc.strerror or str(exc)
    if exc.filename is not None:
        # A folder or file from a flag or a config: the person picks another one.
        where = exc.filename
        return f"cannot use {where}: {reason}; give a folder that this user may write", 2
    return reason, 1


def ingest_summary(stats: Any) -> str:
    """What an ingest worker stored, in one line (its full counters are on /metrics)."""
    text = (
        f"{stats.received} messages received, {stats.stored} items stored, "
        f"{stats.duplicates} duplicates, {stats.rejected} rejected"
    )
    errors = stats.write_errors + stats.writer_errors
    return text + (f", {errors} write errors (last: {stats.last_error})" if errors else "")


def serving_line(host: str, port: int) -> str:
    """Where ``cloud serve`` listens; a wildcard address is shown as this machine's."""
    wildcards = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - shown, not bound
    shown = wildcards.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"  # an IPv6 address in a URL
    base = f"http://{shown}:{port}"
    also = " (and on every address of this machine)" if host in wildcards else ""
    return f"serving the dashboard at {base}/ and the API docs at {base}/docs{also}"


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def ago(value: str | None, *, now: datetime | None = None) -> str:
    """ "12 s ago", "3 min ago", "2 h ago", "5 d ago" or "never"."""
    moment = _parse(value)
    if moment is None:
        return "never"
    seconds = max(0.0, ((now or datetime.now(UTC)) - moment).total_seconds())
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def local(value: str | None, zone: str = DEFAULT_ZONE) -> str:
    moment = _parse(value)
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def _health(device: dict[str, Any]) -> dict[str, Any]:
    health = device.get("health")
    return health if isinstance(health, dict) else {}


def _or_dash(value: Any) -> str:
    # The API sends null for what a box did not report (no thermal sensor, no heartbeat yet).
    return "—" if value is None else str(value)


def _celsius(value: Any) -> str:
    return f"{value:.1f} °C" if isinstance(value, int | float) else "—"


def _uptime(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "—"
    days, rest = divmod(int(seconds), 86_400)
    return f"{days}d{rest // 3600:02d}h" if days else f"{rest // 3600}h{rest % 3600 // 60:02d}m"


def _config(device: dict[str, Any]) -> str:
    state = device.get("config") or {}
    desired, applied = state.get("desired_version"), state.get("applied_version")
    rejected = state.get("rejected_version")
    if desired is None and applied is None:
        return "—"
    text = f"v{applied if applied is not None else '—'}"
    if desired is not None and desired != applied:
        text += f" → v{desired}"
    if rejected is not None and rejected == desired:
        text += " [red]refused[/red]"
    return text


def _state(device: dict[str, Any]) -> str:
    status = str(device.get("status") or "active")
    if status == "decommissioned":
        return "[dim]decommissioned[/dim]"
    online = "[green]online[/green]" if device.get("online") else "[red]offline[/red]"
    state = online if status == "active" else f"{online} ({status})"
    faults = len(device.get("faults") or [])
    return f"{state} [red]{faults} fault{'s' if faults > 1 else ''}[/red]" if faults else state


def _said(value: Any) -> str:
    """Text a box reported (software, serial, hardware): shown as it is, never as markup."""
    return escape(str(value)) if value not in (None, "") else "—"


def render_devices(devices: list[dict[str, Any]], *, total: int) -> None:
    table = Table(title=f"devices ({len(devices)} of {total})", title_justify="left")
    for column in ("device", "venue", "role", "state", "last seen", "version", "uptime"):
        table.add_column(column)
    for column in ("disk free", "CPU °C", "outbox", "config"):
        table.add_column(column, justify="right")
    for device in devices:
        health = _health(device)
        disk = health.get("disk_free_mb")
        table.add_row(
            device["id"],
            device["venue_id"],
            device.get("role") or "—",
            _state(device),
            ago(device.get("last_seen_at")),
            _said(health.get("software") or device.get("software")),
            _uptime(health.get("uptime_s")),
            f"{disk} MB" if disk is not None else "—",
            _celsius(health.get("cpu_temp_c")).removesuffix(" °C"),
            _or_dash(health.get("outbox_depth")),
            _config(device),
        )
    console.print(table)


def render_device(device: dict[str, Any], *, zone: str = DEFAULT_ZONE) -> None:
    health = _health(device)
    rows = [
        ("device", device["id"]),
        ("venue", device["venue_id"]),
        ("role", device.get("role") or "—"),
        ("serial", _said(device.get("serial"))),
        ("state", _state(device)),
        (
            "last seen",
            f"{ago(device.get('last_seen_at'))} ({local(device.get('last_seen_at'), zone)})",
        ),
        ("software", _said(health.get("software") or device.get("software"))),
        ("uptime", _uptime(health.get("uptime_s"))),
        (
            "disk free",
            f"{_or_dash(health.get('disk_free_mb'))} of {_or_dash(health.get('disk_total_mb'))} MB",
        ),
        ("CPU temperature", _celsius(health.get("cpu_temp_c"))),
        ("outbox depth", _or_dash(health.get("outbox_depth"))),
        ("issuer keys", _said(health.get("issuer_keys"))),
        ("credentials", f"generation {device.get('credential_generation', 0)}"),
        ("config", _config(device)),
    ]
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    reasons = (device.get("config") or {}).get("rejected_errors") or []
    for reason in reasons:
        console.print(f"  [red]config refused:[/red] {escape(str(reason))}")
    for fault in device.get("faults") or []:
        since = local(fault.get("since"), zone)
        said = f"{fault.get('sensor')}: {fault.get('problem')} (since {since})"
        console.print(f"  [red]fault:[/red] {escape(said)}")
    _render_commands(device.get("commands") or [], zone=zone)


def _render_commands(commands: list[dict[str, Any]], *, zone: str) -> None:
    if not commands:
        return
    table = Table(title="recent commands", title_justify="left")
    for column in ("issued", "command", "by", "status", "detail"):
        table.add_column(column)
    for command in commands:
        table.add_row(
            local(command.get("issued_at"), zone),
            command["name"],
            command.get("issued_by") or "—",
            command["status"],
            escape(command.get("detail") or ""),  # the box's words, not markup
        )
    console.print(table)


def render_pending(boxes: list[dict[str, Any]]) -> None:
    if not boxes:
        console.print("no unclaimed box is saying hello; power one on and connect it")
        return
    table = Table(title="unclaimed boxes saying hello", title_justify="left")
    for column in ("serial", "first seen", "last seen", "software", "hardware"):
        table.add_column(column)
    for box in boxes:
        table.add_row(
            _said(box["serial"]),
            local(box.get("first_seen_at")),
            ago(box.get("last_seen_at")),
            _said(box.get("software")),
            _said(box.get("hardware")),
        )
    console.print(table)


def write_qr_png(matrix: list[list[bool]], out: Path, *, scale: int = 8) -> None:
    """Render with OpenCV (already a dependency) instead of pulling in Pillow."""
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    dark = np.array(matrix, dtype=bool)
    image = np.where(dark, 0, 255).astype(np.uint8)
    image = np.kron(image, np.ones((scale, scale), dtype=np.uint8))
    if not cv2.imwrite(str(out), image):
        raise OSError(f"cannot write {out}; check the folder exists and is writable")
