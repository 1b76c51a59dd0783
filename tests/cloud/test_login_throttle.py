"""Login throttling and the bound on concurrent password hashes (issue 15, finding 6)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import Session

from cloud.api.app import create_app
from cloud.auth import store
from cloud.auth.models import User
from cloud.auth.settings import LoginLimits
from cloud.auth.throttle import (
    FailureLog,
    LoginAttempt,
    LoginBusyError,
    LoginGuard,
    address_key,
)
from cloud.core.db import make_engine
from cloud.migrate import upgrade
from tests.cloud.auth_world import NOW, PASSWORD, seed, settings

TOKEN = "/api/v1/auth/token"
WINDOW_S = 15 * 60
ACCOUNT_WIDE = 50  # LoginLimits.account_failures
HOME, ELSEWHERE = "203.0.113.9", "198.51.100.7"  # the owner's address; a guesser's
DEADLINE_S = 10.0  # for a condition another thread brings about; never reached when all is well


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Site:
    app: FastAPI
    client: TestClient
    clock: FakeClock
    guard: LoginGuard
    closing: ExitStack
    hashes: list[str] = field(default_factory=list)  # usernames store.authenticate was asked
    elsewhere: dict[str, TestClient] = field(default_factory=dict)

    def token(self, username: str, password: str, *, at: str | None = None) -> httpx.Response:
        """Ask for a token from the test client's address, or from the address ``at``."""
        data = {"username": username, "password": password}
        response: httpx.Response = self._client(at).post(TOKEN, data=data)
        return response

    def _client(self, address: str | None) -> TestClient:
        if address is None:
            return self.client
        if address not in self.elsewhere:
            client = TestClient(self.app, client=(address, 50000))
            self.elsewhere[address] = self.closing.enter_context(client)
        return self.elsewhere[address]


@contextmanager
def _site(db_url: str, limits: LoginLimits, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    engine = make_engine(db_url)
    upgrade(engine)
    seed(engine)
    clock = FakeClock()
    guard = LoginGuard(limits, clock=clock)
    app = create_app(settings=settings(), engine=engine, clock=lambda: NOW, login_guard=guard)
    hashes: list[str] = []
    real = store.authenticate

    def counted(*, session: Session, username: str, password: str) -> User | None:
        hashes.append(username)
        return real(session=session, username=username, password=password)

    monkeypatch.setattr(store, "authenticate", counted)
    try:
        with TestClient(app) as client, ExitStack() as closing:
            yield Site(
                app=app, client=client, clock=clock, guard=guard, closing=closing, hashes=hashes
            )
    finally:
        engine.dispose()


@pytest.fixture
def site(migrated_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    with _site(migrated_db_url, LoginLimits(), monkeypatch) as site:
        yield site


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


# --- per account and address ------------------------------------------------------------


def test_five_failures_lock_the_account_from_that_address_until_the_window_passes(
    site: Site,
) -> None:
    for _ in range(5):
        assert site.token("mia", "wrong").status_code == 401

    locked = site.token("mia", "wrong")
    error = _error(locked, 429)
    assert error["code"] == "login_throttled"
    assert locked.headers["Retry-After"] == str(WINDOW_S)
    assert "try again in 15 minutes" in error["message"]
    assert "登录失败次数过多，请 15 分钟后再试" in error["message"]
    # The right password too: a lock that yielded to it would tell a guesser when he is right.
    assert site.token("mia", PASSWORD).status_code == 429

    site.clock.now += WINDOW_S - 1
    assert site.token("mia", PASSWORD).headers["Retry-After"] == "1"
    site.clock.now += 1
    assert site.token("mia", PASSWORD).status_code == 200


def test_a_locked_account_is_refused_before_any_hashing(site: Site) -> None:
    for _ in range(5):
        site.token("mia", "wrong")
    assert len(site.hashes) == 5

    for _ in range(20):
        assert site.token("mia", PASSWORD).status_code == 429
    assert len(site.hashes) == 5


def test_the_lock_expires_even_under_continued_guessing(site: Site) -> None:
    for _ in range(5):
        site.token("mia", "wrong")
    for _ in range(30):  # refused tries do not extend the lock
        site.clock.now += 29
        assert site.token("mia", "wrong").status_code == 429
    site.clock.now += WINDOW_S - 30 * 29
    assert site.token("mia", PASSWORD).status_code == 200


def test_a_guesser_elsewhere_cannot_lock_the_owner_out(site: Site) -> None:
    for _ in range(5):
        assert site.token("mia", "wrong", at=ELSEWHERE).status_code == 401
    assert site.token("mia", PASSWORD, at=ELSEWHERE).status_code == 429

    assert site.token("mia", PASSWORD, at=HOME).status_code == 200
    assert site.token("mia", PASSWORD, at=ELSEWHERE).status_code == 429  # still locked there
    assert len(site.hashes) == 6  # the guesser's refused tries were not hashed


def test_a_success_clears_that_addresss_failures_only(site: Site) -> None:
    for _ in range(4):
        site.token("mia", "wrong", at=HOME)
        site.token("mia", "wrong", at=ELSEWHERE)
    assert site.token("mia", PASSWORD, at=HOME).status_code == 200
    for _ in range(4):
        assert site.token("mia", "wrong", at=HOME).status_code == 401

    assert site.token("mia", "wrong", at=ELSEWHERE).status_code == 401  # its fifth
    assert site.token("mia", PASSWORD, at=ELSEWHERE).status_code == 429


def test_one_accounts_lock_leaves_the_others_alone(site: Site) -> None:
    for _ in range(5):
        site.token("mia", "wrong")
    assert site.token("mia", PASSWORD).status_code == 429
    assert site.token("ada", PASSWORD).status_code == 200


# --- per account, from every address ------------------------------------------------------


def test_failures_spread_over_many_addresses_lock_the_account_everywhere(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    guessers = [f"198.51.100.{n}" for n in range(ACCOUNT_WIDE // 2)]
    for address in guessers:  # two each: no address meets its own limits
        for _ in range(2):
            assert site.token("mia", "wrong", at=address).status_code == 401
        site.clock.now += 1
    # The last failure counted locked the account; that is logged once, for an operator.
    assert [r.levelno for r in caplog.records if "refused at every" in r.message] == [
        logging.WARNING
    ]

    locked = site.token("mia", PASSWORD, at=HOME)
    assert _error(locked, 429)["code"] == "login_throttled"
    assert locked.headers["Retry-After"] == str(WINDOW_S - len(guessers))
    assert len(site.hashes) == ACCOUNT_WIDE
    assert site.token("ada", PASSWORD, at=HOME).status_code == 200  # only mia is locked

    site.clock.now += WINDOW_S - len(guessers)  # the first two failures leave the window
    assert site.token("mia", PASSWORD, at=HOME).status_code == 200


def test_the_owners_success_does_not_reset_the_account_wide_count(site: Site) -> None:
    for n in range(ACCOUNT_WIDE - 1):
        assert site.token("mia", "wrong", at=f"198.51.100.{n % 25}").status_code == 401
    assert site.token("mia", PASSWORD, at=HOME).status_code == 200

    assert site.token("mia", "wrong", at="192.0.2.1").status_code == 401  # the 50th
    assert site.token("mia", PASSWORD, at=HOME).status_code == 429


def test_the_account_wide_limit_must_take_more_than_one_address() -> None:
    with pytest.raises(ValidationError, match="raise account_failures"):
        LoginLimits(account_failures=5, account_address_failures=5)


# --- per address -------------------------------------------------------------------------


def test_many_accounts_from_one_address_lock_the_address(site: Site) -> None:
    for n in range(30):
        assert site.token(f"guess-{n}", "wrong").status_code == 401
    assert site.token("ada", PASSWORD).status_code == 429
    # Logging in to one's own account does not reset the address's count.
    site.clock.now += WINDOW_S
    assert site.token("ada", PASSWORD).status_code == 200
    assert site.token("guess-x", "wrong").status_code == 401


def test_addresses_are_counted_as_uvicorn_gives_them() -> None:
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    # One host gets a whole /64: its addresses count as one.
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key(None) == "unknown"


def test_forwarded_for_from_a_client_is_not_believed(site: Site) -> None:
    for n in range(30):
        site.client.post(
            TOKEN,
            data={"username": f"guess-{n}", "password": "wrong"},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        )
    assert site.token("ada", PASSWORD).status_code == 429


# --- memory ------------------------------------------------------------------------------


def test_the_failure_log_forgets_the_oldest_keys_when_full() -> None:
    log: FailureLog[str] = FailureLog(limit=5, window_s=60, max_keys=100)
    for n in range(1000):
        log.fail(f"user-{n}", now=0.0)
    assert len(log) == 100
    assert log.retry_after("user-999", now=1.0) == 0.0  # one failure: not locked


# --- the dashboard's sign-in form --------------------------------------------------------


def _sign_in(site: Site, password: str, *, lang: str | None = None) -> httpx.Response:
    if lang is not None:
        site.client.cookies.set("yz_lang", lang)
    data = {"username": "mia", "password": password, "next": "/"}
    response: httpx.Response = site.client.post("/login", data=data, follow_redirects=False)
    return response


def test_the_sign_in_form_shares_the_lock_and_says_when_to_retry(site: Site) -> None:
    for _ in range(3):
        site.token("mia", "wrong")
    for _ in range(2):
        assert _sign_in(site, "wrong").status_code == 401

    page = _sign_in(site, PASSWORD)
    assert page.status_code == 429
    assert page.headers["Retry-After"] == str(WINDOW_S)
    assert "登录失败次数过多，请 15 分钟后再试" in page.text
    english = _sign_in(site, PASSWORD, lang="en")
    assert "too many failed sign-ins; try again in 15 minutes" in english.text

    site.clock.now += WINDOW_S
    assert _sign_in(site, PASSWORD).status_code == 303


# --- concurrent hashes -------------------------------------------------------------------


def _wait_for(condition: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(int(DEADLINE_S * 100)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("the condition did not come true in time")


class SlowHasher:
    """Stands in for argon2: holds every hash until released, and records how many overlap."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.inside = 0
        self.most = 0
        self.calls = 0

    def __call__(self, *, session: Session, username: str, password: str) -> User | None:
        with self._lock:
            self.inside += 1
            self.calls += 1
            self.most = max(self.most, self.inside)
        try:
            assert self.release.wait(DEADLINE_S)
        finally:
            with self._lock:
                self.inside -= 1
        return None


def test_no_more_hashes_run_at_once_than_the_bound(
    migrated_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = LoginLimits(concurrent_hashes=2, hash_wait_s=DEADLINE_S, address_failures=1000)
    slow = SlowHasher()
    with _site(migrated_db_url, limits, monkeypatch) as site, ThreadPoolExecutor(8) as pool:
        monkeypatch.setattr(store, "authenticate", slow)
        try:
            answers = [pool.submit(site.token, f"user-{n}", "wrong") for n in range(8)]
            _wait_for(lambda: slow.inside == 2)
            assert slow.calls == 2  # the other six wait for a slot, not inside the hasher
        finally:
            slow.release.set()
        statuses = [a.result().status_code for a in answers]
    assert statuses == [401] * 8
    assert slow.most == 2


def test_a_login_that_finds_no_free_slot_in_time_is_told_to_retry(
    migrated_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = LoginLimits(concurrent_hashes=1, hash_wait_s=0)
    slow = SlowHasher()
    with _site(migrated_db_url, limits, monkeypatch) as site, ThreadPoolExecutor(1) as pool:
        monkeypatch.setattr(store, "authenticate", slow)
        try:
            first = pool.submit(site.token, "mia", "wrong")
            _wait_for(lambda: slow.inside == 1)
            busy = site.token("ada", PASSWORD)
        finally:
            slow.release.set()
        assert first.result().status_code == 401
    error = _error(busy, 503)
    assert error["code"] == "login_busy"
    assert busy.headers["Retry-After"] == "1"
    assert slow.calls == 1


def test_a_full_guard_refuses_at_once_with_no_wait() -> None:
    guard = LoginGuard(LoginLimits(concurrent_hashes=1, hash_wait_s=0), clock=FakeClock())
    attempt = LoginAttempt.of("mia", "203.0.113.7")
    with guard.checking(attempt), pytest.raises(LoginBusyError), guard.checking(attempt):
        pass
