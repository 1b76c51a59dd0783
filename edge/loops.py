"""Background loops of a box's runtimes (door, kiosk): started guarded, paced, stoppable."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)

Loop = tuple[str, Callable[[], object]]


def every(
    period_s: float, action: Callable[[], object], stop: threading.Event, *, what: str
) -> None:
    """Run ``action`` every ``period_s`` until ``stop``; a failed pass is logged and retried."""
    while not stop.wait(period_s):
        try:
            action()
        except Exception:  # one failed pass must not end the loop (alarms, settling)
            logger.exception("%s pass failed; retrying next period", what)


def start_loops(prefix: str, loops: Sequence[Loop]) -> list[threading.Thread]:
    """One daemon thread per loop; a loop that dies is logged loudly, the others go on."""
    threads = []
    for name, target in loops:
        thread = threading.Thread(
            target=_guarded(f"{prefix} {name}", target), name=f"{prefix}-{name}", daemon=True
        )
        thread.start()
        threads.append(thread)
    return threads


def _guarded(what: str, target: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            target()
        except Exception:  # a dead loop is logged loudly; the agent keeps the rest alive
            logger.exception("%s loop stopped", what)

    return run
