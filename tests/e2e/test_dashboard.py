"""The dashboard in a real browser: headless Chromium on a tablet-sized screen, the real fleet.

Playwright drives Debian's Chromium against the cloud served on a loopback port, with the
secure broker, ingest, a claimed door and unclaimed boxes (tests/e2e/dashboard_world.py).
What people do is what the tests do: sign in, watch a member walk in without reloading,
acknowledge an alert, switch language, claim a box from its label; and each page is kept
as a screenshot for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from playwright.sync_api import (  # after the check above: only if playwright is there
    Browser,
    Page,
    ViewportSize,
    expect,
)

from tests.e2e.browsers import artifacts_folder, headless_chromium  # skips without playwright
from tests.e2e.dashboard_world import (
    DEADLINE_S,
    MANAGER,
    MEMBER_USER,
    OTHER_VENUE,
    PASSWORD,
    TECH,
    VENUE,
    DashboardWorld,
    dashboard_world,
)
from tests.fixtures.secure_broker import require_secure_mosquitto
from yizhan.bench.provision_world import wait_readings

TIMEOUT_MS: Final = int(DEADLINE_S * 1000)
TABLET: Final = ViewportSize(width=1024, height=768)
PORTRAIT: Final = ViewportSize(width=768, height=1024)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardWorld]:
    require_secure_mosquitto()
    with dashboard_world(tmp_path_factory.mktemp("dashboard")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(timeout_ms=TIMEOUT_MS) as launched:
        yield launched


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts_folder(tmp_path_factory, "dashboard")


def _open_tab(browser: Browser, world: DashboardWorld) -> tuple[Page, list[str]]:
    """A fresh tablet-sized browser (no cookies) and the script errors its pages raise."""
    context = browser.new_context(base_url=world.url, viewport=TABLET)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


@pytest.fixture
def page(browser: Browser, world: DashboardWorld) -> Iterator[Page]:
    tab, errors = _open_tab(browser, world)
    yield tab
    tab.context.close()
    assert not errors, f"the pages raised script errors: {errors}"


def sign_in(page: Page, username: str, *, lands_on: str = "/") -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(rf"^https?://[^/]+{re.escape(lands_on)}$"))


def live_root_refreshes(page: Page) -> int:
    return int(page.locator("main#live-root").get_attribute("data-refreshed") or 0)


def live_figure_updates(page: Page) -> int:
    """How often the page wrote new figures in place (app.js counts them on <main>)."""
    return int(page.locator("main#live-root").get_attribute("data-figures") or 0)


def wait_live(page: Page) -> None:
    """Until the page's event stream is open: changes from now on reach it."""
    expect(page.locator("#live-state")).to_be_visible()


def test_sign_in_refuses_a_wrong_password_and_lands_on_the_overview(
    world: DashboardWorld, page: Page
) -> None:
    page.goto("/")
    page.wait_for_url(re.compile(r"/login\?next=/$"))  # not signed in: sent to sign in first

    page.fill("input[name=username]", MANAGER)
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator("[data-login-error]")).to_be_visible()
    expect(page.locator("input[name=username]")).to_have_value(MANAGER)

    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^https?://[^/]+/$"))
    expect(page.locator(f'tr[data-venue-row="{VENUE}"]')).to_be_visible()
    # A manager sees their own venue only.
    expect(page.locator(f'tr[data-venue-row="{OTHER_VENUE}"]')).to_have_count(0)
    expect(page.locator(f'[data-who="{MANAGER}"]')).to_be_visible()


def test_occupancy_rises_live_when_a_simulated_member_enters(
    world: DashboardWorld, page: Page
) -> None:
    sign_in(page, MANAGER)
    count = page.locator(f'[data-occupancy="{VENUE}"]')
    expect(count).to_have_text(re.compile(r"^\d+$"))
    before = int(count.inner_text())
    wait_live(page)
    page.evaluate("window.__marker = 1")
    swaps, updates = live_root_refreshes(page), live_figure_updates(page)

    world.admit_member()  # shows a fresh code to the real door agent's camera

    expect(count).to_have_text(str(before + 1))
    assert page.evaluate("window.__marker") == 1, "the page reloaded instead of updating"
    # The figure changed in place: no <main> was re-rendered for it.
    assert live_figure_updates(page) > updates
    assert live_root_refreshes(page) == swaps


def test_acknowledging_an_alert_records_who_and_updates_the_row(
    world: DashboardWorld, page: Page
) -> None:
    alert_id = world.open_alert()
    sign_in(page, MANAGER)
    page.goto("/alerts")
    row = page.locator(f'tr[data-alert="{alert_id}"]')
    status = row.locator("[data-alert-status]")
    expect(status).to_have_attribute("data-alert-status", "open")
    page.evaluate("window.__marker = 1")

    row.locator("button[data-action=ack]").click()

    expect(status).to_have_attribute("data-alert-status", "acknowledged")
    expect(row.locator("button[data-action=ack]")).to_have_count(0)
    assert page.evaluate("window.__marker") == 1
    stored = world.alert(alert_id)
    assert stored.status == "acknowledged"
    assert stored.acknowledged_by == MANAGER

    row.locator("button[data-action=resolve]").click()
    expect(row).to_have_count(0)  # the list shows unresolved alerts by default
    stored = world.alert(alert_id)
    assert stored.status == "resolved"
    assert stored.resolved_by == MANAGER


def test_switching_language_changes_the_page_and_is_remembered(
    world: DashboardWorld, page: Page
) -> None:
    sign_in(page, TECH)
    html = page.locator("html")
    overview, alerts = page.locator("a[data-nav=overview]"), page.locator("a[data-nav=alerts]")
    expect(html).to_have_attribute("lang", "zh-CN")
    expect(overview).to_have_text("总览")
    expect(alerts).to_have_text("告警")

    page.click('a[data-lang="en"]')
    expect(html).to_have_attribute("lang", "en")
    expect(overview).to_have_text("Overview")
    expect(alerts).to_have_text("Alerts")
    page.goto("/alerts")  # the choice sticks to the next page
    expect(html).to_have_attribute("lang", "en")

    page.click('a[data-lang="zh-CN"]')
    expect(html).to_have_attribute("lang", "zh-CN")
    expect(alerts).to_have_text("告警")
    assert page.url.endswith("/alerts")  # back where the switch was clicked


def test_a_technician_claims_a_box_from_its_label(world: DashboardWorld, page: Page) -> None:
    with world.unclaimed_box() as box:  # powered on, and the cloud has heard its hello
        sign_in(page, TECH)
        page.goto("/fleet")
        serial = box.code.serial
        expect(page.locator(f'tr[data-pending="{serial}"]')).to_be_visible()
        form = page.locator("form#claim-form")
        form.locator("input[name=code]").fill(box.code.text())
        # Not the door's venue: a hub's beam counters would take over its occupancy figure.
        form.locator("select[name=venue_id]").select_option(OTHER_VENUE)
        form.locator("select[name=role]").select_option("sensor-hub")
        # Enter from the code field, as a hand on a keyboard would: the live refresh never
        # swaps the form while a field has the focus, so nothing moves under the submit.
        with page.expect_response(re.compile(r"/api/v1/devices/claim$")) as answer:
            form.locator("input[name=code]").press("Enter")
        assert answer.value.status == 201, answer.value.text()
        device = answer.value.json()["id"]
        assert world.device_of(serial) == device

        expect(page.locator(f'tr[data-device="{device}"]')).to_be_visible()  # live
        expect(page.locator(f'tr[data-pending="{serial}"]')).to_have_count(0)
        wait_readings(world.cloud, device, timeout=DEADLINE_S)  # it runs as that device
        assert box.identity() is not None
        # The page re-rendered with the new row; the answer is still there to read.
        expect(form.locator("[data-result]")).to_contain_text(device, timeout=5_000)


def shoot(page: Page, folder: Path, name: str) -> Path:
    lang = page.locator("html").get_attribute("lang")
    path = folder / f"dashboard-{name}-{lang}.png"
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 0
    return path


def visit(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None
    assert response.ok, f"{path} answered {response.status}"
    expect(page.locator("main#live-root")).not_to_be_empty()


def test_screenshots_of_every_page(
    world: DashboardWorld,
    browser: Browser,
    page: Page,
    artifacts: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with capsys.disabled():  # where to look, even when the output is captured
        print(f"\ndashboard screenshots: {artifacts}")
    world.admit_member()  # so the venue's charts have a visit to draw
    world.roll_up()
    page.goto("/login")
    shoot(page, artifacts, "login")
    sign_in(page, TECH)
    shoot(page, artifacts, "overview")

    visit(page, f"/venues/{VENUE}")
    expect(page.locator(f'[data-occupancy="{VENUE}"]')).to_be_visible()
    expect(page.locator("[data-chart]").first).to_be_visible()
    # A locator, not wait_for_function: the dashboard's CSP forbids eval, and newer
    # Playwright polls a string predicate with eval inside the page.
    expect(page.locator("[data-chart]:not([data-chart-ready='1'])")).to_have_count(0)
    for drawn in ("occupancy", "traffic"):
        expect(page.locator(f'[data-chart="{drawn}"]')).to_have_attribute(
            "data-chart-state", "drawn"
        )
    shoot(page, artifacts, "venue")

    for name in ("alerts", "fleet", "points"):
        visit(page, f"/{name}")
        expect(page.locator(f"a[data-nav={name}]")).to_be_visible()
        shoot(page, artifacts, name)

    visit(page, "/")
    page.set_viewport_size(PORTRAIT)
    shoot(page, artifacts, "overview-portrait")
    page.set_viewport_size(TABLET)
    page.click('a[data-lang="en"]')
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shoot(page, artifacts, "overview")

    member, errors = _open_tab(browser, world)
    try:
        sign_in(member, MEMBER_USER, lands_on="/member")
        expect(member.locator("a[data-nav=member]")).to_be_visible()
        expect(member.locator("a[data-nav=overview]")).to_have_count(0)
        # The rotating code is drawn by the page's own script from the issuer-signed JSON.
        expect(member.locator("[data-member-code] svg")).to_be_visible(timeout=30_000)
        shoot(member, artifacts, "member")
    finally:
        member.context.close()
    assert not errors, f"the member page raised script errors: {errors}"
    shots = sorted(p.name for p in artifacts.glob("dashboard-*.png"))
    assert len(shots) >= 9, shots
