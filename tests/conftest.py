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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first: xdist hands tests out in collection order, and a 100 s soak that
    starts last is 100 s of one worker busy while the others sit idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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
