"""A box's main loop: get claimed if it is not, run the agent, start it again when asked.

``yizhan edge run`` calls :func:`run_box`. Each round reads everything afresh (the file,
the identity, the applied cloud config), so a restart command, a pushed config and a wipe
all take effect the same way: the agent returns, and the loop builds the box again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from edge.clock import Clock
from edge.outbox import NewEvent
from edge.provision.claim import DEVICE_TREE_MODEL, hardware_model, wait_for_claim
from edge.provision.errors import ProvisionError
from edge.provision.factory import load_or_create
from edge.provision.identity import Identity
from edge.settings import (
    AppliedConfig,
    ConfigError,
    EdgeSettings,
    SettingsLayers,
    UnclaimedBox,
    load_layers,
    read_applied,
    write_applied,
)
from edge.systemd import NoService, ServiceHooks
from protocol.device_config import REJECTED_EVENT, rejected_event_data

if TYPE_CHECKING:
    from edge.agent import HardwareFactory

logger = logging.getLogger(__name__)


class AgentLike(Protocol):
    """What the loop needs of an agent (``edge.agent.EdgeAgent``)."""

    def run(self, stop: threading.Event) -> object: ...

    def close(self) -> None: ...


AgentBuilder = Callable[..., AgentLike]


@dataclass(frozen=True)
class RunOutcome:
    """How the loop ended: stopped as asked, or a problem a person has to fix."""

    status: Literal["stopped", "config_error", "error"]
    message: str = ""
    report: object | None = None  # the agent's last report, when it ran

    @property
    def ok(self) -> bool:
        return self.status == "stopped"


@dataclass(frozen=True)
class _Box:
    """What stays the same for every round of the loop."""

    clock: Clock
    hardware_for: Callable[[EdgeSettings], HardwareFactory]
    software: str | None
    build_agent: AgentBuilder
    model_file: Path
    service: ServiceHooks
    announce: Callable[[str], None]


def run_box(
    config: Path | None,
    *,
    overrides: dict[str, Any],
    stop: threading.Event,
    clock: Clock,
    hardware_for: Callable[[EdgeSettings], HardwareFactory],
    software: str | None,
    build_agent: AgentBuilder | None = None,
    model_file: Path = DEVICE_TREE_MODEL,
    service: ServiceHooks | None = None,
    announce: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Run the box until ``stop`` is set; claim it first when nothing says who it is.

    ``service`` hears how the box is (systemd's ready, status and watchdog, edge/systemd.py);
    ``announce`` tells the person at the box what it is doing (its claim code, then what
    runs), whatever the log level; without it, these lines are logged.
    """
    hooks = service or NoService()
    say = announce or logger.info
    box = _Box(clock, hardware_for, software, build_agent or _edge_agent, model_file, hooks, say)
    try:
        return _loop(config, overrides=overrides, stop=stop, box=box)
    finally:
        hooks.stopping()


def _loop(
    config: Path | None, *, overrides: dict[str, Any], stop: threading.Event, box: _Box
) -> RunOutcome:
    report: object | None = None
    while not stop.is_set():
        try:
            layers = load_layers(config, **overrides)
            if layers.unclaimed is not None:
                if not _claim(layers.unclaimed, box, stop):
                    break
                continue  # claimed: read everything again, now with the identity
            agent = _start(layers, box)
        except ConfigError as exc:
            return RunOutcome("config_error", str(exc))
        except ProvisionError as exc:
            return RunOutcome("error", str(exc))
        outcome, report = _run(agent, stop)
        box.service.watch(None)
        if outcome == "stopped":
            break
        logger.info("the agent ended with %r; starting the box again", outcome)
    return RunOutcome("stopped", report=report)


def _claim(unclaimed: UnclaimedBox, box: _Box, stop: threading.Event) -> bool:
    """Wait for the claim and keep its bundle; False when stopped first."""
    code = load_or_create(unclaimed.data_dir)
    provision = unclaimed.provision
    box.service.ready(f"waiting to be claimed: label {code.text()}")
    box.announce(
        f"this box is not claimed yet; its claim code is {code.text()}\n"
        f"claim it with `yizhan device claim {code.text()} --venue VENUE --role ROLE`; "
        f"waiting via {provision.mqtt_host}:{provision.mqtt_port} (Ctrl-C stops)"
    )
    bundle = wait_for_claim(
        provision,
        code,
        stop=stop,
        clock=box.clock,
        software=box.software,
        hardware=hardware_model(box.model_file),
    )
    if bundle is None:
        return False
    Identity.save_bundle(unclaimed.data_dir, bundle)
    return True


def _start(layers: SettingsLayers, box: _Box) -> AgentLike:
    """Build the agent on the applied cloud config, or without it when that one fails.

    A pushed config must never brick a box: whatever it breaks, the box comes up on its
    file and its claim, says why in its log and to the cloud (``config.rejected``), and
    keeps the version as handled with no settings, so the retained copy of the same
    version is not applied again on every start (that would loop: apply, break, restart).
    """
    applied = read_applied(layers.data_dir)
    identity = Identity.load(layers.data_dir)
    if applied is None or not applied.settings:
        return _build(layers, box, identity, version=applied.version if applied else 0)
    try:
        return _build(layers, box, identity, pushed=applied.settings, version=applied.version)
    except ConfigError as exc:
        reason = str(exc).splitlines()[1:] or [str(exc)]
    except Exception as exc:  # a boundary: whatever it broke, fall back to the file and claim
        logger.exception("cloud config version %d broke the start", applied.version)
        reason = [f"the box could not start on it: {exc}"]
    logger.warning(
        "cloud config version %d does not fit this box; running without it: %s",
        applied.version,
        "; ".join(reason),
    )
    write_applied(layers.data_dir, AppliedConfig(applied.version, {}))
    note = NewEvent(
        box.clock(),
        REJECTED_EVENT,
        rejected_event_data(applied.version, [r.strip(" -") for r in reason]),
    )
    return _build(layers, box, identity, version=applied.version, notes=(note,))


def _build(
    layers: SettingsLayers,
    box: _Box,
    identity: Identity | None,
    *,
    pushed: dict[str, Any] | None = None,
    version: int,
    notes: tuple[NewEvent, ...] = (),
) -> AgentLike:
    settings = layers.build(pushed)
    agent = box.build_agent(
        settings,
        clock=box.clock,
        hardware=box.hardware_for(settings),
        software=box.software,
        identity=identity,
        layers=layers,
        config_version=version,
        notes=notes,
    )
    # A test's stand-in agent may have no health to report; the process being alive is then
    # all the watchdog checks.
    box.service.watch(getattr(agent, "problems", None))
    box.service.ready(f"{settings.role} {settings.device} at {settings.venue}")
    box.announce(f"running: {settings.role} {settings.device} at {settings.venue}")
    return agent


def _run(agent: AgentLike, stop: threading.Event) -> tuple[str, object | None]:
    """Run until the agent returns; what it asks for next, and its report."""
    try:
        report = agent.run(stop)
    finally:
        agent.close()
    outcome = "stopped" if stop.is_set() else str(getattr(report, "outcome", "stopped"))
    return outcome, report


def _edge_agent(settings: EdgeSettings, **kwargs: Any) -> AgentLike:
    from edge.agent import EdgeAgent  # noqa: PLC0415 - cameras and GPIO load with it

    return EdgeAgent(settings, **kwargs)
