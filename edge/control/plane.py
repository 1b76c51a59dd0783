"""The control plane of one box, assembled: commands, config, heartbeat, diagnostics, wipe."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.clock import Clock
from edge.control.actions import BoxActions, Unlock, Update
from edge.control.admission import CommandGate
from edge.control.config import ConfigApplier
from edge.control.diagnostics import DiagnosticsReporter, DirectPublish
from edge.control.dispatch import Dispatcher
from edge.control.heartbeat import THERMAL_ZONE, HeartbeatSources, heartbeat_event, read_heartbeat
from edge.control.lifecycle import Lifecycle
from edge.control.logs import LogRing
from edge.control.ports import BoxIdentity, EventSink, SettingsLayers, StoreApplied
from edge.control.seen import SeenStore
from edge.control.verdict import Status, Verdict
from edge.control.wipe import carry_out, plan_wipe
from edge.loops import every
from edge.outbox import NewEvent
from protocol.commands import WipeCommand

logger = logging.getLogger(__name__)

WIPE_INCOMPLETE_EVENT = "device.wipe_incomplete"


@dataclass(frozen=True, slots=True)
class BoxInfo:
    """Who the box is and where it keeps its files."""

    venue: str
    device: str
    role: str
    data_dir: Path
    software: str | None = None
    thermal_path: Path = THERMAL_ZONE


@dataclass(frozen=True, slots=True)
class ControlParts:
    """What the control plane reaches in the rest of the agent."""

    events: EventSink
    publish: DirectPublish  # straight to the broker, not through the outbox (diagnostics)
    seen_store: SeenStore
    store_applied: StoreApplied
    outbox_depth: Callable[[], int]
    issuer_keys: Callable[[], str | None]
    logs: LogRing
    unlock: Unlock | None = None
    identity: BoxIdentity | None = None
    layers: SettingsLayers | None = None
    update: Update | None = None


class ControlPlane:
    """Wire :attr:`commands` and :attr:`config` to the uplink; the agent ends its run when
    :attr:`lifecycle` is asked to, and runs :meth:`heartbeats` on a loop of its own."""

    def __init__(
        self, box: BoxInfo, *, parts: ControlParts, clock: Clock, config_version: int = 0
    ) -> None:
        self._box, self._parts, self._clock = box, parts, clock
        self.lifecycle = Lifecycle()
        self.config = ConfigApplier(
            venue=box.venue,
            device=box.device,
            layers=parts.layers,
            store=parts.store_applied,
            version=config_version,
            events=parts.events,
            on_applied=self.lifecycle.restart,
            clock=clock,
        )
        identity = parts.identity
        self.sources = HeartbeatSources(
            started=clock(),
            data_dir=box.data_dir,
            outbox_depth=parts.outbox_depth,
            config_version=lambda: self.config.version,
            credential_generation=lambda: identity.generation if identity else 0,
            issuer_keys=parts.issuer_keys,
            software=box.software,
            thermal_path=box.thermal_path,
        )
        actions = BoxActions(
            role=box.role,
            lifecycle=self.lifecycle,
            diagnostics=DiagnosticsReporter(
                heartbeat=lambda: read_heartbeat(self.sources, now=clock()),
                logs=parts.logs,
                publish=parts.publish,
                clock=clock,
            ),
            unlock=parts.unlock,
            identity=identity,
            update=parts.update,
        )
        gate = CommandGate(box.device, venue=box.venue, clock=clock, seen_store=parts.seen_store)
        self.commands = Dispatcher(gate, run=actions.run, events=parts.events, clock=clock)

    def beat(self) -> None:
        """Write one heartbeat event; a failure is logged, the next beat may work."""
        try:
            self._parts.events([heartbeat_event(self.sources, now=self._clock())])
        except Exception:  # a loop boundary: a full disk must not end the heartbeats
            logger.exception("could not write a heartbeat of %s", self._box.device)

    def heartbeats(self, halt: threading.Event, *, interval_s: float) -> None:
        """The first heartbeat now, then one every ``interval_s`` until ``halt``."""
        self.beat()
        every(interval_s, self.beat, halt, what="heartbeat")

    def wipe(self, command: WipeCommand, folders: Sequence[Path]) -> None:
        """Carry out a wipe once the runtimes are closed; its result is written first."""
        plan = plan_wipe(folders, clock=self._clock)
        identity = self._parts.identity
        forgets = "forgot the identity" if identity else "no claimed identity to forget"
        self.commands.report(command, Verdict(Status.DONE, f"{plan.summary()}; {forgets}"))
        problems = carry_out(plan, identity)
        if not problems:
            logger.warning("wiped %s: %s", self._box.device, plan.summary())
            return
        detail = "; ".join(problems)[:200]
        logger.error("the wipe of %s is incomplete: %s", self._box.device, detail)
        event = NewEvent(self._clock(), WIPE_INCOMPLETE_EVENT,
                         {"command": command.command_id, "detail": detail})  # fmt: skip
        try:
            self._parts.events([event])
        except Exception:  # the wipe is over either way; the log has the problems
            logger.exception("could not write the wipe's problems")
