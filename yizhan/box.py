"""``yizhan-edge --config FILE``: the box's own service, without the command line's libraries.

``yizhan edge run`` is for people: flags for every setting, a simulated venue, colours. The
systemd unit on a box runs this instead, so a Pi Zero 2 W does not carry typer, click, rich
and pygments (about 8 MB) for a process nobody types at. Both run :func:`run`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

# httpx imports its own command line (click, rich, pygments) whenever they are installed;
# a box never uses it. A None entry makes that import fail, and httpx carries on without it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from edge.clock import utc_now  # noqa: E402
from edge.errors import EdgeError  # noqa: E402
from edge.runner import RunOutcome, run_box  # noqa: E402
from edge.settings import EdgeSettings  # noqa: E402
from edge.systemd import service_from_environ  # noqa: E402
from yizhan.lifecycle import edge_summary, stop_on_signals  # noqa: E402

# What a box's parts raise when they cannot start (a full card, a missing camera, a bad
# key file, a broker that refuses the box): one line for the person, no traceback.
BOX_ERRORS = EdgeError


class BoxError(RuntimeError):
    """The box could not run; the message says why and what to do."""


def _hardware_for(settings: EdgeSettings) -> Any:
    if settings.hardware.kind == "sim":
        from yizhan.simhw import sim_hardware  # noqa: PLC0415 - a simulated box only

        return sim_hardware
    from edge.agent import real_hardware  # noqa: PLC0415

    return real_hardware


def software_version() -> str:
    from importlib.metadata import version  # noqa: PLC0415

    return f"yizhan {version('yizhan')}"


def run(
    config: Path | None,
    *,
    overrides: Mapping[str, Any],
    stop: threading.Event,
    announce: Callable[[str], None],
) -> RunOutcome:
    """Run a box until ``stop``; raises :class:`BoxError` with one line when it cannot."""
    try:
        outcome = run_box(
            config,
            overrides={k: v for k, v in overrides.items() if v is not None},
            stop=stop,
            clock=utc_now,
            hardware_for=_hardware_for,
            software=software_version(),
            # Under systemd (deploy/pi/yizhan-edge.service): ready, status and the watchdog.
            service=service_from_environ(os.environ),
            announce=announce,
        )
    except BOX_ERRORS as exc:
        raise BoxError(str(exc)) from None
    if not outcome.ok:
        raise BoxError(outcome.message)
    return outcome


def _logging(verbose: bool) -> None:
    handler: logging.Handler = logging.StreamHandler()
    if os.environ.get("JOURNAL_STREAM"):  # stderr is systemd's journal (a service)
        from yizhan.journal import journal_handler  # noqa: PLC0415

        handler = journal_handler()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(name)s: %(message)s",
        handlers=[handler],
    )


def _has_screen(config: Path) -> bool:
    """Whether the box's file gives its door a screen; an unreadable file says yes (its
    errors are for the settings to report, with nothing taken away from the box first)."""
    try:
        door = tomllib.loads(config.read_text(encoding="utf-8")).get("door")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True
    screen = door.get("screen") if isinstance(door, dict) else None
    return isinstance(screen, dict) and screen.get("enabled", True) is not False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="yizhan-edge",
        description="Run this box as its service: get it claimed if it is new, then sample, "
        "decide and send. Every setting is in the TOML file; `yizhan edge run --help` is the "
        "same with flags, for people.",
    )
    parser.add_argument("--config", type=Path, required=True, help="the box's TOML file")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the box does")
    args = parser.parse_args(argv)
    _logging(args.verbose)
    if not _has_screen(args.config):
        # Nothing on this box draws images. The simulated phones (firmware_sim) make their
        # codes with qrcode, which imports Pillow's drawers only "for backwards compatibility"
        # and carries on without them: ~5 MB a simulated door would count as its own. A door
        # with a [door.screen] draws its frames with Pillow.
        sys.modules.setdefault("PIL", None)  # type: ignore[arg-type]

    def say(line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    try:
        outcome = run(args.config, overrides={}, stop=stop_on_signals(), announce=say)
    except BoxError as exc:
        say(f"error: {exc}")
        return 1
    say(f"edge stopped: {edge_summary(outcome.report)}")
    return 0


if __name__ == "__main__":  # pragma: no cover - `python -m yizhan.box`
    raise SystemExit(main())
