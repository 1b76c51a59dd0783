"""The soak's fleet: real edge agents on firmware_sim hardware, each sampling in its own thread."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from edge.agent import EdgeAgent
from edge.settings import EdgeSettings, SimHardware
from yizhan.simhw import sim_hardware

_PROFILES: Final = ("outdoor-station", "worker-home", "library")
# Simulated seconds per real second: visitors, fridge doors and the meter move enough in
# ten minutes that readings vary the way a day's do.
_SIM_SPEED: Final = 30.0
# The resend timeout of an agent that hears no storage ack; short, so anything a worker
# misses comes back within the drain (tests/e2e/test_scale_out.py shows the recovery).
_RESEND_AFTER_S: Final = 10.0
_JOIN_S: Final = 30.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FleetPlan:
    devices: int
    devices_per_venue: int
    interval_s: float
    mqtt_port: int
    data_dir: Path


@dataclass(frozen=True, slots=True)
class FleetReport:
    devices: list[tuple[str, str]]  # (venue, device)
    issued: dict[str, tuple[int, int]]  # device -> [first_seq, next_seq) of its outbox
    confirmed: dict[str, int]  # device -> items the cloud confirmed storing
    dropped: int  # outbox overflow drops over the fleet (0 unless the cloud stalls for days)
    # Items still unconfirmed when the agents stopped (a heartbeat that came after the
    # drain and was not confirmed within the agent's own drain_on_stop_s): counted as lost.
    unconfirmed_at_stop: int


def fleet_settings(plan: FleetPlan) -> list[EdgeSettings]:
    """Sensor hubs, ``devices_per_venue`` to a venue, the venue profiles taken in turn."""
    fleet = []
    for index in range(plan.devices):
        venue = index // plan.devices_per_venue
        fleet.append(
            EdgeSettings(
                venue=f"soak-{venue:02d}",
                device=f"soak-{index:03d}",
                data_dir=plan.data_dir,
                mqtt_port=plan.mqtt_port,
                sample_interval_s=plan.interval_s,
                resend_after_s=_RESEND_AFTER_S,
                hardware=SimHardware(
                    profile=_PROFILES[venue % len(_PROFILES)], seed=index, speed=_SIM_SPEED
                ),
            )
        )
    return fleet


class Fleet:
    """The agents and their threads; ``started`` closes every agent on the way out."""

    def __init__(self, agents: list[EdgeAgent]) -> None:
        self.agents = agents
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=a.run, args=(self._stop,), name=f"soak-{a.settings.device}")
            for a in agents
        ]
        self._report: FleetReport | None = None

    @classmethod
    @contextlib.contextmanager
    def started(cls, plan: FleetPlan) -> Iterator[Fleet]:
        with contextlib.ExitStack() as stack:
            agents = []
            for settings in fleet_settings(plan):
                agent = EdgeAgent(
                    settings, clock=_utc_now, hardware=sim_hardware, software="yizhan bench soak"
                )
                stack.callback(agent.close)
                agents.append(agent)
            fleet = cls(agents)
            stack.callback(fleet.stop)
            for thread in fleet._threads:
                thread.start()
            yield fleet

    def stop_sampling(self) -> None:
        for agent in self.agents:
            agent.stop_sampling()

    def drained(self) -> bool:
        """Every outbox empty: each item was confirmed stored by the cloud and deleted."""
        return all(agent.outbox.stats().depth == 0 for agent in self.agents)

    def stop(self) -> FleetReport:
        """End the agents' runs (their uplinks disconnect) and say what each one issued."""
        if self._report is not None:
            return self._report
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=_JOIN_S)
        stats = {a.settings.device: a.outbox.stats() for a in self.agents}
        self._report = FleetReport(
            devices=[(a.settings.venue, a.settings.device) for a in self.agents],
            issued={device: (s.first_seq, s.next_seq) for device, s in stats.items()},
            confirmed={a.settings.device: a.uplink.confirmed for a in self.agents},
            dropped=sum(s.dropped for s in stats.values()),
            unconfirmed_at_stop=sum(s.depth for s in stats.values()),
        )
        return self._report
