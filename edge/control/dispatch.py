"""Every message on the box's ``cmd/+`` goes through here: admit, act, report exactly once."""

from __future__ import annotations

import logging
from collections.abc import Callable

from edge.clock import Clock
from edge.control.admission import CommandGate
from edge.control.ports import EventSink
from edge.control.verdict import Status, Verdict, result_event
from protocol.commands import AnyCommand
from protocol.topics import Topic

logger = logging.getLogger(__name__)

# Carries out an admitted command; None: the caller reports it later with Dispatcher.report.
Run = Callable[[AnyCommand], Verdict | None]


class Dispatcher:
    """The uplink's command callback. Never raises.

    Every message gets one ``command.result`` event in the outbox, refused or not; an
    action that fails is reported as failed, and the uplink and the agent carry on.
    """

    def __init__(self, gate: CommandGate, *, run: Run, events: EventSink, clock: Clock) -> None:
        self._gate, self._run = gate, run
        self._events, self._clock = events, clock

    def __call__(self, topic: Topic | str, payload: bytes) -> None:
        admission = self._gate.admit(topic, payload)
        command = admission.command
        if command is None:
            self._write(admission.command_id, admission.name, admission.verdict())
            return
        try:
            verdict = self._run(command)
        except Exception as exc:  # a callback boundary: one bad action must not stop the box
            logger.exception("command %s %s failed", command.name, command.command_id)
            verdict = Verdict(Status.FAILED, f"{type(exc).__name__}: {exc}")
        if verdict is not None:
            self.report(command, verdict)

    def report(self, command: AnyCommand, verdict: Verdict) -> None:
        """Write the result of ``command``, for an action that finished later."""
        self._write(command.command_id, command.name, verdict)

    def _write(self, command_id: str, name: str, verdict: Verdict) -> None:
        log = logger.info if verdict.ok else logger.warning
        log("command %s %s: %s %s", name, command_id, verdict.status, verdict.detail)
        try:
            self._events([result_event(command_id, name, verdict, at=self._clock())])
        except Exception:  # a callback boundary: the uplink must survive a full disk
            logger.exception("could not write the result of command %s", command_id)
