"""A simulated box's init (it plays systemd, as firmware_sim plays the hardware) for the A/B layout.

On a box, systemd runs ``yizhan-edge-update recover`` before the agent, the agent from
``current``, restarts it when it dies, and starts the installer when the agent leaves a
request (deploy/pi/). Here one process does the same for one simulated box:

    python -m yizhan.siminit --root R --data-dir D --config box.toml

The installer is the real one (edge/update/install.py) with this process as the service it
stops and starts; the agent is the real ``yizhan.box`` run by the release's own Python, in
the data folder (never the source tree, whose packages would shadow the release's).
``YZ_UPDATE_CUT_AT`` makes the installer die at a step as a power cut would; kill this
process's group with it to cut the agent too.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Final

from edge.update.install import CUT_ENV, DEFAULT_HEALTH_DEADLINE_S, Installer, recover
from edge.update.layout import Layout
from edge.update.spool import Spool

logger = logging.getLogger(__name__)

RESTART_AFTER_S: Final = 1.0  # systemd's RestartSec, shortened for a simulation
STOP_TIMEOUT_S: Final = 20.0
_POLL_S: Final = 0.2
# What the agent must not inherit: the source tree's packages, the cut-point switch.
_DROPPED_ENV: Final = ("PYTHONPATH", "PYTHONHOME", CUT_ENV, "VIRTUAL_ENV")


class SimInit:
    def __init__(
        self,
        layout: Layout,
        data_dir: Path,
        config: Path,
        *,
        health_deadline_s: float = DEFAULT_HEALTH_DEADLINE_S,
        log: IO[bytes] | None = None,
    ) -> None:
        self.layout, self.data_dir, self.config = layout, data_dir, config
        self.spool = Spool.of(data_dir)
        self.health_deadline_s = health_deadline_s
        self._log = log
        self._child: subprocess.Popen[bytes] | None = None
        self._wanted = False  # whether the service should be running (systemd's "active")
        self.starts = 0

    # -- the service the installer stops and starts
    def start(self) -> None:
        self._wanted = True
        self._spawn()

    def stop(self) -> None:
        self._wanted = False
        child, self._child = self._child, None
        if child is None or child.poll() is not None:
            return
        began = time.monotonic()
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        logger.info("agent stopped in %.1f s", time.monotonic() - began)

    def _spawn(self) -> None:
        python = self.layout.current / "bin" / "python"
        env = {key: value for key, value in os.environ.items() if key not in _DROPPED_ENV}
        self._child = subprocess.Popen(  # noqa: S603 - the release's own Python, fixed arguments
            [str(python), "-I", "-u", "-m", "yizhan.box", "--config", str(self.config)],
            cwd=self.data_dir,
            env=env,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self.starts += 1
        logger.info("agent started from %s", self.layout.target(self.layout.current))

    def _watch(self, seconds: float) -> None:
        """Sleep, restarting the agent when it died while it should run (Restart=always)."""
        child = self._child
        if self._wanted and (child is None or child.poll() is not None):
            time.sleep(RESTART_AFTER_S)
            self._spawn()
        time.sleep(seconds)

    # -- the box's life
    def run(self, stop: threading.Event) -> None:
        logger.info("recover: %s", recover(self.layout, self.spool))
        self.start()
        installer = Installer(
            self.layout,
            self.spool,
            self,
            health_deadline_s=self.health_deadline_s,
            sleep=self._watch,
        )
        try:
            while not stop.is_set():
                if self.spool.request_file.exists():
                    report = installer.apply()
                    if report is not None:
                        logger.info("update %s: %s %s", report.release, report.state, report.detail)
                self._watch(_POLL_S)
        finally:
            self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m yizhan.siminit")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--health-deadline", type=float, default=DEFAULT_HEALTH_DEADLINE_S)
    parser.add_argument("--log", type=Path, help="the agent's output goes here")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s sim-init: %(message)s", stream=sys.stderr
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log = args.log.open("ab") if args.log else None
    try:
        init = SimInit(
            Layout(args.root),
            args.data_dir,
            args.config,
            health_deadline_s=args.health_deadline,
            log=log,
        )
        init.run(stop)
    finally:
        if log is not None:
            log.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
