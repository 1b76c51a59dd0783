"""A venue's public profile and walk-in poster in a real browser: an admin edits the profile on
the venue page (static/venue.js turns the checkboxes, lines and boxes into the API's JSON),
prints the poster, and retires the printed ones.

Headless Chromium (Debian's, through Playwright) against the cloud served by uvicorn on a
loopback port over SQLite. Screenshots at a phone's 360 px and a laptop's 1366 px are kept
for a person to look at ($YIZHAN_ARTIFACTS, else a temporary folder).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
from playwright.sync_api import (  # after the check in browsers: only if playwright is there
    Browser,
    Page,
    ViewportSize,
    expect,
)
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.settings import AuthSettings
from cloud.auth.store import create_user
from cloud.jobs.settings import JobSettings
from cloud.models import Venue
from cloud.service import build_api, open_database
from cloud.settings import CloudSettings
from tests.e2e.browsers import (  # skips without playwright
    artifacts_folder,
    headless_chromium,
    serving,
)

TIMEOUT_MS: Final = 30_000
PHONE: Final = ViewportSize(width=360, height=780)
LAPTOP: Final = ViewportSize(width=1366, height=768)
A4: Final = ViewportSize(width=794, height=1123)  # 210 x 297 mm at 96 px an inch
ADMIN: Final = "root"
PASSWORD: Final = "venue-profile-e2e-password"


@dataclass(frozen=True, slots=True)
class VenueWorld:
    url: str
    engine: Engine

    def venue(self) -> Venue:
        with Session(self.engine) as session:
            found = session.get(Venue, "v1")
            assert found is not None
            return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VenueWorld]:
    settings = CloudSettings(
        data_dir=tmp_path_factory.mktemp("venue-profile"),
        auth=AuthSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32))),
        jobs=JobSettings(enabled=False),
    )
    engine = open_database(settings)
    with Session(engine) as session:
        session.add(
            Venue(id="v1", name="徐汇区漕河泾开发区骑手暖心驿站", latitude=31.17, longitude=121.4)
        )
        session.commit()
        create_user(
            session=session, user_in=UserCreate(username=ADMIN, password=PASSWORD, role=Role.ADMIN)
        )
    try:
        with serving(build_api(settings, engine), name="venue-profile") as url:
            yield VenueWorld(url, engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(timeout_ms=TIMEOUT_MS) as launched:
        yield launched


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts_folder(tmp_path_factory, "venue-profile")


@pytest.fixture
def page(browser: Browser, world: VenueWorld) -> Iterator[Page]:
    """A fresh browser signed in as the admin, on the venue page; no script error may happen."""
    context = browser.new_context(base_url=world.url, viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto("/login?next=/venues/v1")
    tab.fill("input[name=username]", ADMIN)
    tab.fill("input[name=password]", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url(re.compile(r"/venues/v1$"))
    yield tab
    context.close()
    assert not errors, f"the page raised script errors: {errors}"


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"{page.url} is {width} px wide in a {inner} px window"


def _outside(page: Page, selectors: list[str]) -> list[str]:
    """The selectors whose element runs past the window's sides, measured in one go (a live
    refresh may swap <main> between two separate looks)."""
    found: list[str] = page.evaluate(
        """(selectors) => selectors.filter((s) => {
             const el = document.querySelector(s);
             if (!el) return true;
             const box = el.getBoundingClientRect();
             return box.width === 0 || box.left < 0 || box.right > window.innerWidth;
           })""",
        selectors,
    )
    return found


def save(page: Page) -> int:
    """Send the profile form and wait for the API's answer; its status."""
    with page.expect_response(lambda r: r.request.method == "PATCH") as answer:
        page.locator("form[data-profile-form] button[type=submit]").click()
    return answer.value.status


def test_an_admin_edits_the_profile_and_a_mistake_is_said_in_place(
    world: VenueWorld, page: Page
) -> None:
    form = page.locator("form[data-profile-form]")
    result = form.locator("[data-result]")
    form.locator("input[name=address]").fill("  漕宝路 1500 号  ")
    form.locator('input[data-for="amenities"][value="wifi"]').check()
    form.locator('input[data-for="amenities"][value="water"]').check()
    form.locator('input[data-for="longitude"]').fill("")  # a latitude alone
    form.locator('textarea[data-for="hours"]').fill("mon-fri 07:00-22:00\n\nsat,sun  09:00-18:00\n")
    form.locator('input[data-for="admits_guests"]').uncheck()
    assert save(page) == 422
    expect(result).to_contain_text("纬度和经度要一起填写")
    expect(result).to_have_class("result error")
    assert world.venue().address is None, "a refused edit was stored"

    form.locator('input[data-for="latitude"]').fill("")
    form.locator('textarea[data-for="hours"]').fill("mon-fri 7-22")
    assert save(page) == 422
    expect(result).to_contain_text("的值不符合要求")  # the hours' field, in the page's words

    form.locator('textarea[data-for="hours"]').fill("mon-fri 07:00-22:00\n\nsat,sun  09:00-18:00\n")
    assert save(page) == 200
    expect(result).to_have_text("已保存")
    stored = world.venue()
    assert stored.address == "漕宝路 1500 号"
    assert stored.amenities == ["water", "wifi"]
    assert stored.hours == ["mon-fri 07:00-22:00", "sat,sun 09:00-18:00"]
    assert (stored.latitude, stored.longitude, stored.admits_guests) == (None, None, False)
    # The re-rendered form shows what was stored.
    expect(page.locator('textarea[data-for="hours"]')).to_have_value(
        "mon-fri 07:00-22:00\nsat,sun 09:00-18:00"
    )
    expect(page.locator('input[data-for="admits_guests"]')).not_to_be_checked()

    page.locator('input[data-for="admits_guests"]').check()
    page.locator('input[data-for="latitude"]').fill("31.1702")
    page.locator('input[data-for="longitude"]').fill("121.3975")
    assert save(page) == 200
    stored = world.venue()
    assert (stored.latitude, stored.longitude, stored.admits_guests) == (31.1702, 121.3975, True)


def test_the_poster_prints_without_the_dashboard_and_renews(
    world: VenueWorld, page: Page, artifacts: Path
) -> None:
    page.click("a[data-to-poster]")
    page.wait_for_url(re.compile(r"/venues/v1/poster$"))
    url = page.locator("[data-poster-url]").inner_text()
    assert url.startswith(f"{world.url}/m/join/v1?p=")
    expect(page.locator("[data-poster-qr] svg")).to_be_visible()

    shots = []
    for size in (PHONE, LAPTOP):
        page.set_viewport_size(size)
        if size == PHONE:
            _no_sideways_scroll(page)
        shots.append(artifacts / f"poster-{size['width']}.png")
        page.screenshot(path=shots[-1], full_page=True)
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.locator(".poster-tools")).to_be_hidden()
    expect(page.locator("[data-poster-qr] svg")).to_be_visible()
    page.set_viewport_size(A4)
    page.screenshot(path=artifacts / "poster-print.png", full_page=True)
    page.pdf(path=artifacts / "poster.pdf", format="A4")
    page.emulate_media(media="screen")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[data-renew-poster]")
    expect(page.locator("[data-poster-edition]")).to_have_attribute("data-poster-edition", "2")
    assert page.locator("[data-poster-url]").inner_text() != url
    assert world.venue().poster_edition == 2
    assert all(p.stat().st_size > 0 for p in shots)


def test_the_profile_section_fits_a_phone(page: Page, artifacts: Path) -> None:
    page.set_viewport_size(PHONE)
    expect(page.locator("section[data-venue-profile]")).to_be_visible()
    _no_sideways_scroll(page)
    parts = [
        "section[data-venue-profile]",
        "form[data-profile-form] input[name=description]",
        "form[data-profile-form] textarea",
        "form[data-profile-form] fieldset",
        "form[data-profile-form] a[data-poster-link]",
    ]
    assert _outside(page, parts) == []
    page.screenshot(path=artifacts / "venue-360.png", full_page=True)
