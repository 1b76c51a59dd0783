"""Shared pytest configuration: real-service fixtures live in tests/fixtures."""

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings

from cloud.auth.passwords import PRODUCTION_COST, TEST_ONLY_COST, password_cost

pytest_plugins = [
    "tests.fixtures.broker",
    "tests.fixtures.postgres",
    "tests.fixtures.secure_broker",
]

# xdist's workers start with COLUMNS=80 and LINES=24, which rich reads once when a module
# makes its Console: the CLI's tables would then be cut at 80 columns whatever a test sets.
# Without them a worker renders like a serial run (the width is read at each print).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)

# The suite runs on xdist workers beside brokers and databases on two shared cores, where
# an example that takes 10 ms alone can take 500 ms: Hypothesis' 200 ms default deadline
# fails tests for the machine's load, not for the code. Example counts are unchanged.
settings.register_profile(
    "loaded-machine",
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("loaded-machine")


def _chunk_starts(total: int, workers: int) -> list[int]:
    """Where xdist's worksteal scheduler cuts the collection into each worker's first share
    (``len(pending) // nodes_remaining`` consecutive tests per worker, in turn)."""
    starts, position, remaining = [], 0, total
    for index in range(workers):
        starts.append(position)
        share = remaining // (workers - index)
        position += share
        remaining -= share
    return starts


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long tests start first, one at the head of each worker's share.

    Each worker runs its share from the front and others steal only from the back, so a
    100 s soak collected last keeps one worker busy while the rest sit idle, and all the
    long tests at the very front would queue up on the first worker.
    """
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    rest = [item for item in items if item.get_closest_marker("slow") is None]
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    starts = _chunk_starts(len(items), workers)
    sizes = [end - start for start, end in zip(starts, [*starts[1:], len(items)], strict=True)]
    heads: list[list[pytest.Item]] = [slow[index::workers] for index in range(workers)]
    if any(len(head) > size for head, size in zip(heads, sizes, strict=True)):
        items[:] = slow + rest  # a run too small to spread: long ones first
        return
    ordered: list[pytest.Item] = []
    for head, size in zip(heads, sizes, strict=True):
        ordered += head
        fill = size - len(head)
        ordered += rest[:fill]
        rest = rest[fill:]
    items[:] = ordered


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> Iterator[None]:
    """Seeding a world hashes four passwords: at argon2's production cost that was 0.8 s of
    CPU per test, most of the suite's setup. Processes the tests start keep full cost."""
    with password_cost(TEST_ONLY_COST):
        yield


@pytest.fixture
def production_password_cost() -> Iterator[None]:
    """The tests of hashing and logging in themselves hash at the cost production uses."""
    with password_cost(PRODUCTION_COST):
        yield
