"""What the agent tells the systemd watchdog: well while its loops turn, and why not otherwise."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from edge.agent import EdgeAgent
from edge.outbox import utc_now
from edge.settings import EdgeSettings, SimHardware
from tests.helpers import wait_for
from yizhan.broker import BrokerProcess, free_port
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


# The dying thread's exception is the fault this test injects, not a test failure.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_network_loop_killed_by_a_failing_card_is_a_problem(
    tmp_path: Path, broker: BrokerProcess
) -> None:
    agent = hub(tmp_path, broker=broker)
    stop = threading.Event()
    runner = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    runner.start()
    try:
        wait_for(lambda: agent.uplink.connected, timeout=TIMEOUT, message="never connected")
        assert agent.problems() == []

        def worn_card(_seqs: Iterable[int]) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        # paho runs the PUBACK callback, which records it in the outbox, on its own thread.
        agent.outbox.mark_sent = worn_card  # type: ignore[method-assign, assignment]
        agent.tick()
        wait_for(
            lambda: "mqtt-loop-hub-01 stopped" in agent.problems(),
            timeout=TIMEOUT,
            message="the watchdog never heard that the network loop died",
        )
    finally:
        stop.set()
        runner.join(timeout=30)
        agent.close()
    assert agent.problems() == []  # ending is not a hang
