"""What each admitted command does on this box."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from edge.control.lifecycle import Lifecycle
from edge.control.ports import BoxIdentity
from edge.control.verdict import Status, Verdict
from edge.door.controller import RemoteUnlock
from protocol.commands import (
    AnyCommand,
    DiagnosticsCommand,
    RestartCommand,
    RotateCredentialsCommand,
    UnlockCommand,
    UpdateCommand,
    WipeCommand,
)

logger = logging.getLogger(__name__)

Unlock = Callable[[UnlockCommand], RemoteUnlock]
Update = Callable[[UpdateCommand], Verdict]


@dataclass(frozen=True, slots=True)
class BoxActions:
    """The box's answer to each command; ``None`` means the agent reports it later (a wipe)."""

    role: str
    lifecycle: Lifecycle
    diagnostics: Callable[[DiagnosticsCommand], Verdict]
    unlock: Unlock | None = None  # only a door box has one
    identity: BoxIdentity | None = None
    update: Update | None = None  # a box installed with the A/B layout (edge/update/)

    def run(self, command: AnyCommand) -> Verdict | None:
        match command:
            case UnlockCommand():
                return self._unlock(command)
            case RestartCommand():
                return self._restart()
            case DiagnosticsCommand():
                return self.diagnostics(command)
            case RotateCredentialsCommand():
                return self._rotate(command)
            case WipeCommand():
                return self._wipe(command)
            case UpdateCommand():
                return self._update(command)

    def _unlock(self, command: UnlockCommand) -> Verdict:
        if self.unlock is None:
            return Verdict(Status.REFUSED, f"this box is a {self.role} and has no door to unlock")
        done = self.unlock(command)
        return Verdict(Status.DONE if done.opened else Status.REFUSED, done.detail)

    def _restart(self) -> Verdict:
        if not self.lifecycle.restart():
            return Verdict(Status.REFUSED, "the agent is stopping already; it starts afresh anyway")
        return Verdict(Status.DONE, "restarting: settings and identity are read again")

    def _rotate(self, command: RotateCredentialsCommand) -> Verdict:
        if self.identity is None:
            return Verdict(
                Status.REFUSED, "this box has no claimed identity; claim it before rotating"
            )
        wanted, identity = command.generation, self.identity
        if identity.stage(command.password, wanted, username=command.username):
            return Verdict(
                Status.STAGED,
                f"generation {wanted} staged; used once the broker refuses the current",
            )
        if identity.generation == wanted:  # a redelivery after the rotation completed
            return Verdict(Status.DONE, f"generation {wanted} is in use already")
        return Verdict(
            Status.REFUSED,
            f"generation {wanted} is not newer than the one in use ({identity.generation}); "
            "send a newer one",
        )

    def _update(self, command: UpdateCommand) -> Verdict:
        if self.update is None:
            return Verdict(
                Status.REFUSED,
                "this box was not installed with the release layout "
                "(deploy/pi/install.sh sets it up); update it by hand",
            )
        return self.update(command)

    def _wipe(self, command: WipeCommand) -> Verdict | None:
        if self.lifecycle.wipe(command):
            logger.warning("wipe %s by %s: %s", command.command_id, command.issued_by,
                           command.reason)  # fmt: skip
            return None
        pending = self.lifecycle.pending_wipe
        if pending is not None:
            return Verdict(Status.REFUSED, f"wipe {pending.command_id} is under way already")
        return Verdict(Status.REFUSED, "the agent is stopping; send a new wipe after it restarts")
