"""Small helpers shared by tests."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], *, timeout: float, interval: float = 0.02, message: str
) -> T:
    """Poll `predicate` until it returns something truthy and return that; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (waited {timeout:.1f}s)")
        time.sleep(interval)
