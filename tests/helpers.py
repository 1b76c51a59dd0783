"""Small helpers shared by tests."""

from collections.abc import Callable
from typing import TypeVar

from ops.broker.probe import poll_until

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], *, timeout: float, interval: float = 0.02, message: str
) -> T:
    """Poll `predicate` until it returns something truthy and return that; fail at the deadline."""
    try:
        return poll_until(predicate, timeout=timeout, what=message, interval=interval)
    except TimeoutError as late:
        raise AssertionError(str(late)) from None
