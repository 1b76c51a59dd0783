"""When a running agent counts as hung: the rules the systemd watchdog asks before a ping.

Plain values in, sentences out: the agent gathers how long its main loop has been idle,
which of its threads have stopped and how long each camera read has waited, and these rules
judge them, so they are tested without a thread (tests/edge/test_agent_health_rules.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# The main loop waits a sample interval between rounds, so it is stuck only past two of
# them and this grace; a camera gives ~10 frames a second, so one read that has waited
# half a minute is a hung camera.
MAIN_LOOP_GRACE_S = 60.0
SCAN_STALL_S = 30.0


@dataclass(frozen=True, slots=True)
class HealthRules:
    sample_interval_s: float
    main_loop_grace_s: float = MAIN_LOOP_GRACE_S
    scan_stall_s: float = SCAN_STALL_S

    def problems(
        self, *, idle_s: float, stopped_loops: Sequence[str], camera_waits_s: Sequence[float]
    ) -> list[str]:
        """What keeps the box from its job, one sentence each; empty when it is healthy."""
        found = []
        if idle_s > 2 * self.sample_interval_s + self.main_loop_grace_s:
            found.append(f"the main loop has not come round for {idle_s:.0f} s")
        found += [f"{name} stopped" for name in stopped_loops]
        found += [
            f"a camera read has hung for {waited:.0f} s"
            for waited in camera_waits_s
            if waited > self.scan_stall_s
        ]
        return found
