"""Password hashing: argon2id at a named cost, and the one hasher the auth store uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordCost:
    """argon2id's work factors; a hash records its own, so any cost verifies any hash."""

    time_cost: int
    memory_kib: int
    parallelism: int

    def hasher(self) -> PasswordHash:
        argon2 = Argon2Hasher(
            time_cost=self.time_cost, memory_cost=self.memory_kib, parallelism=self.parallelism
        )
        return PasswordHash((argon2,))


# RFC 9106's second recommended profile (pwdlib's and argon2-cffi's defaults): 64 MiB, t=3,
# about 0.2 s a hash on the machines here. Every deployed process uses it.
PRODUCTION_COST: Final = PasswordCost(time_cost=3, memory_kib=64 * 1024, parallelism=4)
# The smallest argon2 allows (8 KiB per lane): microseconds. Only for test suites seeding
# hundreds of accounts; the hashing and login tests themselves run at PRODUCTION_COST.
TEST_ONLY_COST: Final = PasswordCost(time_cost=1, memory_kib=8, parallelism=1)


class _Passwords:
    """The process's hasher. A hash made at another cost still verifies and is upgraded at
    the next login (``verify_and_update``), so a cost change never locks anyone out."""

    def __init__(self) -> None:
        self.cost = PRODUCTION_COST
        self.hash = self.cost.hasher()


_current: Final = _Passwords()


def password_hasher() -> PasswordHash:
    return _current.hash


def current_password_cost() -> PasswordCost:
    return _current.cost


@contextmanager
def password_cost(cost: PasswordCost) -> Iterator[None]:
    """Hash at ``cost`` inside the block (tests), then at the cost that was in force."""
    before = _current.cost
    _current.cost, _current.hash = cost, cost.hasher()
    try:
        yield
    finally:
        _current.cost, _current.hash = before, before.hasher()
