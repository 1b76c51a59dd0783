"""The code page's phone key in a real browser: with no signal and no spare code left, the
page signs a mode-2 proof with the Ed25519 key it keeps in IndexedDB, and a real door on
firmware_sim lets the worker in on it; signing out leaves no key behind.

Headless Chromium (Debian's, through Playwright) against tests/e2e/worker_world.py. The door
reads the code off the screen: the test photographs the QR the page drew and decodes it with
the door's own decoder (tests/e2e/test_worker_app.py's ``read_qr``), then holds that text up
to the door's virtual camera.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Final

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from protocol.membercode import Mode, parse_code
from tests.e2e.browsers import artifacts_folder, headless_chromium  # skips without playwright
from tests.e2e.dashboard_world import DEADLINE_S, utc_now
from tests.e2e.test_worker_app import SMALL, TIMEOUT_MS, read_qr, walk_in
from tests.e2e.worker_world import WorkerWorld, worker_world
from tests.fixtures.secure_broker import require_secure_mosquitto
from tests.helpers import wait_for

PHONE: Final = "13900270001"
KEY_DB: Final = "yz-phone-key"
# The one console error that is no fault of the page: with the context offline, Chromium
# reports worker.js's fetch of /m/code.json that could not go out.
_NO_SIGNAL: Final = re.compile(r"^Failed to load resource: net::ERR_INTERNET_DISCONNECTED$")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerWorld]:
    require_secure_mosquitto()
    with worker_world(tmp_path_factory.mktemp("phone-key")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(timeout_ms=TIMEOUT_MS) as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, world: WorkerWorld) -> Iterator[Page]:
    """A fresh phone; no script error and no console error but a request with no signal."""
    context = browser.new_context(
        base_url=world.url, viewport=SMALL, has_touch=True, locale="zh-CN"
    )
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not _NO_SIGNAL.match(message.text):
            errors.append(f"{message.text} ({message.location.get('url')})")

    tab.on("console", console)
    yield tab
    context.close()
    assert not errors, f"the page logged errors: {errors}"


def key_stores(page: Page) -> list[str]:
    names: list[str] = page.evaluate("indexedDB.databases().then(l => l.map(d => d.name))")
    return names


def test_with_no_signal_and_no_spares_the_phone_key_signs_a_code_the_door_accepts(
    world: WorkerWorld, page: Page, tmp_path_factory: pytest.TempPathFactory
) -> None:
    walk_in(page, world, PHONE)
    member_id = world.member_of(PHONE)
    card = page.locator("[data-code]")
    # The code page as itself, so the service worker keeps a copy for no signal; its key
    # was certified when the first codes came.
    page.goto("/m/code")
    expect(card).to_have_attribute("data-state", "online")
    expect(card).to_have_attribute("data-phone-key", "ready")
    assert KEY_DB in key_stores(page)

    # No signal, and the spares gone (as eleven minutes later): the page comes from the
    # service worker and the key signs the code.
    page.context.set_offline(True)
    try:
        page.evaluate("localStorage.removeItem('yz-codes')")
        page.clock.install()  # the page's timers from here on run when the test says
        answer = page.reload()
        assert answer is not None
        assert answer.from_service_worker, "the offline page did not come from the worker"
        expect(card).to_have_attribute("data-state", "offline-key")
        text = read_qr(page)
        page.screenshot(
            path=artifacts_folder(tmp_path_factory, "worker") / "worker-code-phone-key.png"
        )
        # Twenty seconds on, a fresh proof (its 30 s would otherwise run out in front of a door).
        serial = card.get_attribute("data-code-serial")
        page.clock.run_for(21_000)
        expect(card).not_to_have_attribute("data-code-serial", serial or "")
        expect(card).to_have_attribute("data-state", "offline-key")
        later = parse_code(read_qr(page)).claims
    finally:
        page.context.set_offline(False)

    parsed = parse_code(text)
    claims = parsed.claims
    assert claims.mode is Mode.PHONE_PROOF
    assert claims.member_id == member_id
    assert claims.expires_at - claims.issued_at == timedelta(seconds=30)
    assert abs(claims.issued_at - utc_now()) < timedelta(seconds=10)
    assert claims.cert_valid_until is not None
    assert claims.cert_valid_until - utc_now() > timedelta(days=6)
    assert timedelta(seconds=19) <= later.issued_at - claims.issued_at <= timedelta(seconds=23)
    assert later.nonce != claims.nonce
    # A real door, with the issuer's public key and its member list alone, lets them in.
    world.door.admit(text)
    wait_for(
        lambda: world.visits_of(member_id) == 1,
        timeout=DEADLINE_S,
        message="the door's decision never reached the cloud",
    )

    # Signing out leaves neither the spares nor the key on a shared phone.
    page.goto("/m/me")
    page.locator("form[action='/m/signout'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/m/$"))
    wait_for(
        lambda: KEY_DB not in key_stores(page),
        timeout=DEADLINE_S,
        message="the phone key's store outlived the sign-out",
    )
