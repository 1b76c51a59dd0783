"""The managers' bookings and activities pages and the member page's booking part: who may
look, days and weeks in the venue's time, pseudonyms for managers, rolls from the door."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.api.app import create_app
from cloud.api.state import ApiState
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.pseudonym import pseudonymize
from cloud.auth.store import create_user
from cloud.bookings import activities, rooms
from cloud.bookings.activities import ActivityIn
from cloud.bookings.models import Activity, Room
from cloud.bookings.rooms import RoomIn
from cloud.devices.models import Device
from cloud.members.roster import RosterEntry, Standing, set_standing, upsert
from cloud.models import DeviceEvent, Venue
from cloud.service import open_database
from cloud.settings import CloudSettings
from cloud.web.pages.booking_words import BOOKING_CODES
from cloud.web.pages.calendar import Span
from tests.cloud.web.helpers import PASSWORD, csrf_of

# Sunday 2026-12-06, 10:00 in Shanghai. Its week runs Monday 30 November to this Sunday.
NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
TODAY = date(2026, 12, 6)
HOUR = timedelta(hours=1)
QUARTER = timedelta(minutes=15)
AFTERNOON = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
LATE = datetime(2026, 12, 6, 15, 30, tzinfo=UTC)  # 23:30 on Sunday in Shanghai
EARLY = datetime(2026, 12, 6, 16, 30, tzinfo=UTC)  # 00:30 on Monday 7 December in Shanghai
WANG, LI, ZHAO, ZHOU = "M001", "M002", "M003", "M004"
COURT = RoomIn(
    door="court-door", name_zh="羽毛球场", name_en="Badminton court", kind="court", capacity=2
)
NIGHT = RoomIn(
    door="study-door",
    name_zh="通宵自习室",
    name_en="All-night study",
    kind="study",
    opens="00:00",
    closes="23:45",
    slot_minutes=15,
)
USERS = {
    "root": (Role.ADMIN, [], None),
    "boss": (Role.MANAGER, ["v1"], None),
    "other": (Role.MANAGER, ["v2"], None),
    "tech": (Role.TECHNICIAN, [], None),
    "wang": (Role.MEMBER, [], WANG),
}
Clock = list[datetime]
SignIn = Callable[[str], TestClient]
_VOID = frozenset({"input", "meta", "link", "br", "img", "hr", "source"})


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str | None]
    parent: Element | None
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())

    def is_inside(self, outer: Element) -> bool:
        node = self.parent
        while node is not None and node is not outer:
            node = node.parent
        return node is outer


class Page(HTMLParser):
    """Every element of a page with its attributes, its text and where it sits."""

    def __init__(self, elements: list[Element] | None = None) -> None:
        super().__init__()
        self.elements: list[Element] = elements or []
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs), self._open[-1] if self._open else None)
        self.elements.append(element)
        if tag not in _VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.parts.append(data)

    def find(self, tag: str, **attrs: str | None) -> list[Element]:
        """Elements named ``tag`` with these attributes (``data_x`` for ``data-x``; None:
        present with any value)."""
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [
            e
            for e in self.elements
            if e.tag == tag
            and all(k in e.attrs and (v is None or e.attrs[k] == v) for k, v in wanted.items())
        ]

    def one(self, tag: str, **attrs: str | None) -> Element:
        (found,) = self.find(tag, **attrs)
        return found

    def within(self, outer: Element) -> Page:
        """The elements inside ``outer``."""
        return Page([e for e in self.elements if e.is_inside(outer)])


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


def _seed(session: Session) -> None:
    session.add(Venue(id="v1", name="徐汇驿站", timezone="Asia/Shanghai"))
    session.add(Venue(id="v2", name="静安驿站", timezone="Asia/Shanghai"))
    session.commit()
    session.add(Device(id="door-1", venue_id="v1", role="door", online=True))
    session.commit()
    people = [RosterEntry(member_id=m, display_name=m) for m in (WANG, LI, ZHAO, ZHOU)]
    upsert(session=session, entries=people, by="test", now=NOW - timedelta(days=30))
    set_standing(session=session, member_id=ZHAO, standing=Standing.SUSPENDED, by="root", now=NOW)
    session.commit()
    court = rooms.put_room(session=session, venue_id="v1", room_id="court-1", room_in=COURT)
    night = rooms.put_room(session=session, venue_id="v1", room_id="night", room_in=NIGHT)
    for room, member, starts, length in (
        (court, WANG, AFTERNOON, HOUR),
        (court, LI, AFTERNOON, HOUR),  # the 14:00 slot is full now
        (night, WANG, LATE, QUARTER),
        (night, LI, EARLY, QUARTER),
    ):
        rooms.book(
            session=session,
            room=room,
            member_id=member,
            starts_at=starts,
            ends_at=starts + length,
            by="test",
            now=NOW,
        )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_database(CloudSettings(data_dir=tmp_path))
    with Session(engine) as session:
        _seed(session)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return [NOW]


@pytest.fixture
def app(tmp_path: Path, engine: Engine, clock: Clock) -> FastAPI:
    settings = CloudSettings(data_dir=tmp_path)
    return create_app(settings=settings, engine=engine, clock=lambda: clock[0])


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def sign_in(client: TestClient, engine: Engine) -> SignIn:
    """Signs in as one of USERS (each account made when first needed: hashing is slow)."""
    made: set[str] = set()

    def as_user(username: str) -> TestClient:
        if username not in made:
            role, venues, member = USERS[username]
            user = UserCreate(
                username=username, password=PASSWORD, role=role, venue_ids=venues, member_id=member
            )
            with Session(engine) as session:
                create_user(session=session, user_in=user)
            made.add(username)
        form = {"username": username, "password": PASSWORD, "next": "/"}
        assert client.post("/login", data=form, follow_redirects=False).status_code == 303
        return client

    return as_user


def form_body(page: Page, form_id: str) -> dict[str, object]:
    """What app.js's formBody sends for a form as rendered: every named field not marked
    data-skip, a number input's value as a number, the rest as text."""
    form = page.within(page.one("form", id=form_id))
    body: dict[str, object] = {}
    for element in form.elements:
        name = element.attrs.get("name")
        if element.tag not in ("input", "select") or not name or "data-skip" in element.attrs:
            continue
        value: object = element.attrs.get("value") or ""
        if element.tag == "select":
            options = form.within(element).find("option")
            chosen = [o for o in options if "selected" in o.attrs] or options[:1]
            value = chosen[0].attrs["value"]
        elif element.attrs.get("type") == "number":
            value = int(str(value))
        body[name] = value
    return body


def json_of(button: Element) -> dict[str, str]:
    """A button's data-body: what app.js sends with it."""
    body: dict[str, str] = json.loads(str(button.attrs["data-body"]))
    return body


def get(client: TestClient, path: str) -> tuple[str, Page]:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    return answer.text, parse(answer.text)


def pseudonym(app: FastAPI, member_id: str) -> str:
    state = app.state.api
    assert isinstance(state, ApiState)
    return pseudonymize(member_id, key=state.auth.pseudonym_key)


def slot_members(page: Page, lane: str, starts: datetime) -> list[str]:
    lane_page = page.within(page.one("article", data_lane=lane))
    slot = lane_page.within(lane_page.one("li", data_slot=starts.isoformat()))
    return [e.text for e in slot.find("code", data_member=None)]


def lane_slots(page: Page, lane: str) -> list[str]:
    lane_page = page.within(page.one("article", data_lane=lane))
    return [str(e.attrs["data-slot"]) for e in lane_page.find("li", data_slot=None)]


# --- the bookings page -------------------------------------------------------------------


def test_an_admin_sees_each_rooms_slots_of_the_day_with_member_ids(sign_in: SignIn) -> None:
    text, page = get(sign_in("root"), "/venues/v1/bookings")
    assert page.one("h2", data_shown="day:2026-12-06").text == "12月6日 周日 · 今天"
    assert [a.attrs["data-lane"] for a in page.find("article", data_lane=None)] == [
        "court-1",
        "night",
    ]
    assert len(lane_slots(page, "court-1")) == 14  # 08:00-22:00, hourly
    assert slot_members(page, "court-1", AFTERNOON) == [WANG, LI]
    court = page.within(page.one("article", data_lane="court-1"))
    full = court.one("li", data_slot=AFTERNOON.isoformat())
    assert full.attrs["class"] == "slot full"
    assert "14:00–15:00 2/2 已满" in full.text
    assert slot_members(page, "night", LATE) == [WANG]
    assert "data-pseudonymized" not in text
    assert page.one("span", data_booking_count=None).attrs["data-booking-count"] == "3"


def test_a_booking_at_2330_local_is_on_that_day_and_0030_on_the_next(sign_in: SignIn) -> None:
    client = sign_in("root")
    _, sunday = get(client, "/venues/v1/bookings?day=2026-12-06")
    _, monday = get(client, "/venues/v1/bookings?day=2026-12-07")
    assert slot_members(sunday, "night", LATE) == [WANG]
    assert EARLY.isoformat() not in lane_slots(sunday, "night")  # 16:30 UTC is Monday there
    assert slot_members(monday, "night", EARLY) == [LI]
    assert LATE.isoformat() not in lane_slots(monday, "night")
    assert monday.one("h2", data_shown=None).text == "12月7日 周一"


def test_the_week_runs_monday_to_sunday_in_the_venues_time(sign_in: SignIn) -> None:
    client = sign_in("root")
    _, page = get(client, "/venues/v1/bookings?view=week&day=2026-12-03")
    days = [d.attrs["data-week-day"] for d in page.find("h3", data_week_day=None)]
    assert days == [(date(2026, 11, 30) + timedelta(days=n)).isoformat() for n in range(7)]
    sunday = page.within(page.one("div", data_cell="2026-12-06/night"))
    assert [e.text for e in sunday.find("code", data_member=None)] == [WANG]
    assert "23:30–23:45" in page.one("div", data_cell="2026-12-06/night").text
    assert page.one("h3", data_week_day="2026-12-06").attrs["data-count"] == "3"
    # Monday 00:30 is 16:30 UTC on Sunday: by UTC days it would sit beside Wang's.
    assert page.find("div", data_cell="2026-12-07/night") == []
    _, following = get(client, "/venues/v1/bookings?view=week&day=2026-12-07")
    monday = following.one("div", data_cell="2026-12-07/night")
    assert LI in monday.text
    assert "00:30–00:45" in monday.text
    assert following.one("h3", data_week_day="2026-12-07").attrs["data-count"] == "1"
    # Previous and next move a week; the day link opens that day.
    assert following.one("a", data_prev=None).attrs["href"] == "?view=week&day=2026-11-30"
    assert following.one("a", data_next=None).attrs["href"] == "?view=week&day=2026-12-14"


def test_prev_next_today_and_the_views_keep_the_day(sign_in: SignIn) -> None:
    _, page = get(sign_in("boss"), "/venues/v1/bookings?day=2026-12-20")
    assert page.one("a", data_prev=None).attrs["href"] == "?view=day&day=2026-12-19"
    assert page.one("a", data_next=None).attrs["href"] == "?view=day&day=2026-12-21"
    assert page.one("a", data_today=None).attrs["href"] == "?view=day&day=2026-12-06"
    assert page.one("a", data_view_link="week").attrs["href"] == "?view=week&day=2026-12-20"
    assert page.one("a", data_view_link="day").attrs["aria-current"] == "page"


def test_a_manager_sees_pseudonyms_and_never_a_member_id(app: FastAPI, sign_in: SignIn) -> None:
    client = sign_in("boss")
    for path in (
        "/venues/v1/bookings",
        "/venues/v1/bookings?day=2026-12-07",
        "/venues/v1/bookings?view=week",
    ):
        text, _ = get(client, path)
        for member in (WANG, LI):
            assert member not in text, (path, member)
        assert "data-pseudonymized" in text
    _, page = get(client, "/venues/v1/bookings")
    assert slot_members(page, "court-1", AFTERNOON) == [pseudonym(app, WANG), pseudonym(app, LI)]


@pytest.mark.parametrize("page", ["bookings", "activities"])
@pytest.mark.parametrize("venue_id", ["v1", "nowhere"])
def test_another_venues_manager_finds_nothing(sign_in: SignIn, page: str, venue_id: str) -> None:
    answer = sign_in("other").get(f"/venues/{venue_id}/{page}")
    assert answer.status_code == 404
    assert "data-error-page" in answer.text
    assert "徐汇驿站" not in answer.text


@pytest.mark.parametrize("username", ["tech", "wang"])
def test_technicians_and_members_are_told_the_page_is_not_for_them(
    sign_in: SignIn, username: str
) -> None:
    client = sign_in(username)
    for page in ("bookings", "activities"):
        answer = client.get(f"/venues/v1/{page}")
        assert answer.status_code == 403
        assert "您的角色无权查看此页面" in answer.text


def test_the_venue_page_links_here_for_those_who_may_come(sign_in: SignIn) -> None:
    _, page = get(sign_in("boss"), "/venues/v1")
    assert page.one("a", data_to_bookings=None).attrs["href"] == "/venues/v1/bookings"
    assert page.one("a", data_to_activities=None).attrs["href"] == "/venues/v1/activities"


def test_the_venue_page_has_no_such_links_for_a_technician(sign_in: SignIn) -> None:
    _, page = get(sign_in("tech"), "/venues/v1")
    assert page.find("a", data_to_bookings=None) == []


def test_the_export_links_cover_exactly_the_days_shown(sign_in: SignIn) -> None:
    client = sign_in("root")
    _, page = get(client, "/venues/v1/bookings?day=2026-12-07")
    link = str(page.one("a", data_export="csv").attrs["href"])
    assert "start=2026-12-06T16%3A00%3A00%2B00%3A00" in link  # Monday's midnight in Shanghai
    assert "end=2026-12-07T16%3A00%3A00%2B00%3A00" in link
    rows = client.get(link).content.decode("utf-8-sig").splitlines()
    assert len(rows) == 2
    assert f",night,{LI}," in rows[1]
    xlsx = client.get(str(page.one("a", data_export="xlsx").attrs["href"]))
    assert xlsx.content[:2] == b"PK"


def test_the_book_form_offers_the_rooms_slots_not_yet_over(sign_in: SignIn) -> None:
    _, page = get(sign_in("boss"), "/venues/v1/bookings")
    form = page.one("form", id="book-form")
    assert form.attrs["data-api-form"] == "/api/v1/rooms/court-1/bookings"
    rooms_offered = page.within(page.one("select", data_room_select=None)).find("option")
    assert [o.attrs["value"] for o in rooms_offered] == ["court-1", "night"]
    court = page.within(page.one("div", data_slots_for="court-1")).find("option")
    # 10:00 in Shanghai: the 10:00 slot is still on, 09:00 is over.
    assert court[0].text == "10:00–11:00（剩 2 位）"
    full = next(o for o in court if o.attrs["value"] == AFTERNOON.isoformat())
    assert full.text == "14:00–15:00（已满）"
    assert full.attrs["data-ends"] == (AFTERNOON + HOUR).isoformat()
    night = page.one("div", data_slots_for="night")
    assert "hidden" in night.attrs
    assert "disabled" in page.within(night).one("select").attrs


def test_a_form_booking_by_a_manager_shows_as_a_pseudonym_and_a_full_slot_says_why(
    app: FastAPI, sign_in: SignIn
) -> None:
    client = sign_in("boss")
    text, page = get(client, "/venues/v1/bookings")
    headers = {"X-CSRF-Token": csrf_of(text)}
    slot = AFTERNOON + 2 * HOUR
    body = {"member_id": ZHAO, "starts_at": slot.isoformat(), "ends_at": (slot + HOUR).isoformat()}
    refused = client.post(
        str(page.one("form", id="book-form").attrs["data-api-form"]), json=body, headers=headers
    )
    assert refused.json()["error"]["code"] == "member_revoked"
    made = client.post(
        "/api/v1/rooms/court-1/bookings", json=body | {"member_id": WANG}, headers=headers
    )
    assert made.status_code == 201, made.text
    _, page = get(client, "/venues/v1/bookings")
    assert slot_members(page, "court-1", slot) == [pseudonym(app, WANG)]
    full = client.post(
        "/api/v1/rooms/court-1/bookings",
        headers=headers,
        json={
            "member_id": ZHOU,
            "starts_at": AFTERNOON.isoformat(),
            "ends_at": (AFTERNOON + HOUR).isoformat(),
        },
    )
    code = full.json()["error"]["code"]
    assert code == "slot_full"
    said = page.one("li", data_reason=code).text
    assert said == "这个时段已经约满了，请换一个时段。"


def test_every_refusal_has_a_sentence_in_both_languages(sign_in: SignIn) -> None:
    client = sign_in("boss")
    for lang in ("zh-CN", "en"):
        client.cookies.set("yz_lang", lang)
        for path in ("/venues/v1/bookings", "/venues/v1/activities"):
            _, page = get(client, path)
            said = {
                str(li.attrs["data-reason"]): li.text for li in page.find("li", data_reason=None)
            }
            assert set(BOOKING_CODES) <= said.keys()
            for code, sentence in said.items():
                assert sentence
                assert code not in sentence
                assert "booking." not in sentence
    assert said["activity_full"] == "The activity is full."


def test_cancelling_from_the_day_view_frees_the_place(sign_in: SignIn) -> None:
    client = sign_in("root")
    text, page = get(client, "/venues/v1/bookings")
    scope = page.within(page.find("li", data_booking=None)[0])
    button = scope.one("button", data_cancel_booking=None)
    assert "14:00" in str(button.attrs["data-confirm"])
    answer = client.post(str(button.attrs["data-api"]), headers={"X-CSRF-Token": csrf_of(text)})
    assert answer.json()["cancelled"] is True
    _, page = get(client, "/venues/v1/bookings")
    assert slot_members(page, "court-1", AFTERNOON) == [LI]


def test_the_rooms_forms_send_what_the_api_takes(sign_in: SignIn, engine: Engine) -> None:
    client = sign_in("boss")
    text, page = get(client, "/venues/v1/bookings")
    body = form_body(page, "room-court-1")
    assert body == {
        "door": "court-door",
        "name_zh": "羽毛球场",
        "name_en": "Badminton court",
        "kind": "court",
        "capacity": 2,
        "slot_minutes": "60",
        "opens": "08:00",
        "closes": "22:00",
        "days_ahead": 14,
        "active": "true",
    }
    url = str(page.one("form", id="room-court-1").attrs["data-api-form"])
    body |= {"slot_minutes": "30", "active": "false", "closes": "21:30"}
    answer = client.put(url, json=body, headers={"X-CSRF-Token": csrf_of(text)})
    assert answer.status_code == 200, answer.text
    with Session(engine) as session:
        stored = session.get(Room, "court-1")
        assert stored is not None
        assert (stored.slot_minutes, stored.active, stored.closes) == (30, False, "21:30")
    _, page = get(client, "/venues/v1/bookings")
    # Closed now: still shown (it holds bookings today) and marked, but no longer bookable.
    assert "已停用" in page.one("article", data_lane="court-1").text
    offered = page.within(page.one("select", data_room_select=None)).find("option")
    assert [o.attrs["value"] for o in offered] == ["night"]
    assert page.one("form", id="room-new").attrs["data-new-room"] == "/api/v1/venues/v1/rooms/"


def test_a_venue_without_rooms_says_how_to_add_one(sign_in: SignIn, engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Venue(id="v3", name="空驿站"))
        session.commit()
    _, page = get(sign_in("root"), "/venues/v3/bookings")
    assert page.find("form", id="book-form") == []
    assert "请先在下方" in page.one("p", data_no_rooms=None).text
    assert "open" in page.one("details", id="rooms").attrs


def test_an_absurd_day_shows_today(sign_in: SignIn) -> None:
    _, page = get(sign_in("root"), "/venues/v1/bookings?day=9999-12-31")
    assert page.one("h2", data_shown=None).attrs["data-shown"] == "day:2026-12-06"
    assert sign_in("root").get("/venues/v1/bookings?view=month").status_code == 422


def test_a_span_is_local_midnight_to_midnight() -> None:
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    from cloud.web.pages.calendar import span  # noqa: PLC0415

    week = span("week", date(2026, 12, 6), ZoneInfo("Asia/Shanghai"))
    assert isinstance(week, Span)
    assert (week.start, week.end) == (
        datetime(2026, 11, 29, 16, 0, tzinfo=UTC),
        datetime(2026, 12, 6, 16, 0, tzinfo=UTC),
    )


# --- the activities page -----------------------------------------------------------------


def make_activity(
    engine: Engine, title: str, starts: datetime, *, capacity: int = 3, points: int = 30
) -> str:
    activity_in = ActivityIn(
        title=title, starts_at=starts, ends_at=starts + 2 * HOUR, capacity=capacity, points=points
    )
    with Session(engine) as session:
        made = activities.create(
            session=session, venue_id="v1", activity_in=activity_in, by="boss", now=NOW
        )
        return made.id


def sign_up(engine: Engine, activity_id: str, *members: str) -> None:
    with Session(engine) as session:
        for member in members:
            activity = session.get(Activity, activity_id)
            assert activity is not None
            activities.sign_up(
                session=session, activity=activity, member_id=member, by="test", now=NOW
            )


def scan(engine: Engine, member: str, at: datetime, seq: int) -> None:
    data = {"door": "main", "reason": "accepted", "detail": "ok", "member": member, "mode": 1}
    with Session(engine) as session:
        session.add(
            DeviceEvent(
                device_id="door-1",
                seq=seq,
                venue_id="v1",
                type="access.decision",
                ts=at,
                data=data,
                received_at=at,
            )
        )
        session.commit()


def test_once_over_the_roll_shows_who_came_from_the_door(
    app: FastAPI, engine: Engine, clock: Clock, sign_in: SignIn
) -> None:
    first_aid = make_activity(engine, "急救培训", AFTERNOON)
    sign_up(engine, first_aid, WANG, LI)
    scan(engine, WANG, AFTERNOON - timedelta(minutes=10), 1)  # early, within the half hour
    scan(engine, LI, AFTERNOON + 3 * HOUR, 2)  # after it ended: not attendance
    activities.record_door_attendance(engine, AFTERNOON + 3 * HOUR)
    clock[0] = AFTERNOON + 3 * HOUR
    for username, shown in (("root", lambda m: m), ("boss", lambda m: pseudonym(app, m))):
        text, page = get(sign_in(username), "/venues/v1/activities")
        card = page.within(page.one("article", data_activity=first_aid))
        assert page.one("article", data_activity=first_aid).attrs["data-state"] == "over"
        assert page.find("section", data_upcoming=None) == []
        assert card.one("span", data_signed_up=None).text == "报名 2 / 3"
        assert card.one("span", data_attended=None).text == "到场 1"
        assert card.one("span", data_no_shows=None).text == "未到 1"
        marks = {
            str(li.attrs["data-roll-member"]): li.attrs["data-mark"]
            for li in card.find("li", data_roll_member=None)
        }
        assert marks == {shown(WANG): "came", shown(LI): "no_show"}
        assert card.find("form", id=f"signup-{first_aid}") == []  # over: no more sign-ups
        assert card.find("button", data_cancel_activity=None) == []
        export = str(card.one("a", data_roll_export="csv").attrs["href"])
        rows = sign_in(username).get(export).content.decode("utf-8-sig").splitlines()
        assert rows[1:] == [f"{shown(WANG)},yes", f"{shown(LI)},no"]
        if username == "boss":
            assert WANG not in text
            assert LI not in text


def test_an_upcoming_activity_takes_sign_ups_against_its_places(
    engine: Engine, sign_in: SignIn
) -> None:
    tomorrow = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)  # Monday 19:00 in Shanghai
    film = make_activity(engine, "电影之夜", tomorrow, capacity=2, points=0)
    sign_up(engine, film, WANG)
    client = sign_in("boss")
    text, page = get(client, "/venues/v1/activities")
    card = page.within(page.one("article", data_activity=film))
    assert page.one("article", data_activity=film).attrs["data-state"] == "upcoming"
    assert card.one("p", data_activity_when=None).text == "12月7日 周一 19:00–21:00"
    assert card.one("span", data_signed_up=None).text == "报名 1 / 2"
    assert card.find("span", data_attended=None) == []  # not over: nobody is a no-show yet
    assert [li.attrs["data-mark"] for li in card.find("li", data_roll_member=None)] == ["signed_up"]
    form = page.one("form", id=f"signup-{film}")
    headers = {"X-CSRF-Token": csrf_of(text)}
    url = str(form.attrs["data-api-form"])
    refused = client.post(url, json={"member_id": ZHAO}, headers=headers)
    assert refused.json()["error"]["code"] == "member_revoked"
    assert client.post(url, json={"member_id": LI}, headers=headers).status_code == 201
    unknown = client.post(url, json={"member_id": "M999"}, headers=headers)
    assert unknown.json()["error"]["code"] == "member_unknown"
    full = client.post(url, json={"member_id": ZHOU}, headers=headers)
    assert full.json()["error"]["code"] == "activity_full"
    _, page = get(client, "/venues/v1/activities")
    card = page.within(page.one("article", data_activity=film))
    assert card.one("span", data_signed_up=None).text == "报名 2 / 2"
    cancel = card.one("button", data_cancel_activity=None)
    assert "电影之夜" in str(cancel.attrs["data-confirm"])
    assert client.post(str(cancel.attrs["data-api"]), headers=headers).json()["cancelled"] is True
    _, page = get(client, "/venues/v1/activities")
    assert page.one("article", data_activity=film).attrs["data-state"] == "cancelled"


def test_the_new_activity_form_knows_the_venues_zone(sign_in: SignIn) -> None:
    _, page = get(sign_in("root"), "/venues/v1/activities")
    form = page.one("form", id="activity-form")
    assert form.attrs["data-zone"] == "Asia/Shanghai"
    assert form.attrs["data-api-form"] == "/api/v1/venues/v1/activities"
    assert page.one("input", data_activity_day=None).attrs["min"] == "2026-12-06"
    assert "open" in page.one("details", id="new-activity").attrs  # nothing coming: open
    assert page.one("p", data_none_upcoming=None).text == "没有即将开始的活动"
    reasons = {str(li.attrs["data-reason"]): li.text for li in page.find("li", data_reason=None)}
    assert reasons["invalid_request"].startswith("请检查名称、日期和时间")


# --- the member page's booking part -------------------------------------------------------


def offers(page: Page) -> dict[str, str]:
    """Slot start -> mine | free | full, as the member's list shows them."""
    return {
        str(li.attrs["data-offer-slot"]): str(
            page.within(li).find("span", data_slot_state=None)[0].attrs["data-slot-state"]
        )
        for li in page.find("li", data_offer_slot=None)
    }


def test_the_member_chooses_a_venue_room_and_day_and_sees_what_is_free(
    sign_in: SignIn,
) -> None:
    text, page = get(sign_in("wang"), "/member")
    venues = page.within(page.one("select", data_choose="venue")).find("option")
    assert [o.attrs["value"] for o in venues] == ["v1"]  # v2 has nothing to book
    assert page.one("ul", data_offer_room=None).attrs["data-offer-room"] == "court-1"
    days = page.within(page.one("select", data_choose="day")).find("option")
    assert len(days) == 15  # today and 14 days ahead
    assert days[0].text == "12月6日 周日 · 今天"
    shown = offers(page)
    assert next(iter(shown)) == datetime(2026, 12, 6, 2, 0, tzinfo=UTC).isoformat()  # 10:00
    assert shown[AFTERNOON.isoformat()] == "mine"
    assert shown[(AFTERNOON + HOUR).isoformat()] == "free"
    assert LI not in text  # who else booked is nobody's business here
    _, night = get(sign_in("wang"), "/member?venue=v1&room=night&day=2026-12-07")
    assert night.one("ul", data_offer_room=None).attrs["data-offer-day"] == "2026-12-07"
    assert offers(night)[EARLY.isoformat()] == "full"  # Li holds the only place
    _, stale = get(sign_in("wang"), "/member?venue=v9&room=gone&day=2030-01-01")
    assert stale.one("ul", data_offer_room=None).attrs["data-offer-day"] == "2026-12-06"


def test_the_member_books_a_slot_and_cancels_it_from_their_list(sign_in: SignIn) -> None:
    client = sign_in("wang")
    text, page = get(client, "/member")
    slot = (AFTERNOON + HOUR).isoformat()
    button = page.within(page.one("li", data_offer_slot=slot)).one("button", data_book_slot=None)
    assert button.attrs["data-done"] == "已预约 12月6日 周日 15:00"
    headers = {"X-CSRF-Token": csrf_of(text)}
    made = client.post(str(button.attrs["data-api"]), json=json_of(button), headers=headers)
    assert made.status_code == 201, made.text
    _, page = get(client, "/member")
    assert offers(page)[slot] == "mine"
    row = page.one("tr", data_booking=made.json()["id"])
    assert row.attrs["data-booking-state"] == "upcoming"
    assert "羽毛球场" in row.text
    cancel = page.within(row).one("button", data_cancel_booking=None)
    assert client.post(str(cancel.attrs["data-api"]), headers=headers).json()["cancelled"] is True
    _, page = get(client, "/member")
    assert offers(page)[slot] == "free"
    assert page.one("tr", data_booking=made.json()["id"]).attrs["data-booking-state"] == "cancelled"
    reasons = {str(li.attrs["data-reason"]): li.text for li in page.find("li", data_reason=None)}
    assert reasons["booking_conflict"] == "您在这个时段已经预约了这个房间。"


def test_the_member_signs_up_for_an_activity_and_withdraws(engine: Engine, sign_in: SignIn) -> None:
    tomorrow = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    film = make_activity(engine, "电影之夜", tomorrow, capacity=2, points=20)
    sign_up(engine, film, LI)
    client = sign_in("wang")
    text, page = get(client, "/member")
    offer = page.within(page.one("li", data_offer_activity=film))
    assert "已报名 1 / 2" in page.one("li", data_offer_activity=film).text
    assert "到场得 20 积分" in page.one("li", data_offer_activity=film).text
    button = offer.one("button", data_sign_up=None)
    headers = {"X-CSRF-Token": csrf_of(text)}
    answer = client.post(str(button.attrs["data-api"]), json=json_of(button), headers=headers)
    assert answer.status_code == 201, answer.text
    _, page = get(client, "/member")
    mine = page.within(page.one("ul", data_my_activities=None))
    assert [li.attrs["data-offer-activity"] for li in mine.find("li")] == [film]
    assert page.find("ul", data_venue_activities="v1") == []
    withdraw = mine.one("button", data_withdraw=None)
    assert withdraw.attrs["data-method"] == "DELETE"
    assert client.delete(str(withdraw.attrs["data-api"]), headers=headers).status_code == 200
    _, page = get(client, "/member")
    assert page.find("ul", data_my_activities=None) == []
    assert "已报名 1 / 2" in page.one("li", data_offer_activity=film).text
