"""Members walking up to a door: each holds up a fresh code and walks in if it opens."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from firmware_sim.camera import VirtualCamera
from firmware_sim.door import SimDoor

logger = logging.getLogger(__name__)

_POLL_S: Final = 0.05  # how often a waiting member looks at the lock


@dataclass(slots=True)
class CrowdStats:
    presented: int = 0
    walked_in: int = 0


class Crowd:
    """Background thread: every ``mean_gap_s`` on average a member shows a code.

    ``issue_code(member_id)`` is the member's phone (the union app); it runs in the
    simulated world, never on the door box.
    """

    def __init__(
        self,
        *,
        camera: VirtualCamera,
        door: SimDoor,
        issue_code: Callable[[str], str],
        members: Sequence[str],
        rng: random.Random,
        mean_gap_s: float = 8.0,
        show_s: float = 2.0,
    ) -> None:
        if not members:
            raise ValueError("a crowd needs at least one member")
        self._camera, self._door, self._issue = camera, door, issue_code
        self._members, self._rng = list(members), rng
        self._mean_gap_s, self._show_s = mean_gap_s, show_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-crowd", daemon=True)
        self.stats = CrowdStats()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._rng.expovariate(1.0 / self._mean_gap_s)):
            try:
                self.visit(self._rng.choice(self._members))
            except Exception:  # the simulated world keeps turning
                logger.exception("simulated visit failed")

    def visit(self, member_id: str) -> bool:
        """One member shows a code for up to ``show_s``; True if they walked in.

        They wait for the door to lock behind the previous person first, so every entry
        in the simulation is one decision (tailgating is the door monitor's business).
        """
        if not self._wait(lambda: not self._door.relay_unlocked, self._show_s * 5):
            return False
        self._camera.show(self._issue(member_id))
        self.stats.presented += 1
        try:
            opened = self._wait(lambda: self._door.relay_unlocked, self._show_s)
        finally:
            self._camera.show(None)
        if not opened:
            return False
        walked = self._door.person_walks_through("in")
        self.stats.walked_in += int(walked)
        return walked

    def _wait(self, condition: Callable[[], bool], limit_s: float) -> bool:
        waited = 0.0
        while not condition():
            if waited >= limit_s or self._stop.wait(_POLL_S):
                return False
            waited += _POLL_S
        return True
