"""``yizhan-edge-update``: the box's installer (root), its boot check and its first install.

Run by systemd on a box, never by the agent (deploy/pi/):

- ``recover`` before every start of the agent (``ExecStartPre=+``): finish or undo an
  update a power cut interrupted, so the agent starts on a release that works;
- ``apply`` when the agent left a request (``yizhan-edge-update.path``): check it, build the
  release, switch, wait for health, roll back if it does not come;
- ``bootstrap`` from deploy/pi/install.sh: the first release (or an old install's
  migration) from a signed wheelhouse on hand, no network;
- ``status``: what runs, what is kept for rollback, and the last update step.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from edge.update import journal
from edge.update.install import (
    DEFAULT_HEALTH_DEADLINE_S,
    Installer,
    Systemd,
    bootstrap,
    recover,
)
from edge.update.layout import Layout
from edge.update.spool import Spool
from protocol.release import ReleaseError

DEFAULT_ROOT = Path("/opt/yizhan")
DEFAULT_DATA = Path("/var/lib/yizhan")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yizhan-edge-update",
        description="Install, switch and roll back this box's software releases (as root).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="the install root")
        return sub

    boot = add("bootstrap", "install the first release from a signed wheelhouse folder")
    boot.add_argument("--wheelhouse", type=Path, required=True, help="folder with manifest.json")
    boot.add_argument("--key", type=Path, required=True, help="the release public key (JSON)")
    boot.add_argument(
        "--system-site-packages", action="store_true", help="see the system's packages (lgpio)"
    )
    apply = add("apply", "carry out the agent's update request, if there is one")
    apply.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="the agent's state")
    apply.add_argument("--unit", default="yizhan-edge.service", help="the agent's unit")
    apply.add_argument(
        "--health-deadline",
        type=float,
        default=DEFAULT_HEALTH_DEADLINE_S,
        help="seconds the new release has to report healthy",
    )
    apply.add_argument(
        "--system-site-packages", action="store_true", help="see the system's packages (lgpio)"
    )
    fix = add("recover", "put a box cut off mid-update back on a release that works")
    fix.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="the agent's state")
    add("status", "what runs, what is kept for rollback, the last update step")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="yizhan-edge-update: %(message)s")
    layout = Layout(args.root)
    try:
        return _run(args, layout)
    except (ReleaseError, ValueError, OSError, RuntimeError) as exc:
        sys.stderr.write(f"yizhan-edge-update {args.command}: {exc}\n")
        return 1


def _run(args: argparse.Namespace, layout: Layout) -> int:
    if args.command == "bootstrap":
        version = bootstrap(
            layout, args.wheelhouse, args.key, system_site=args.system_site_packages
        )
        print(f"installed {version} under {layout.root} (current and previous)")  # noqa: T201
        return 0
    if args.command == "recover":
        print(recover(layout, Spool.of(args.data_dir)))  # noqa: T201
        return 0
    if args.command == "apply":
        installer = Installer(
            layout,
            Spool.of(args.data_dir),
            Systemd(args.unit),
            health_deadline_s=args.health_deadline,
            system_site=args.system_site_packages,
        )
        report = installer.apply()
        if report is None:
            print("no update request")  # noqa: T201
            return 0
        print(f"{report.release}: {report.state} {report.detail}".rstrip())  # noqa: T201
        return 0 if report.state == "healthy" else 1
    if not layout.exists():
        sys.stderr.write(
            f"yizhan-edge-update status: no release layout under {layout.root} "
            "(deploy/pi/install.sh --wheelhouse … sets it up)\n"
        )
        return 1
    entry = journal.read(layout.journal_file)
    current, previous = layout.target(layout.current), layout.target(layout.previous)
    print(f"current {current or '-'}, previous {previous or '-'}")  # noqa: T201
    if entry is not None:
        print(f"last update: {entry.release} {entry.step} {entry.detail}".rstrip())  # noqa: T201
    return 0


if __name__ == "__main__":  # pragma: no cover - `python -m yizhan.box_update`
    raise SystemExit(main())
