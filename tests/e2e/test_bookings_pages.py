"""Bookings and activities in a real browser: a manager books members into slots and runs
activities, a member books a room and signs up from their own page.

Headless Chromium (Debian's, through Playwright) against the cloud served by uvicorn on a
loopback port over SQLite, on a fixed clock (Monday 1 December 2025, 10:00 in Shanghai) so
the days and slots on screen are known. The clock is in the past: a sign-in's token must
not be issued later than the wall clock (PyJWT checks ``iat`` against it). Screenshots at
a phone's 360 px and a laptop's 1366 px, in both languages, are kept for a person to look
at ($YIZHAN_ARTIFACTS, else a temporary folder).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import pytest
from playwright.sync_api import (  # after the check above: only if playwright is there
    Browser,
    Locator,
    Page,
    ViewportSize,
    expect,
)
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from cloud.access.models import Booking
from cloud.api.app import create_app
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.settings import AuthSettings
from cloud.auth.store import create_user
from cloud.bookings import activities, rooms
from cloud.bookings.activities import ActivityIn
from cloud.bookings.models import Activity, ActivitySignup, Room
from cloud.bookings.rooms import RoomIn
from cloud.devices.models import Device
from cloud.jobs.settings import JobSettings
from cloud.members.roster import RosterEntry, upsert
from cloud.models import DeviceEvent, Venue
from cloud.service import open_database
from cloud.settings import CloudSettings
from tests.e2e.browsers import (  # skips without playwright
    artifacts_folder,
    headless_chromium,
    serving,
)

TIMEOUT_MS: Final = 30_000
START_TIMEOUT_S: Final = 30.0
PHONE: Final = ViewportSize(width=360, height=780)
LAPTOP: Final = ViewportSize(width=1366, height=768)
PASSWORD: Final = "bookings-e2e-password"
NOW: Final = datetime(2025, 12, 1, 2, 0, tzinfo=UTC)  # Monday, 10:00 in Shanghai
HOUR: Final = timedelta(hours=1)
WANG, LI, ZHANG = "M0001", "M0002", "M0003"
FIRST_AID: Final = "急救培训 First aid"
LECTURE: Final = "工会法律讲座"  # last Saturday's, over


def at(days: int, hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` in Shanghai, ``days`` after this Monday, as UTC."""
    return NOW + timedelta(days=days, hours=hour - 10, minutes=minute)


@dataclass(frozen=True, slots=True)
class World:
    url: str
    engine: Engine

    def bookings_of(self, member_id: str) -> list[Booking]:
        with Session(self.engine) as session:
            query = select(Booking).where(col(Booking.member_id) == member_id)
            return list(session.exec(query.order_by(col(Booking.starts_at))))

    def activity(self, title: str) -> Activity | None:
        with Session(self.engine) as session:
            return session.exec(select(Activity).where(col(Activity.title) == title)).first()

    def activity_id(self, title: str) -> str:
        found = self.activity(title)
        assert found is not None, title
        return found.id

    def signed_up(self, activity_id: str) -> set[str]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(ActivitySignup).where(
                    col(ActivitySignup.activity_id) == activity_id,
                    col(ActivitySignup.cancelled_at).is_(None),
                )
            )
            return {r.member_id for r in rows}


def _rooms(session: Session) -> None:
    for room_id, room in (
        (
            "court-1",
            RoomIn(door="court-door", name_zh="羽毛球场", name_en="Badminton court", kind="court"),
        ),
        (
            "meeting",
            RoomIn(
                door="meeting-door",
                name_zh="会议室",
                name_en="Meeting room",
                kind="meeting",
                capacity=1,
                opens="09:00",
                closes="21:00",
                slot_minutes=120,
            ),
        ),
        (
            "nursing",
            RoomIn(
                door="nursing-door",
                name_zh="母婴室",
                name_en="Nursing room",
                kind="nursing",
                slot_minutes=30,
                opens="07:00",
                closes="23:00",
            ),
        ),
    ):
        rooms.put_room(session=session, venue_id="v1", room_id=room_id, room_in=room)
    court = session.get(Room, "court-1")
    assert court is not None
    for member, hour in ((LI, 11), (ZHANG, 16), (LI, 19)):
        rooms.book(
            session=session,
            room=court,
            member_id=member,
            starts_at=at(0, hour),
            ends_at=at(0, hour) + HOUR,
            by="boss",
            now=NOW,
        )


def _activities(session: Session) -> None:
    """One coming up (First aid, tomorrow) and one over, whose roll the door filled in."""
    for title, starts, since in ((FIRST_AID, at(1, 14), NOW), (LECTURE, at(-2, 19), at(-2, 9))):
        row = activities.create(
            session=session,
            venue_id="v1",
            activity_in=ActivityIn(
                title=title, starts_at=starts, ends_at=starts + 2 * HOUR, capacity=20, points=30
            ),
            by="boss",
            now=since,
        )
        for member in (LI, ZHANG):
            activities.sign_up(
                session=session, activity=row, member_id=member, by="boss", now=since
            )
    data = {"door": "main", "reason": "accepted", "detail": "ok", "member": LI, "mode": 1}
    scan_at = at(-2, 18, 50)
    session.add(
        DeviceEvent(
            device_id="door-1",
            seq=1,
            venue_id="v1",
            type="access.decision",
            ts=scan_at,
            data=data,
            received_at=scan_at,
        )
    )
    session.commit()


def _seed(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Venue(id="v1", name="徐汇骑手驿站", timezone="Asia/Shanghai"))
        session.commit()
        session.add(Device(id="door-1", venue_id="v1", role="door", online=True))
        for username, role, venues, member in (
            ("boss", Role.MANAGER, ["v1"], None),
            ("wang", Role.MEMBER, [], WANG),
        ):
            user = UserCreate(
                username=username, password=PASSWORD, role=role, venue_ids=venues, member_id=member
            )
            create_user(session=session, user_in=user)
        people = [
            RosterEntry(member_id=m, display_name=name)
            for m, name in ((WANG, "王建国"), (LI, "李秀英"), (ZHANG, "张伟"))
        ]
        upsert(session=session, entries=people, by="token:union-platform", now=NOW)
        session.commit()
        _rooms(session)
        _activities(session)
    activities.record_door_attendance(engine, at(-2, 22))


@contextmanager
def bookings_world(root: Path) -> Iterator[World]:
    """The cloud API and dashboard on a free loopback port, over SQLite under ``root``."""
    settings = CloudSettings(
        data_dir=root,
        auth=AuthSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32))),
        jobs=JobSettings(enabled=False),
    )
    engine = open_database(settings)
    _seed(engine)
    app = create_app(settings=settings, engine=engine, clock=lambda: NOW)
    try:
        with serving(app, name="bookings") as url:
            yield World(url, engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with bookings_world(tmp_path_factory.mktemp("bookings")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(timeout_ms=TIMEOUT_MS) as launched:
        yield launched


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts_folder(tmp_path_factory, "bookings")


SignedIn = Callable[[str, str], Page]


@pytest.fixture
def signed_in(browser: Browser, world: World) -> Iterator[SignedIn]:
    """A fresh browser (no cookies) signed in as ``username`` on ``path``; no script error
    may happen."""
    errors: list[str] = []
    contexts = []

    def open_as(username: str, path: str) -> Page:
        context = browser.new_context(base_url=world.url, viewport=LAPTOP)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        tab = context.new_page()
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(f"/login?next={path}")
        tab.fill("input[name=username]", username)
        tab.fill("input[name=password]", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_url(re.compile(re.escape(path) + "$"))
        return tab

    yield open_as
    for context in contexts:
        context.close()
    assert not errors, f"the page raised script errors: {errors}"


def slot_row(page: Page, room: str, starts: datetime) -> Locator:
    return page.locator(f'article[data-lane="{room}"] li[data-slot="{starts.isoformat()}"]')


def book(form: Locator, member: str, room: str, starts: datetime) -> None:
    form.locator("input[name=member_id]").fill(member)
    form.locator("select[data-room-select]").select_option(room)
    form.locator(f'[data-slots-for="{room}"] select').select_option(starts.isoformat())
    form.locator("button[type=submit]").click()


def test_a_manager_books_members_into_a_slot_and_a_full_one_is_refused_in_words(
    world: World, signed_in: SignedIn
) -> None:
    page = signed_in("boss", "/venues/v1")
    page.click("a[data-to-bookings]")
    page.wait_for_url(re.compile(r"/venues/v1/bookings$"))
    expect(page.locator("h2[data-shown]")).to_have_text("12月1日 周一 · 今天")
    form = page.locator("form[data-book-form]")
    result = form.locator("[data-result]")
    slot = slot_row(page, "meeting", at(0, 13))  # 13:00-15:00, one place
    expect(slot.locator("[data-slot-count]")).to_have_text("0/1")

    book(form, WANG, "meeting", at(0, 13))
    expect(result).to_have_text("预约成功")
    expect(slot.locator("code[data-member]")).to_have_count(1)
    expect(slot.locator("[data-slot-count]")).to_have_text("1/1")
    shown = slot.locator("code[data-member]").inner_text()
    assert shown.startswith("p-"), shown  # a manager sees a pseudonym, never the id
    assert WANG not in page.content()
    (made,) = world.bookings_of(WANG)
    assert (made.room_id, made.starts_at.replace(tzinfo=UTC), made.booked_by) == (
        "meeting",
        at(0, 13),
        "boss",
    )

    # The form kept the room; the slot is full now, and the API's refusal reads as a sentence.
    expect(form.locator("select[data-room-select]")).to_have_value("meeting")
    option = form.locator(f'[data-slots-for="meeting"] option[value="{at(0, 13).isoformat()}"]')
    expect(option).to_have_text("13:00–15:00（已满）")
    book(form, LI, "meeting", at(0, 13))
    expect(result).to_have_text("这个时段已经约满了，请换一个时段。")
    expect(result).to_have_class("result error")
    expect(page.locator("#toast")).to_have_text("这个时段已经约满了，请换一个时段。")
    assert [b.room_id for b in world.bookings_of(LI)] == ["court-1", "court-1"]

    # Cancelling from the day view frees the place again.
    page.once("dialog", lambda dialog: dialog.accept())
    slot.locator("button[data-cancel-booking]").click()
    expect(slot.locator("[data-slot-count]")).to_have_text("0/1")
    assert world.bookings_of(WANG)[0].cancelled


def test_the_week_shows_each_day_and_leads_to_it(signed_in: SignedIn) -> None:
    page = signed_in("boss", "/venues/v1/bookings")
    page.locator("form[data-book-form] input[data-day-nav]").fill("2025-12-02")
    page.wait_for_url(re.compile(r"day=2025-12-02"))
    expect(page.locator("h2[data-shown]")).to_have_text("12月2日 周二")
    first = page.locator('[data-slots-for="court-1"] option').first
    expect(first).to_have_text("08:00–09:00（剩 1 位）")  # tomorrow's slots, from the start
    page.click("a[data-view-link=week]")
    page.wait_for_url(re.compile(r"view=week"))
    monday = page.locator('[data-cell="2025-12-01/court-1"] [data-booking]')
    expect(monday).to_have_count(3)
    expect(monday.first).to_contain_text("11:00–12:00")
    page.click("a[data-next]")
    expect(page.locator("h2[data-shown]")).to_have_attribute("data-shown", "week:2025-12-08")
    page.click('h3[data-week-day="2025-12-10"] a')
    expect(page.locator("h2[data-shown]")).to_have_text("12月10日 周三")


def test_a_manager_adds_a_room_and_it_takes_bookings(world: World, signed_in: SignedIn) -> None:
    page = signed_in("boss", "/venues/v1/bookings")
    page.locator("details#rooms > summary").click()
    adding = page.locator('details[data-keep-open="room-new"]')
    adding.locator("summary").click()
    form = adding.locator("form")
    form.locator("input[data-room-id]").fill("study-1")
    form.locator("input[name=door]").fill("study-door")
    form.locator("input[name=name_zh]").fill("自习室")
    form.locator("input[name=name_en]").fill("Study room")
    form.locator("select[name=kind]").select_option("study")
    form.locator("input[name=capacity]").fill("6")
    form.locator("select[name=slot_minutes]").select_option("120")
    form.locator("input[name=opens]").fill("08:00")
    form.locator("input[name=closes]").fill("21:00")  # 13 hours: not whole 2-hour slots
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-result]")).to_have_text(re.compile(r"^请检查填写的内容：结束时间"))
    form.locator("input[name=closes]").fill("22:00")
    form.locator("button[type=submit]").click()
    lane = page.locator('article[data-lane="study-1"]')
    expect(lane.locator("li[data-slot]")).to_have_count(7)  # 08:00-22:00 in two hours
    expect(lane.locator("h3")).to_contain_text("自习室")
    # The sections unfolded by hand stay open through the re-render.
    expect(page.locator("details#rooms")).to_have_attribute("open", "")
    expect(page.locator('details[data-room="study-1"] .room-summary')).to_contain_text(
        "每时段 6 人"
    )
    option = page.locator('select[data-room-select] option[value="study-1"]')
    expect(option).to_have_text("自习室")


def test_a_manager_creates_an_activity_in_the_venues_time(
    world: World, signed_in: SignedIn
) -> None:
    page = signed_in("boss", "/venues/v1/activities")
    box = page.locator("details#new-activity")
    box.locator("summary").click()
    form = box.locator("form[data-activity-form]")
    form.locator("input[name=title]").fill("法律咨询")
    form.locator("[data-activity-day]").fill("2025-12-03")
    form.locator("[data-activity-starts]").fill("19:00")
    form.locator("[data-activity-ends]").fill("18:00")  # before it starts
    form.locator("input[name=capacity]").fill("12")
    form.locator("input[name=points]").fill("5")
    form.locator("button[type=submit]").click()
    result = form.locator("[data-result]")
    expect(result).to_have_text(re.compile(r"^请检查名称、日期和时间"))
    assert world.activity("法律咨询") is None

    form.locator("[data-activity-ends]").fill("20:30")
    form.locator("button[type=submit]").click()
    expect(result).to_have_text("已创建活动")
    made = world.activity("法律咨询")
    assert made is not None
    assert made.starts_at.replace(tzinfo=UTC) == at(2, 19)  # 19:00 in Shanghai is 11:00 UTC
    assert made.ends_at.replace(tzinfo=UTC) == at(2, 20, 30)
    card = page.locator(f'article[data-activity="{made.id}"]')
    expect(card.locator("[data-activity-when]")).to_have_text("12月3日 周三 19:00–20:30")
    expect(card.locator("[data-signed-up]")).to_have_text("报名 0 / 12")

    card.locator("input[name=member_id]").fill(WANG)
    card.locator("form button[type=submit]").click()
    expect(card.locator("[data-signed-up]")).to_have_text("报名 1 / 12")
    assert world.signed_up(made.id) == {WANG}

    over = page.locator(f'article[data-activity="{world.activity_id(LECTURE)}"]')
    expect(over.locator("[data-attended]")).to_have_text("到场 1")
    expect(over.locator("[data-no-shows]")).to_have_text("未到 1")


def test_a_member_books_signs_up_and_cancels_from_their_own_page(
    world: World, signed_in: SignedIn
) -> None:
    page = signed_in("wang", "/member")
    chooser = page.locator("form[data-chooser]")
    expect(chooser.locator("[data-chooser-go]")).to_be_hidden()  # choosing is enough
    chooser.locator("select[data-choose=room]").select_option("nursing")
    page.wait_for_url(re.compile(r"room=nursing"))
    chooser.locator("select[data-choose=day]").select_option("2025-12-02")
    page.wait_for_url(re.compile(r"day=2025-12-02"))
    offer = page.locator(f'li[data-offer-slot="{at(1, 9, 30).isoformat()}"]')
    offer.locator("button[data-book-slot]").click()
    expect(offer.locator("[data-result]")).to_have_text("已预约 12月2日 周二 09:30")
    expect(offer.locator("[data-slot-state]")).to_have_attribute("data-slot-state", "mine")
    (mine,) = [b for b in world.bookings_of(WANG) if b.room_id == "nursing"]
    assert mine.starts_at.replace(tzinfo=UTC) == at(1, 9, 30)
    row = page.locator(f'tr[data-booking="{mine.id}"]')
    expect(row).to_have_attribute("data-booking-state", "upcoming")
    expect(row).to_contain_text("母婴室")

    first_aid = world.activity_id(FIRST_AID)
    activity = page.locator(f'li[data-offer-activity="{first_aid}"]')
    expect(activity).to_contain_text("已报名 2 / 20")
    activity.locator("button[data-sign-up]").click()
    joined = page.locator(f'[data-my-activities] li[data-offer-activity="{first_aid}"]')
    expect(joined.locator("button[data-withdraw]")).to_be_visible()
    expect(joined.locator("[data-result]")).to_have_text("已报名“急救培训 First aid”")
    assert WANG in world.signed_up(first_aid)

    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button[data-cancel-booking]").click()
    expect(row).to_have_attribute("data-booking-state", "cancelled")
    expect(offer.locator("[data-slot-state]")).to_have_attribute("data-slot-state", "free")
    assert all(b.cancelled for b in world.bookings_of(WANG))


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"{page.url} is {width} px wide in a {inner} px window"


def shoot(page: Page, folder: Path, name: str) -> Path:
    lang = page.locator("html").get_attribute("lang")
    size = page.viewport_size
    assert size is not None
    path = folder / f"bookings-{name}-{size['width']}-{lang}.png"
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 0
    return path


def _in(page: Page, lang: str) -> None:
    if page.locator("html").get_attribute("lang") != lang:
        page.click(f'a[data-lang="{lang}"]')
        expect(page.locator("html")).to_have_attribute("lang", lang)


def _shots(page: Page, folder: Path, name: str, ready: str) -> list[Path]:
    taken = []
    for size in (PHONE, LAPTOP):
        page.set_viewport_size(size)
        expect(page.locator(ready).first).to_be_visible()
        if size == PHONE:
            _no_sideways_scroll(page)
        taken.append(shoot(page, folder, name))
    return taken


def test_screenshots_on_a_phone_and_a_laptop_in_both_languages(
    world: World, signed_in: SignedIn, artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():  # where to look, even when the output is captured
        print(f"\nbookings screenshots: {artifacts}")
    manager = signed_in("boss", "/venues/v1/bookings")
    member = signed_in("wang", "/member")
    shots: list[Path] = []
    for lang in ("zh-CN", "en"):
        for path, name, ready in (
            ("/venues/v1/bookings", "day", "article[data-lane]"),
            ("/venues/v1/bookings?view=week", "week", "[data-cell]"),
            ("/venues/v1/activities", "activities", "article[data-activity]"),
        ):
            manager.goto(path)
            _in(manager, lang)
            if name == "activities":
                roll = f'details[data-roll="{world.activity_id(FIRST_AID)}"] summary'
                manager.locator(roll).click()
            shots += _shots(manager, artifacts, name, ready)
        member.goto("/member")
        _in(member, lang)
        shots += _shots(member, artifacts, "member", "li[data-offer-slot]")
    assert len({p.name for p in shots}) == 16
