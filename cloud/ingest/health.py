"""Whether an ingest worker is doing its job: its writer runs and what it is handed gets written.

A connected worker whose writer thread died looked healthy for as long as the process ran
(issue 15, finding 1): the queue grew and nothing said so. ``/healthz`` of the ingest's
metrics port (and of the API, in a process that runs ingest too) answers from this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

# A batch commits within a second or two; a minute without one while messages wait is a
# writer that is stuck (or a database that is down), not a slow transaction.
DEFAULT_STALL_AFTER_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class IngestHealth:
    """What ``/healthz`` reports for one worker."""

    writer_alive: bool
    # Seconds since the last commit (or since the worker started, before the first one).
    last_commit_age_s: float
    # Seconds the oldest message received but not yet written has waited; 0 when none.
    oldest_queued_age_s: float
    queue_depth: int
    problem: str | None  # None when well; else what is wrong and what to look at

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_json(self) -> dict[str, object]:
        return {
            "status": "ok" if self.ok else "failing",
            "writer_alive": self.writer_alive,
            "last_commit_age_s": round(self.last_commit_age_s, 3),
            "oldest_queued_age_s": round(self.oldest_queued_age_s, 3),
            "queue_depth": self.queue_depth,
            **({"problem": self.problem} if self.problem else {}),
        }


def judge(
    *,
    writer_alive: bool,
    last_commit_age_s: float,
    oldest_queued_age_s: float,
    queue_depth: int,
    stall_after_s: float,
    last_error: str | None = None,
) -> IngestHealth:
    """The health of a worker from what it knows about itself."""
    problem = None
    if not writer_alive:
        problem = "the ingest writer thread is not running; restart the ingest process"
    elif oldest_queued_age_s > stall_after_s and last_commit_age_s > stall_after_s:
        problem = (
            f"ingest is stalled: a message has waited {oldest_queued_age_s:.0f} s and nothing "
            f"was committed for {last_commit_age_s:.0f} s (limit {stall_after_s:.0f} s)"
        )
        if last_error:
            problem += f"; last error: {last_error[:300]}"
    return IngestHealth(
        writer_alive=writer_alive,
        last_commit_age_s=last_commit_age_s,
        oldest_queued_age_s=oldest_queued_age_s,
        queue_depth=queue_depth,
        problem=problem,
    )


@runtime_checkable
class HealthSource(Protocol):
    """Something registered for its metrics that can also say whether it is well."""

    def health(self) -> IngestHealth: ...
