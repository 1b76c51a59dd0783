"""The worker's phone app in a real browser: find a station, walk in from a poster and show
the code to a real door, book, keep the code offline, delete the account; and every page,
in both languages, free of sideways scrolling and of serious axe-core findings.

Headless Chromium (Debian's, through Playwright) at two phone sizes against the world of
tests/e2e/worker_world.py: the secure fleet with two doors on firmware_sim (one admits
guests, one is a library's that does not) and the phone app on the same database, whose
development SMS sender the test reads. The door reads the code off the phone's screen:
the test photographs the QR the page drew and decodes it with the door's own decoder, then
holds that text up to the door's virtual camera. Screenshots of each page at 360 px in both
languages are kept for a person to look at ($YIZHAN_ARTIFACTS, else a temporary folder).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import pytest
from playwright.sync_api import (  # after the check above: only if playwright is there
    Browser,
    Page,
    ViewportSize,
    expect,
)

from cloud.members.roster import Standing
from edge.access.reasons import Reason
from edge.scan.decoders import ZxingDecoder
from protocol.access import GUEST_GROUP
from protocol.membercode import MemberClaims, parse_code
from tests.e2e.browsers import artifacts_folder, headless_chromium  # skips without playwright
from tests.e2e.dashboard_world import DEADLINE_S, OTHER_VENUE, VENUE, utc_now
from tests.e2e.worker_world import (
    ACTIVITY_TITLE,
    HERE,
    LIBRARY,
    ROOM,
    WorkerWorld,
    refused,
    tomorrow_at,
    worker_world,
)
from tests.fixtures.secure_broker import require_secure_mosquitto
from tests.helpers import wait_for

TIMEOUT_MS: Final = 30_000
SMALL: Final = ViewportSize(width=360, height=740)
LARGE: Final = ViewportSize(width=390, height=844)
PHONE_SIZES: Final = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["360", "390"])
AXE: Final = Path(__file__).parent / "vendor" / "axe.min.js"
# A code read off the screen with less than this left is let go for the next one, as a
# person would wait a moment rather than race the turn of the minute.
MIN_CODE_LEFT: Final = timedelta(seconds=20)
_phones = itertools.count(1)


def new_phone() -> str:
    """A mainland mobile number not used before in this run (each gets one text a minute)."""
    return f"1390013{next(_phones):04d}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerWorld]:
    require_secure_mosquitto()
    with worker_world(tmp_path_factory.mktemp("worker")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(timeout_ms=TIMEOUT_MS) as launched:
        yield launched


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts_folder(tmp_path_factory, "worker")


OpenPhone = Callable[..., Page]


@pytest.fixture
def open_phone(browser: Browser, world: WorkerWorld) -> Iterator[OpenPhone]:
    """A fresh phone browser (no cookies, no storage) of the given size; options go to
    ``new_context``. No page may raise a script error."""
    errors: list[str] = []
    contexts = []

    def open_(size: ViewportSize = SMALL, **options: Any) -> Page:
        context = browser.new_context(
            base_url=world.url, viewport=size, has_touch=True, locale="zh-CN", **options
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        tab = context.new_page()
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        return tab

    yield open_
    for context in contexts:
        context.close()
    assert not errors, f"the pages raised script errors: {errors}"


# --- what a worker does --------------------------------------------------------------------


def ask_for_code(page: Page, world: WorkerWorld, phone: str) -> None:
    """From a sign-in page's phone step: the number in, the texted code in."""
    page.fill("#phone", phone)
    page.locator("form[action='/m/signin/code'].stack button[type=submit]").click()
    code = page.locator("#code")
    expect(code).to_be_visible()
    code.fill(world.sms_code(phone))
    page.locator("form[action='/m/signin/verify'] button[type=submit]").click()


def register(page: Page, *, occupation: str = "rider", name: str = "") -> None:
    page.wait_for_url(re.compile(r"/m/register$"))
    page.check(f"input[name=occupation][value={occupation}]")
    if name:
        page.fill("#name", name)
    page.check("input[name=consent]")
    page.locator("form[action='/m/register'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/m/code\?welcome=1$"))


def walk_in(page: Page, world: WorkerWorld, phone: str, *, name: str = "") -> None:
    """Scan the Xuhui station's poster and sign up: the phone ends on its code page."""
    page.goto(world.poster_path())
    expect(page.locator(".welcome")).to_contain_text("徐汇区户外劳动者驿站")
    ask_for_code(page, world, phone)
    register(page, name=name)


def read_qr(page: Page) -> str:
    """The text of the QR the code page shows, read off the screen as a door camera would."""
    qr = page.locator("[data-code] [data-qr]")
    expect(qr.locator("svg")).to_be_visible()
    image = cv2.imdecode(np.frombuffer(qr.screenshot(), np.uint8), cv2.IMREAD_COLOR)
    texts = ZxingDecoder().decode(np.asarray(image, dtype=np.uint8))
    assert len(texts) == 1, f"the screen's QR read as {texts}"
    return texts[0]


def fresh_code_on_screen(page: Page) -> tuple[str, MemberClaims]:
    """A code with time left to walk to the door: the next one if this one is nearly over."""
    card = page.locator("[data-code]")
    expect(card).to_have_attribute("data-state", "online")
    serial = card.get_attribute("data-code-serial") or ""  # counts the codes drawn
    text = read_qr(page)
    claims = parse_code(text).claims
    if claims.expires_at - utc_now() < MIN_CODE_LEFT:
        expect(card).not_to_have_attribute(
            "data-code-serial", serial, timeout=int(DEADLINE_S * 1000)
        )
        text = read_qr(page)
        claims = parse_code(text).claims
    return text, claims


def switch_language(page: Page, lang: str) -> None:
    page.locator("header.bar a.lang").click()
    expect(page.locator("html")).to_have_attribute("lang", lang)


# --- 1. find a station ---------------------------------------------------------------------


@PHONE_SIZES
def test_with_location_the_nearest_station_comes_first_with_its_distance(
    open_phone: OpenPhone, size: ViewportSize
) -> None:
    lat, lon = HERE
    page = open_phone(
        size, geolocation={"latitude": lat, "longitude": lon}, permissions=["geolocation"]
    )
    page.goto("/m/")
    page.locator("[data-locate]").click()
    # Rounded to three decimals (~100 m) before it leaves the phone.
    page.wait_for_url(re.compile(r"/m/\?lat=31\.190&lon=121\.43[89]$"))

    listed = page.locator("[data-stations] > li[data-station]")
    expect(listed).to_have_count(3)
    order = [listed.nth(i).get_attribute("data-station") for i in range(3)]
    assert order == [VENUE, LIBRARY, OTHER_VENUE]  # 0.3 km, 4.4 km, 10 km
    nearest = listed.first
    expect(nearest.locator(".far")).to_have_text(re.compile(r"^\d{2,3} 米$"))
    expect(listed.nth(1).locator(".far")).to_have_text(re.compile(r"^\d+\.\d 公里$"))
    expect(nearest.locator(".amenities li")).to_have_count(4)


def test_with_location_denied_a_hint_shows_and_the_district_picker_works(
    open_phone: OpenPhone,
) -> None:
    page = open_phone(SMALL)  # no geolocation permission: the browser says no
    page.goto("/m/")
    locate = page.locator("[data-locate]")
    hint = locate.get_attribute("data-denied")
    assert hint, "the button carries no hint for a refused location"
    locate.click()
    expect(page.locator("[data-locate-status]")).to_have_text(hint)
    assert page.url.endswith("/m/")  # no reload without a position

    page.select_option("#district", "闵行区")
    page.locator("form.district button[type=submit]").click()
    page.wait_for_url(re.compile(r"/m/\?district="))
    listed = page.locator("[data-stations] > li[data-station]")
    expect(listed).to_have_count(1)
    expect(listed.first).to_have_attribute("data-station", OTHER_VENUE)
    expect(listed.first.locator(".far")).to_have_count(0)  # no position, no distance
    expect(page.locator("#district")).to_have_value("闵行区")


# --- 2. walk in and show the code at the door ----------------------------------------------


@PHONE_SIZES
def test_a_walk_in_from_the_poster_gets_a_code_the_door_accepts(
    world: WorkerWorld, open_phone: OpenPhone, size: ViewportSize
) -> None:
    page = open_phone(size)
    phone = new_phone()
    walk_in(page, world, phone, name="老王")
    expect(page.locator("[data-guest]")).to_be_visible()  # a guest pass, for now
    member_id = world.member_of(phone)
    assert member_id.startswith("g-")
    assert world.member(member_id).groups == [GUEST_GROUP]

    text, claims = fresh_code_on_screen(page)
    assert claims.member_id == member_id
    assert claims.groups == (GUEST_GROUP,)

    # A brand-new guest: no member list sync is needed, the code is signed.
    world.door.admit(text)
    wait_for(
        lambda: world.visits_of(member_id) == 1,
        timeout=DEADLINE_S,
        message="the door's decision never reached the cloud (the guest pass counts visits)",
    )
    # The library's door, whose policy says admit_guests = false, says no to the same code.
    refused(world.guestless, text, Reason.GROUP_REQUIRED)


# --- 3. book and sign up, then cancel -------------------------------------------------------


def test_booking_a_slot_and_joining_an_activity_then_cancelling_both(
    world: WorkerWorld, open_phone: OpenPhone
) -> None:
    page = open_phone(SMALL)
    phone = new_phone()
    walk_in(page, world, phone)
    member_id = world.member_of(phone)

    page.goto("/m/book")
    expect(page.locator("#venue")).to_have_value(VENUE)  # the station whose poster they used
    expect(page.locator("#room")).to_have_value(ROOM)
    tomorrow = tomorrow_at(0).date().isoformat()
    page.select_option("#day", tomorrow)
    page.locator("form[action='/m/book'][method=get] button[type=submit]").click()
    page.wait_for_url(re.compile(rf"day={tomorrow}"))
    first_slot = page.locator(".slots form[action='/m/book'] button[type=submit]").first
    first_slot.click()
    page.wait_for_url(re.compile(r"/m/book\?done=booked$"))
    expect(page.locator("[data-done=booked]")).to_be_visible()
    expect(page.locator("li[data-booking]")).to_have_count(1)
    assert len(world.live_bookings(member_id)) == 1

    talk = page.locator(f'li[data-activity="{world.activity_id}"]')
    expect(talk).to_contain_text(ACTIVITY_TITLE)
    talk.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/m/book\?done=joined$"))
    expect(page.locator(f'li[data-signup="{world.activity_id}"]')).to_be_visible()
    assert len(world.live_signups(member_id)) == 1

    page.locator("li[data-booking] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/m/book\?done=cancelled$"))
    expect(page.locator("li[data-booking]")).to_have_count(0)
    page.locator(f'li[data-signup="{world.activity_id}"] button[type=submit]').click()
    page.wait_for_url(re.compile(r"/m/book\?done=left$"))
    expect(page.locator("li[data-signup]")).to_have_count(0)
    expect(page.locator(f'li[data-activity="{world.activity_id}"]')).to_be_visible()  # again
    assert world.live_bookings(member_id) == []
    assert world.live_signups(member_id) == []


# --- 4. delete the account ------------------------------------------------------------------


def test_deleting_the_account_signs_the_phone_out_and_revokes_the_guest_pass(
    world: WorkerWorld, open_phone: OpenPhone
) -> None:
    page = open_phone(SMALL)
    phone = new_phone()
    walk_in(page, world, phone, name="小李")
    expect(page.locator("[data-code]")).to_have_attribute("data-state", "online")
    member_id = world.member_of(phone)

    page.goto("/m/me")
    expect(page.locator("[data-my-data]")).to_contain_text("小李")
    page.check("#delete input[name=confirm]")
    page.locator("#delete button[type=submit]").click()
    page.wait_for_url(re.compile(r"/m/\?deleted=1$"))
    expect(page.locator(".notice[role=status]")).to_be_visible()
    assert page.evaluate("localStorage.getItem('yz-codes')") is None  # no spares left behind

    page.goto("/m/code")
    page.wait_for_url(re.compile(r"/m/signin\?next=/m/code$"))
    answer = page.request.get("/m/code.json", max_redirects=0)
    assert answer.status in (303, 401), answer.status
    if answer.status == 303:
        assert answer.headers["location"].startswith("/m/signin")
    member = world.member(member_id)
    assert member.standing == Standing.REVOKED
    assert member.display_name is None
    assert member.phone_tail is None


# --- 5. offline -----------------------------------------------------------------------------


def test_the_code_page_works_offline_from_the_service_worker_and_saved_codes(
    world: WorkerWorld, open_phone: OpenPhone, artifacts: Path
) -> None:
    page = open_phone(SMALL)
    phone = new_phone()
    walk_in(page, world, phone)
    member_id = world.member_of(phone)
    card = page.locator("[data-code]")
    expect(card).to_have_attribute("data-state", "online")
    expect(card.locator("[data-qr] svg")).to_be_visible()
    assert page.evaluate("navigator.serviceWorker.controller !== null"), (
        "no service worker controls the code page after its first load"
    )

    page.context.set_offline(True)
    try:
        answer = page.reload()
        assert answer is not None
        assert answer.from_service_worker, "the offline page did not come from the worker"
        expect(card).to_have_attribute("data-state", "offline")
        expect(card.locator("[data-qr] svg")).to_be_visible()
        expect(page.locator("[data-offline]")).to_be_visible()
        expect(card.locator("[data-countdown]")).not_to_be_empty()
        assert parse_code(read_qr(page)).claims.member_id == member_id
        page.screenshot(path=artifacts / "worker-code-offline-zh-CN.png", full_page=True)
    finally:
        page.context.set_offline(False)


# --- 6. every page, both languages ----------------------------------------------------------

_SERIOUS: Final = ("serious", "critical")


def check_page(page: Page, artifacts: Path, name: str) -> list[str]:
    """Screenshot; and what is wrong: sideways scrolling, serious axe-core findings."""
    lang = page.locator("html").get_attribute("lang")
    shot = artifacts / f"worker-{name}-{lang}.png"
    page.screenshot(path=shot, full_page=True)
    assert shot.stat().st_size > 0
    problems = []
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] > widths[1]:
        problems.append(f"{name} ({lang}) scrolls sideways: {widths[0]} px in {widths[1]} px")
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    for violation in found["violations"]:
        if violation["impact"] in _SERIOUS:
            targets = [node["target"] for node in violation["nodes"]][:3]
            problems.append(f"{name} ({lang}): axe {violation['id']} on {targets}")
    return problems


def test_every_page_fits_a_phone_and_passes_axe_in_both_languages(
    world: WorkerWorld,
    open_phone: OpenPhone,
    artifacts: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with capsys.disabled():  # where to look, even when the output is captured
        print(f"\nworker app screenshots: {artifacts}")
    page = open_phone(SMALL)
    # An init script runs outside the page's Content-Security-Policy (script-src 'self'
    # would refuse an injected <script> tag): the pages are checked under their own policy.
    page.context.add_init_script(path=AXE)
    problems: list[str] = []

    def check(name: str, path: str | None = None) -> None:
        if path is not None:
            answer = page.goto(path)
            assert answer is not None
            assert answer.ok, f"{path} answered {answer.status}"
        problems.extend(check_page(page, artifacts, name))

    # Before signing in, in Chinese then in English.
    for lang in ("zh-CN", "en"):
        if lang == "en":
            switch_language(page, "en")
        check("finder", "/m/")
        check("join", world.poster_path())
        check("signin", "/m/signin")
        check("privacy", "/m/privacy")
    # Signing up, in English then in Chinese.
    phone = new_phone()
    page.goto(world.poster_path())
    page.fill("#phone", phone)
    page.locator("form[action='/m/signin/code'].stack button[type=submit]").click()
    expect(page.locator("#code")).to_be_visible()
    check("signin-code")
    page.fill("#code", world.sms_code(phone))
    page.locator("form[action='/m/signin/verify'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/m/register$"))
    check("register")
    switch_language(page, "zh-CN")
    check("register")
    register(page)
    # Signed in, in Chinese then in English.
    for lang in ("zh-CN", "en"):
        if lang == "en":
            switch_language(page, "en")
        page.goto("/m/code")
        expect(page.locator("[data-code] [data-qr] svg")).to_be_visible()
        check("code")
        check("book", "/m/book")
        check("me", "/m/me")
    assert not problems, "\n".join(problems)
