"""What a domain hands the scheduler: a named piece of work and when to run it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Every:
    """Run every ``seconds``, counted from when the scheduler starts."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Daily:
    """Run once a day at ``hour:minute`` on the clock of ``timezone`` (an IANA name)."""

    hour: int
    minute: int = 0
    timezone: str = "UTC"


Schedule = Every | Daily


@dataclass(frozen=True, slots=True)
class Job:
    """``run()`` on ``schedule``, on the leader only. Its name keys the run and failure
    counts, so it must be unique among the jobs of one scheduler."""

    name: str
    schedule: Schedule
    run: Callable[[], object]


# One part of a job: ``step(engine, now)``, all parts of one run seeing the same ``now``.
Step = Callable[[Engine, datetime], object]


def run_steps(steps: Sequence[Step], engine: Engine, now: datetime) -> None:
    """Run every step in order; one step's failure is logged and does not stop the others."""
    for step in steps:
        try:
            step(engine, now)
        except Exception:  # one step's bug must not stop the others
            logger.exception("job step %r failed", step)
