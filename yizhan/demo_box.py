"""The demo's unclaimed box: a factory-fresh sensor hub saying hello, for the fleet page.

It runs the real runner (``edge.runner.run_box``) against the demo's development broker, so
a person trying the dashboard can claim it from /fleet with the label printed at start.
"""

from __future__ import annotations

import json
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from edge.provision.factory import load_or_create
from edge.runner import run_box
from edge.settings import EdgeSettings
from protocol.provisioning import ClaimCode
from yizhan.simhw import sim_hardware

# The development broker is anonymous: any provisioning login is let in. A production
# broker gives the provisioning account only hello and bundle topics (yizhan broker --secure).
_DEV_PROVISION_PASSWORD = "demo-provisioning"  # noqa: S105  (the open broker checks nothing)


def _hardware_for(_settings: EdgeSettings) -> Any:
    return sim_hardware


def start_unclaimed_box(
    stack: ExitStack, *, data_dir: Path, mqtt_port: int, clock: Any
) -> ClaimCode:
    """Power on a new box under ``data_dir``; returns its label. Stopped with ``stack``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    code = load_or_create(data_dir)
    config = data_dir / "box.toml"
    # json.dumps makes a valid TOML basic string of any path (quotes, backslashes).
    config.write_text(
        f"data_dir = {json.dumps(str(data_dir))}\ndrain_on_stop_s = 1\n\n"
        '[hardware]\nkind = "sim"\nprofile = "worker-home"\nspeed = 60\n\n'
        f'[provision]\nmqtt_host = "127.0.0.1"\nmqtt_port = {mqtt_port}\n'
        f'password = "{_DEV_PROVISION_PASSWORD}"\nhello_interval_s = 2\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    stop = threading.Event()

    def run() -> None:
        run_box(
            config,
            overrides={},
            stop=stop,
            clock=clock,
            hardware_for=_hardware_for,
            software="yizhan demo",
        )

    thread = threading.Thread(target=run, name="demo-new-box", daemon=True)
    thread.start()

    def power_off() -> None:
        stop.set()
        thread.join(timeout=30)

    stack.callback(power_off)
    return code
