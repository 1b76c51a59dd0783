"""What the agent tells the systemd watchdog: well while its loops turn, and why not otherwise."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from edge.agent import EdgeAgent
from edge.outbox import utc_now
from edge.settings import EdgeSettings, SimHardware
from tests.helpers import wait_for
from yizhan.broker import free_port
from yizhan.simhw import sim_hardware

TIMEOUT = 30.0


def hub(tmp_path: Path) -> EdgeAgent:
    settings = EdgeSettings(
        venue="station-07",
        device="hub-01",
        data_dir=tmp_path / "box",
        mqtt_port=free_port(),  # nothing listens: offline is not a problem
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
