"""Every dashboard page on a phone, for every role: no sideways scroll, a one-row header whose
menu opens with tall enough links, tables as cards, a way back from an error, no serious axe
findings.

Headless Chromium (Debian's, through Playwright) against the cloud served by uvicorn on a
loopback port over SQLite, seeded with what broke the phone layout before: bilingual venue
names as long as real ones, a door log of twenty decisions, open alerts, a kiosk, waiting
boxes and a rollout. One browser and one signed-in context per role for the module; each
page is looked at in Chinese at 360×740 and in English at 390×844 (and a few at 1366×768).
Screenshots go to $YIZHAN_ARTIFACTS (else a temporary folder).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pytest
from playwright.sync_api import (  # after the check in browsers: only if playwright is there
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    expect,
)
from pydantic import SecretStr
from sqlmodel import Session

from cloud.access.issuer import load_or_create
from cloud.access.store import upsert_member
from cloud.aggregates.occupancy import set_venue_settings
from cloud.alerts.models import Alert
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.settings import AuthSettings
from cloud.auth.store import create_user
from cloud.bookings import activities, rooms
from cloud.bookings.activities import ActivityIn
from cloud.bookings.rooms import RoomIn
from cloud.devices.models import (
    Device,
    DeviceDesiredConfig,
    DeviceFault,
    DeviceHealth,
    PendingBox,
    PendingBoxCheck,
)
from cloud.jobs.settings import JobSettings
from cloud.members.roster import RosterEntry, upsert
from cloud.models import DeviceEvent, Venue
from cloud.points import ledger
from cloud.points.catalog import SlotSetting, create_product, set_slot
from cloud.points.catalog_models import ProductCreate
from cloud.releases.models import ReleaseRow, Rollout, RolloutDevice
from cloud.service import build_api, open_database
from cloud.settings import CloudSettings
from cloud.web.settings import WebSettings
from tests.e2e.browsers import artifacts_folder, headless_chromium, serving

TIMEOUT_MS: Final = 20_000
SMALL: Final = ViewportSize(width=360, height=740)
PHONE: Final = ViewportSize(width=390, height=844)
LAPTOP: Final = ViewportSize(width=1366, height=768)
AXE: Final = Path(__file__).parent / "vendor" / "axe.min.js"
PASSWORD: Final = "layout-phone-e2e-password"
VENUE: Final = "v1"
MEMBER_ID: Final = "M00000042"
# Real names are this long, in both languages at once: they once made pages 498 px wide.
NAMES: Final = {
    VENUE: "徐汇区漕河泾开发区骑手暖心驿站 Caohejing Development Zone Riders' Warm Station",
    "v2": "闵行区七宝镇职工之家 Minhang Qibao Town Workers' Home",
    "v3": "浦东新区陆家嘴金融城户外劳动者服务站 Lujiazui-Financial-City-Outdoor-Workers-Point",
}
USERS: Final = {
    "admin": ("root", Role.ADMIN, [], None),
    "manager": ("boss", Role.MANAGER, [VENUE], None),
    "technician": ("tech", Role.TECHNICIAN, [], None),
    "member": ("wang", Role.MEMBER, [], MEMBER_ID),
}
# What each role opens (a page it may not open is an error page, which must fit too).
PAGES: Final = {
    "admin": (
        "/",
        f"/venues/{VENUE}",
        f"/venues/{VENUE}/bookings",
        f"/venues/{VENUE}/bookings?view=week",
        f"/venues/{VENUE}/activities",
        f"/venues/{VENUE}/poster",
        "/alerts",
        "/fleet",
        "/points",
        "/members",
        "/notifications",
        "/reports",
        "/wall",
        f"/venues/{VENUE}/settings",
        "/no-such-page",
    ),
    "manager": (
        "/",
        f"/venues/{VENUE}",
        f"/venues/{VENUE}/bookings",
        f"/venues/{VENUE}/activities",
        "/alerts",
        "/points",
        "/notifications",
        "/reports",
        "/wall",
        f"/venues/{VENUE}/settings",
        "/fleet",
    ),
    "technician": (
        "/",
        f"/venues/{VENUE}",
        "/alerts",
        "/fleet",
        "/points",
        "/notifications",
        "/reports",
        f"/venues/{VENUE}/settings",
    ),
    "member": ("/member", "/"),
}
WIDE_PAGES: Final = {
    "admin": ("/", f"/venues/{VENUE}", "/alerts", "/fleet", "/points"),
    "member": ("/member",),
}
# The pages a role is refused: they must fit and lead home too.
ERROR_PAGES: Final = {
    "/no-such-page": {"admin": 404},
    "/fleet": {"manager": 403},
    "/": {"member": 403},
}
BELL: Final = {"admin": "5", "technician": "5", "manager": "4"}
_SERIOUS: Final = ("serious", "critical")


@dataclass(slots=True)
class LayoutWorld:
    url: str
    browser: Browser
    contexts: dict[str, BrowserContext]
    artifacts: Path
    axed: set[tuple[str, int]] = field(default_factory=set)  # (path, status) axe has seen

    def page(self, role: str) -> Page:
        return self.contexts[role].pages[0]


# --- the world -----------------------------------------------------------------------------


def _venues_and_devices(session: Session, now: datetime) -> None:
    for n, (venue_id, name) in enumerate(NAMES.items()):
        kind = ("outdoor-station", "worker-home", "library")[n]
        session.add(Venue(id=venue_id, name=name, district="徐汇区", kind=kind))
    session.commit()
    seen = now - timedelta(minutes=1)
    session.add_all(
        [
            Device(
                id="v1-door-1",
                venue_id=VENUE,
                role="door",
                serial="qqqqqqqqq2",
                online=True,
                last_seen_at=seen,
            ),
            Device(id="v1-kiosk-1", venue_id=VENUE, role="kiosk", online=True, last_seen_at=seen),
            Device(id="v1-hub-1", venue_id=VENUE, role="sensor-hub", last_seen_at=seen),
            Device(id="v2-door-1", venue_id="v2", role="door", online=True, last_seen_at=seen),
        ]
    )
    session.commit()
    session.add(
        DeviceHealth(
            device_id="v1-door-1",
            seq=9,
            ts=seen,
            uptime_s=7200,
            disk_free_mb=78_232,
            cpu_temp_c=51.0,
            outbox_depth=17,
            received_at=seen,
        )
    )
    # A dead door screen: its fault (a long, unbroken box message) sits under the state.
    session.add(
        DeviceFault(
            device_id="v1-door-1",
            sensor="door-screen",
            problem="door screen did not take a frame (OSError(5, 'Input/output error')): "
            "check the screen's wiring and power, and that SPI is enabled",
            seq=10,
            ts=seen,
            received_at=seen,
        )
    )
    session.add(
        DeviceDesiredConfig(
            device_id="v1-door-1",
            version=1,
            issued_at=now,
            issued_by="tech",
            settings={"sample_interval_s": 30},
        )
    )
    session.add(
        PendingBox(serial="abcdefgh23", first_seen_at=now - timedelta(minutes=5), last_seen_at=now)
    )
    session.add(
        PendingBoxCheck(
            serial="abcdefgh23",
            check="ab12",
            first_seen_at=now - timedelta(minutes=5),
            last_seen_at=now,
        )
    )
    session.commit()


def _rollout(session: Session, now: datetime) -> None:
    session.add(
        ReleaseRow(
            version="2026.12.1",
            serial=1,
            python="3.11",
            machine="aarch64",
            created_at=now,
            total_bytes=1,
            wheel_count=1,
            key_id="k1",
            manifest=b"{}",
            published_by="root",
        )
    )
    session.commit()
    session.add(
        Rollout(
            id="ro-2026-12-1",
            release="2026.12.1",
            stages=[{"devices": 1, "soak_s": 600}],
            current_stage=0,
            created_by="root",
            created_at=now,
            updated_at=now,
        )
    )
    session.commit()
    session.add(
        RolloutDevice(
            rollout_id="ro-2026-12-1", device_id="v1-hub-1", venue_id=VENUE, stage=0, updated_at=now
        )
    )
    session.commit()


def _alerts_and_door_log(session: Session, now: datetime) -> None:
    # Unresolved: three here, one at v2 (the manager's bell does not count it); one resolved.
    for n, (venue, kind, severity, device, resolved) in enumerate(
        (
            (VENUE, "fridge_warm", "warning", "v1-hub-1", False),
            (VENUE, "door_forced", "critical", "v1-door-1", False),
            (VENUE, "over_capacity", "warning", None, False),
            ("v2", "device_offline", "warning", "v2-door-1", False),
            (VENUE, "door_held_open", "warning", "v1-door-1", True),
        )
    ):
        key = f"{kind}:{venue}:{n}"
        session.add(
            Alert(
                venue_id=venue,
                device_id=device,
                kind=kind,
                severity=severity,
                status="resolved" if resolved else "open",
                dedupe_key=key,
                active_key=None if resolved else key,
                opened_at=now - timedelta(minutes=n),
                last_seen_at=now,
                message_zh="冰箱温度 11.5°C，高于 8°C，已持续 20 分钟",
                message_en="Fridge at 11.5°C, above 8°C for 20 minutes",
            )
        )
    reasons = ("accepted", "passback", "expired", "membership_expired", "outside_hours")
    for n in range(20):
        data = {
            "door": "main",
            "reason": reasons[n % len(reasons)],
            "detail": "e2e",
            "member": f"M{n:08d}",
            "mode": 1,
        }
        at = now - timedelta(minutes=n)
        session.add(
            DeviceEvent(
                device_id="v1-door-1",
                seq=n + 1,
                venue_id=VENUE,
                type="access.decision",
                ts=at,
                data=data,
                received_at=at,
            )
        )
    session.commit()


def _kiosk_and_points(session: Session, now: datetime) -> None:
    kiosk = session.get(Device, "v1-kiosk-1")
    assert kiosk is not None
    for slot, (zh, en, stock) in enumerate(
        (("矿泉水", "Mineral water", 12), ("防暑降温清凉油组合装", "Cooling balm set", 1)), start=1
    ):
        product = create_product(
            session=session,
            product_in=ProductCreate(name_zh=zh, name_en=en, price=10 * slot),
            by="root",
            now=now,
        )
        setting = SlotSetting(
            product_id=product.id, capacity=20, low_stock_threshold=2, stock=stock
        )
        set_slot(session=session, kiosk=kiosk, slot=slot, setting=setting, by="root", now=now)
    lines = [(ledger.POOL, -120), (ledger.member_account(MEMBER_ID), 120)]
    ledger.post(
        session=session,
        key="welcome",
        kind="grant",
        lines=lines,
        memo="welcome",
        at=now - timedelta(days=1),
    )
    session.commit()


def _people_rooms_activities(session: Session, now: datetime) -> None:
    entries = [
        RosterEntry(member_id=MEMBER_ID, display_name="王师傅", phone_tail="4321"),
        RosterEntry(member_id="M00000043", display_name="李娜 Li Na (外卖骑手 delivery rider)"),
    ]
    upsert(session=session, entries=entries, by="root", now=now - timedelta(days=30))
    upsert_member(session=session, member_id=MEMBER_ID, now=now)
    session.commit()
    room_in = RoomIn(
        door="court-door",
        name_zh="羽毛球场（二楼东侧）",
        name_en="Badminton court (2nd floor, east)",
        kind="court",
        capacity=2,
    )
    room = rooms.put_room(session=session, venue_id=VENUE, room_id="court-1", room_in=room_in)
    starts = (now + timedelta(days=1)).replace(hour=6, minute=0, second=0, microsecond=0)
    rooms.book(
        session=session,
        room=room,
        member_id=MEMBER_ID,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        by="test",
        now=now,
    )
    activity_in = ActivityIn(
        title="夏季防暑讲座 Summer heat-safety talk for riders",
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        capacity=20,
        points=30,
    )
    activities.create(session=session, venue_id=VENUE, activity_in=activity_in, by="root", now=now)
    for username, role, venues, member in USERS.values():
        create_user(
            session=session,
            user_in=UserCreate(
                username=username, password=PASSWORD, role=role, venue_ids=venues, member_id=member
            ),
        )


def _sign_in(context: BrowserContext, username: str) -> None:
    page = context.new_page()
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^https?://[^/]+/(member)?$"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LayoutWorld]:
    root = tmp_path_factory.mktemp("layout-phone")
    load_or_create(root / "issuer.json")
    settings = CloudSettings(
        data_dir=root,
        auth=AuthSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32))),
        jobs=JobSettings(enabled=False),
        web=WebSettings(issuer_key_file=root / "issuer.json"),
    )
    engine = open_database(settings)
    now = datetime.now(UTC)
    with Session(engine) as session:
        _venues_and_devices(session, now)
        _rollout(session, now)
        _alerts_and_door_log(session, now)
        _kiosk_and_points(session, now)
        _people_rooms_activities(session, now)
    set_venue_settings(engine, VENUE, now=now, capacity=30)
    artifacts = artifacts_folder(tmp_path_factory, "layout-phone")
    try:
        with (
            serving(build_api(settings, engine), name="layout-phone") as url,
            headless_chromium(timeout_ms=TIMEOUT_MS) as browser,
        ):
            contexts = {role: _context(browser, url, user[0]) for role, user in USERS.items()}
            yield LayoutWorld(url, browser, contexts, artifacts)
            for context in contexts.values():
                context.close()
    finally:
        engine.dispose()


def _context(browser: Browser, url: str, username: str) -> BrowserContext:
    context = browser.new_context(base_url=url, viewport=SMALL)
    context.set_default_timeout(TIMEOUT_MS)
    # An init script runs outside the pages' Content-Security-Policy (script-src 'self').
    context.add_init_script(path=AXE)
    _sign_in(context, username)
    return context


# --- what is wrong with a page -------------------------------------------------------------


def _set_lang(page: Page, lang: str) -> None:
    page.context.add_cookies([{"name": "yz_lang", "value": lang, "url": page.url}])


def _open(page: Page, path: str, *, status: int = 200) -> None:
    answer = page.goto(path, wait_until="domcontentloaded")
    assert answer is not None
    assert answer.status == status, f"{path} answered {answer.status}, not {status}"
    expect(page.locator("main#live-root")).not_to_be_empty()


def _sideways(page: Page, name: str) -> list[str]:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width <= inner:
        return []
    # Name the widest culprits, so a failure says where to look.
    culprits = page.evaluate(
        """() => [...document.querySelectorAll('main *, header *')]
             .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
             .slice(0, 3).map((el) => el.tagName + '.' + el.className + ' ' +
               Math.round(el.getBoundingClientRect().right))"""
    )
    return [f"{name} scrolls sideways: {width} px in {inner} px ({culprits})"]


def _axe(page: Page, name: str) -> list[str]:
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{name}: axe {v['id']} on {[n['target'] for n in v['nodes']][:3]}"
        for v in found["violations"]
        if v["impact"] in _SERIOUS
    ]


def _shot(world: LayoutWorld, page: Page, role: str, path: str, size: ViewportSize) -> None:
    lang = page.locator("html").get_attribute("lang")
    slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"
    # The whole page at 360 px, for a person to scroll through; the first screen otherwise.
    full = size == SMALL
    page.screenshot(
        path=world.artifacts / f"{role}-{slug}-{size['width']}-{lang}.png", full_page=full
    )


def _measure(page: Page, selector: str, what: str) -> list[Any]:
    """``what`` of every element ``selector`` finds, in one go: a live refresh may swap
    <main> between finding elements and measuring them in two steps."""
    found: list[Any] = page.evaluate(
        f"(s) => [...document.querySelectorAll(s)].map((el) => {what})", selector
    )
    return found


# --- the tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(USERS))
def test_every_page_fits_a_phone_in_both_languages_and_passes_axe(
    world: LayoutWorld, role: str
) -> None:
    page = world.page(role)
    problems: list[str] = []
    for lang, size in (("zh-CN", SMALL), ("en", PHONE)):
        page.set_viewport_size(size)
        _set_lang(page, lang)
        for path in PAGES[role]:
            _open(page, path, status=ERROR_PAGES.get(path, {}).get(role, 200))
            name = f"{role} {path} at {size['width']} px ({lang})"
            problems += _sideways(page, name)
            # axe once a page, by the first role that opens it: another role's copy is the
            # same template (its header has fewer links), and axe is most of the time here.
            status = ERROR_PAGES.get(path, {}).get(role, 200)
            if lang == "zh-CN" and (path, status) not in world.axed:
                world.axed.add((path, status))
                problems += _axe(page, name)
            _shot(world, page, role, path, size)
    _set_lang(page, "zh-CN")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", list(USERS))
def test_the_phone_header_is_one_row_and_its_menu_opens_over_the_page(
    world: LayoutWorld, role: str
) -> None:
    page = world.page(role)
    page.set_viewport_size(SMALL)
    _open(page, PAGES[role][0], status=ERROR_PAGES.get(PAGES[role][0], {}).get(role, 200))
    header = page.locator("header.top")
    assert (header.bounding_box() or {"height": 999})["height"] <= 64, "the header wraps"
    button = page.locator("details[data-menu] > summary")
    box = button.bounding_box()
    assert box is not None
    assert box["height"] >= 44
    assert box["width"] >= 44
    panel = page.locator("#site-menu")
    expect(panel).to_be_hidden()
    main_top = page.locator("main").bounding_box()

    button.click()

    expect(button).to_have_attribute("aria-expanded", "true")
    expect(panel).to_be_visible()
    page.screenshot(path=world.artifacts / f"{role}-menu-open-360.png")
    assert page.locator("main").bounding_box() == main_top, "opening the menu moved the page"
    links = panel.locator("nav a, .tools a, .tools button")
    assert links.count() >= 3
    for n in range(links.count()):
        link = links.nth(n)
        found = link.bounding_box()
        assert found is not None, link.inner_text()
        assert found["height"] >= 44, f"{link.inner_text()} is {found['height']} px tall"
        assert found["x"] >= 0
        assert found["x"] + found["width"] <= SMALL["width"]
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    # A member's brand leads to their card; staff's to the overview.
    expect(page.locator("a.brand")).to_have_attribute(
        "href", "/member" if role == "member" else "/"
    )
    expect(page.locator("a.bell")).to_have_count(0 if role == "member" else 1)
    if role != "member":  # unresolved alerts in the viewer's venues (and v1's low stock)
        expect(page.locator("a.bell")).to_have_attribute("data-bell-count", BELL[role])


def test_alerts_and_devices_are_cards_with_whole_word_buttons(world: LayoutWorld) -> None:
    page = world.page("admin")
    page.set_viewport_size(SMALL)
    for path, selector in (
        ("/alerts", "tr[data-alert] button"),
        ("/fleet", "tr[data-device] .actions > button"),
    ):
        _open(page, path)
        expect(page.locator("table.cards thead").first).to_be_hidden()
        sizes = _measure(
            page, selector, "[el.innerText, el.offsetHeight, el.scrollWidth <= el.clientWidth]"
        )
        assert len(sizes) >= 2
        for text, height, fits in sizes:
            assert 44 <= height < 60, f"{path}: {text!r} is {height} px tall (one line: 44-59)"
            assert fits, f"{path}: {text!r} is cut off"
    _open(page, f"/venues/{VENUE}")
    widths = _measure(page, "[data-reason-text]", "el.getBoundingClientRect().width")
    assert len(widths) == 20
    assert min(widths) >= 120, f"the door log's reasons are squeezed: {widths}"


def test_an_error_page_always_has_a_way_back(world: LayoutWorld) -> None:
    member = world.page("member")
    member.set_viewport_size(SMALL)
    _open(member, "/alerts", status=403)
    expect(member.locator("[data-way-home]")).to_have_attribute("href", "/member")
    expect(member.locator("a[data-nav=member]")).to_have_count(1)  # its menu is there too
    admin = world.page("admin")
    _open(admin, "/venues/no-such-venue", status=404)
    expect(admin.locator("[data-way-home]")).to_have_attribute("href", "/")
    stranger = world.browser.new_context(base_url=world.url, viewport=SMALL)
    stranger.add_init_script(path=AXE)
    try:
        page = stranger.new_page()
        _open(page, "/no-such-page", status=404)
        expect(page.locator("[data-way-home]")).to_have_attribute("href", "/login")
        # Signed out, the header is the brand and the language switch, on one row.
        _open(page, "/login")
        expect(page.locator("a[data-lang]")).to_be_visible()
        assert not _sideways(page, "/login") + _axe(page, "/login")
        _shot(world, page, "signed-out", "/login", SMALL)
    finally:
        stranger.close()


@pytest.mark.parametrize("role", list(WIDE_PAGES))
def test_a_wide_screen_shows_the_menu_inline(world: LayoutWorld, role: str) -> None:
    page = world.page(role)
    page.set_viewport_size(LAPTOP)
    problems: list[str] = []
    for path in WIDE_PAGES[role]:
        _open(page, path)
        problems += _sideways(page, f"{role} {path} at 1366 px")
        expect(page.locator("details[data-menu]")).to_be_hidden()
        expect(page.locator("#site-menu nav a").first).to_be_visible()
        _shot(world, page, role, path, LAPTOP)
    page.set_viewport_size(SMALL)
    assert not problems, "\n".join(problems)
