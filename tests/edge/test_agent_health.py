"""What the agent tells the systemd watchdog: well while its loops turn, and why not otherwise."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pytest

from edge.agent import EdgeAgent
from edge.clock import utc_now
from edge.settings import EdgeSettings, SimHardware
from ops.broker.process import BrokerProcess, free_port
from tests.helpers import wait_for
from yizhan.simhw import sim_hardware

TIMEOUT = 30.0


def hub(tmp_path: Path, *, broker: BrokerProcess | None = None) -> EdgeAgent:
    settings = EdgeSettings(
        venue="station-07",
        device="hub-01",
        data_dir=tmp_path / "box",
        mqtt_host=broker.host if broker is not None else "127.0.0.1",
        # Without a broker nothing listens: offline is not a problem.
        mqtt_port=broker.port if broker is not None else free_port(),
        sample_interval_s=600,  # one round at start, then none: the test sets the pace
        hardware=SimHardware(profile="outdoor-station", seed=1, speed=1.0),
    )
    return EdgeAgent(settings, clock=utc_now, hardware=sim_hardware)


def test_a_running_box_is_well_and_a_dead_loop_or_stuck_main_loop_is_not(
    tmp_path: Path,
) -> None:
    agent = hub(tmp_path)
    assert agent.problems() == []  # not running yet: nothing to judge
    stop = threading.Event()
    runner = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    runner.start()
    try:
        wait_for(lambda: agent.sampled > 0, timeout=TIMEOUT, message="the agent never sampled")
        assert agent.problems() == []
        dead = threading.Thread(target=lambda: None, name="agent-heartbeat-test")
        dead.start()
        dead.join()
        agent._threads.append(dead)  # as if a loop had died of an exception
        assert agent.problems() == ["agent-heartbeat-test stopped"]
        agent._threads.remove(dead)
        agent._turned = time.monotonic() - 3 * 600  # as if it hung three intervals ago
        assert agent.problems()[0].startswith("the main loop has not come round for")
    finally:
        stop.set()
        runner.join(timeout=30)
        agent.close()
    assert agent.problems() == []  # ending is not a hang


def _running(agent: EdgeAgent) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    runner = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    runner.start()
    wait_for(lambda: agent.uplink.connected, timeout=TIMEOUT, message="never connected")
    return stop, runner


def _stop(agent: EdgeAgent, stop: threading.Event, runner: threading.Thread) -> None:
    stop.set()
    runner.join(timeout=30)
    agent.close()


def test_a_worn_card_failing_a_pubacks_record_does_not_end_the_network_loop(
    tmp_path: Path, broker: BrokerProcess
) -> None:
    agent = hub(tmp_path, broker=broker)
    stop, runner = _running(agent)
    failed_on: list[str] = []
    try:
        assert agent.problems() == []

        def worn_card(_seqs: Iterable[int]) -> None:
            failed_on.append(threading.current_thread().name)
            raise sqlite3.OperationalError("disk I/O error")

        agent.outbox.mark_sent = worn_card  # type: ignore[method-assign, assignment]
        agent.tick()
        # paho records PUBACKs on its own thread (the sender only when a PUBACK beats it).
        wait_for(
            lambda: any(name.startswith("paho-mqtt-client") for name in failed_on),
            timeout=TIMEOUT,
            message="paho's thread never recorded a PUBACK",
        )
        assert agent.problems() == []
        assert agent.uplink.connected
        # Still talking: a heartbeat goes out and is PUBACKed (and fails to record) again.
        before = len(failed_on)
        agent.tick()
        wait_for(lambda: len(failed_on) > before, timeout=TIMEOUT, message="the loop went deaf")
    finally:
        _stop(agent, stop, runner)


# The dying thread's exception is the fault this test injects, not a test failure.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_network_loop_that_died_is_a_problem(tmp_path: Path, broker: BrokerProcess) -> None:
    agent = hub(tmp_path, broker=broker)
    stop, runner = _running(agent)
    try:
        assert agent.problems() == []

        def worn_card(*, sent_before: datetime | None = None) -> int:
            raise sqlite3.OperationalError("disk I/O error")

        # On reconnecting, the uplink requeues what was in flight: a failure there leaves the
        # box connected but deaf, so it is not guarded and paho's loop ends.
        agent.outbox.requeue = worn_card  # type: ignore[method-assign]
        broker.restart()
        wait_for(
            lambda: "mqtt-loop-hub-01 stopped" in agent.problems(),
            timeout=TIMEOUT,
            message="the watchdog never heard that the network loop died",
        )
    finally:
        _stop(agent, stop, runner)
    assert agent.problems() == []  # ending is not a hang
