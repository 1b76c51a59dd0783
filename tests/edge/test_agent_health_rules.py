"""The watchdog's rules on plain figures: when a main loop, a thread or a camera counts as hung."""

from __future__ import annotations

import pytest

from edge.agent_health import MAIN_LOOP_GRACE_S, SCAN_STALL_S, HealthRules

RULES = HealthRules(sample_interval_s=5.0)
PATIENCE_S = 2 * 5.0 + MAIN_LOOP_GRACE_S  # two rounds and the grace


def judge(
    idle_s: float = 0.0, stopped: tuple[str, ...] = (), waits: tuple[float, ...] = ()
) -> list[str]:
    return RULES.problems(idle_s=idle_s, stopped_loops=stopped, camera_waits_s=waits)


def test_a_healthy_agent_has_no_problems() -> None:
    assert judge(idle_s=4.9, waits=(0.1, 0.0)) == []


@pytest.mark.parametrize(("idle_s", "hung"), [(PATIENCE_S, False), (PATIENCE_S + 1, True)])
def test_the_main_loop_is_hung_only_past_two_rounds_and_the_grace(
    idle_s: float, hung: bool
) -> None:
    found = judge(idle_s=idle_s)
    assert bool(found) is hung
    if hung:
        assert found == [f"the main loop has not come round for {idle_s:.0f} s"]


def test_a_longer_sample_interval_buys_a_longer_patience() -> None:
    slow = HealthRules(sample_interval_s=60.0)
    assert slow.problems(idle_s=150.0, stopped_loops=(), camera_waits_s=()) == []
    assert HealthRules(sample_interval_s=5.0).problems(
        idle_s=150.0, stopped_loops=(), camera_waits_s=()
    )


def test_every_stopped_loop_is_named() -> None:
    assert judge(stopped=("door-scan", "mqtt-loop-door-01")) == [
        "door-scan stopped",
        "mqtt-loop-door-01 stopped",
    ]


def test_only_a_camera_read_past_the_stall_limit_counts() -> None:
    assert judge(waits=(SCAN_STALL_S, 1.0)) == []
    assert judge(waits=(1.0, SCAN_STALL_S + 12)) == [
        f"a camera read has hung for {SCAN_STALL_S + 12:.0f} s"
    ]


def test_all_problems_are_reported_together() -> None:
    found = judge(idle_s=PATIENCE_S + 30, stopped=("agent-heartbeat",), waits=(45.0,))
    assert len(found) == 3
