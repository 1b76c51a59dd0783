"""How a run ends: a wipe outranks a stop, a stop outranks a restart; late requests refused."""

from __future__ import annotations

import threading
from datetime import timedelta

from edge.control.lifecycle import Lifecycle
from protocol.commands import WipeCommand

from .fakes import NOW, command_fields


def wipe() -> WipeCommand:
    return WipeCommand.model_validate(command_fields("wipe", expires_at=NOW + timedelta(days=1)))


def test_nothing_asked_is_a_stop() -> None:
    assert Lifecycle().close(stopped=False).outcome == "stopped"


def test_a_restart_ends_the_run_unless_it_was_stopped() -> None:
    asked, stopped = Lifecycle(), Lifecycle()
    assert asked.restart()
    assert stopped.restart()

    assert asked.close(stopped=False).outcome == "restart"
    assert stopped.close(stopped=True).outcome == "stopped"


def test_a_wipe_outranks_everything_and_is_handed_over() -> None:
    life = Lifecycle()
    command = wipe()
    life.restart()
    assert life.wipe(command)

    ending = life.close(stopped=True)

    assert (ending.outcome, ending.wipe) == ("wiped", command)


def test_requests_after_the_ending_was_taken_are_refused() -> None:
    life = Lifecycle()
    life.close(stopped=True)

    assert not life.restart()
    assert not life.wipe(wipe())


def test_a_wait_ends_early_on_a_request_or_a_stop() -> None:
    life, stop = Lifecycle(), threading.Event()
    threading.Timer(0.05, life.restart).start()
    life.wait(stop, 60)  # returns when asked, long before a minute
    assert life.asked

    other = Lifecycle()
    threading.Timer(0.05, stop.set).start()
    other.wait(stop, 60)
    assert stop.is_set()
