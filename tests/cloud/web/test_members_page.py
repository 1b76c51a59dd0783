"""The admin's member page: find members, their standing and history, paging, who may look."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.api.app import create_app
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.members.roster import RosterEntry, Standing, set_standing, upsert
from cloud.models import Venue
from cloud.service import open_database
from cloud.settings import CloudSettings
from cloud.web.pages.members import PAGE_SIZE

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
ADDED = NOW - timedelta(days=30)
UNTIL = datetime(2027, 12, 31, 16, 0, tzinfo=UTC)  # the end of 2027-12-31 in Shanghai
LAPSED = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
AFTERNOON = datetime(2027, 6, 30, 6, 30, tzinfo=UTC)  # 14:30 in Shanghai
PASSWORD = "pw-123456789-members"
_VOID = frozenset({"input", "meta", "link", "br", "img", "hr", "source"})


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())


class Page(HTMLParser):
    """Every element of a page with its attributes and the text inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
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
        """The elements inside ``outer`` (up to the next element of its kind and marker)."""
        start = self.elements.index(outer)
        inner = Page()
        for element in self.elements[start + 1 :]:
            if element.tag == outer.tag and element.attrs.keys() == outer.attrs.keys():
                break
            inner.elements.append(element)
        return inner


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def entry(member_id: str, name: str, **changes: object) -> RosterEntry:
    fields: dict[str, object] = {
        "member_id": member_id,
        "display_name": name,
        "groups": ("rider",),
        "valid_until": UNTIL,
        "phone_tail": "1234",
    }
    return RosterEntry.model_validate(fields | changes)


def _seed(session: Session) -> None:
    session.add(Venue(id="v1", name="徐汇驿站"))  # a manager's
    session.commit()
    upsert(
        session=session,
        entries=[
            entry("M001", "王建国", phone_tail="8866"),
            entry("M002", "李秀英", groups=("courier", "sanitation"), valid_until=AFTERNOON),
            entry("M003", "张伟", valid_until=LAPSED, phone_tail="0001"),
            entry("M010", "王芳", groups=(), valid_until=None, phone_tail=None),
            entry("X-9", "<script>alert(1)</script>", phone_tail="5555"),
        ],
        by="token:platform",
        now=ADDED,
    )
    set_standing(
        session=session,
        member_id="M002",
        standing=Standing.SUSPENDED,
        by="root",
        note="欠缴会费",
        now=NOW - timedelta(hours=2),
    )
    set_standing(
        session=session,
        member_id="M003",
        standing=Standing.REVOKED,
        by="root",
        now=NOW - timedelta(hours=1),
    )
    session.commit()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_database(CloudSettings(data_dir=tmp_path))
    with Session(engine) as session:
        _seed(session)
    yield engine
    engine.dispose()


@pytest.fixture
def client(tmp_path: Path, engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings=CloudSettings(data_dir=tmp_path), engine=engine, clock=lambda: NOW)
    with TestClient(app) as client:
        yield client


SignIn = Callable[[Role], TestClient]


@pytest.fixture
def sign_in(client: TestClient, engine: Engine) -> SignIn:
    """Signs in as the one person of ``role`` (only that account is made: hashing is slow)."""

    def as_role(role: Role) -> TestClient:
        username = {Role.ADMIN: "root"}.get(role, role.value)
        user = UserCreate(
            username=username,
            password=PASSWORD,
            role=role,
            venue_ids=["v1"] if role is Role.MANAGER else [],
            member_id="M001" if role is Role.MEMBER else None,
        )
        with Session(engine) as session:
            create_user(session=session, user_in=user)
        form = {"username": username, "password": PASSWORD, "next": "/"}
        response = client.post("/login", data=form, follow_redirects=False)
        assert response.status_code == 303, response.text
        return client

    return as_role


def members(client: TestClient, query: str = "") -> Page:
    response = client.get(f"/members{query}")
    assert response.status_code == 200, response.text
    return parse(response.text)


def shown(page: Page) -> list[str]:
    return [str(e.attrs["data-member"]) for e in page.find("article", data_member=None)]


def card(page: Page, member_id: str) -> Page:
    return page.within(page.one("article", data_member=member_id))


def test_an_admin_sees_each_member_with_groups_standing_end_and_last_change(
    sign_in: SignIn,
) -> None:
    page = members(sign_in(Role.ADMIN))
    assert shown(page) == ["M001", "M002", "M003", "M010", "X-9"]
    assert page.one("p", data_match_count="5").text == "共 5 位会员符合条件"
    wang = card(page, "M001")
    assert wang.one("strong", data_member_name=None).text == "王建国"
    assert wang.one("div", data_member_groups=None).text == "外卖骑手 · 手机尾号 8866"
    assert wang.one("span", data_standing_badge="active").text == "正常"
    assert wang.one("div", data_valid_until="valid").text == "2027-12-31 到期"
    last_change = wang.one("div", data_last_change=None).text
    assert last_change == "最近变更：token:platform · 2026-11-06 10:00"
    li = card(page, "M002")
    assert li.one("div", data_member_groups=None).text.startswith("快递员、环卫工人")
    assert li.one("span", data_standing_badge="suspended").text == "已暂停"
    assert li.one("div", data_valid_until="valid").text == "2027-06-30 14:30 到期"
    assert li.one("div", data_last_change=None).text == "最近变更：root · 2026-12-06 08:00"
    fang = card(page, "M010")
    assert fang.one("div", data_member_groups=None).text == "未分组"
    assert fang.one("div", data_valid_until="none").text == "长期有效"


def test_a_lapsed_membership_is_marked_in_words(sign_in: SignIn) -> None:
    client = sign_in(Role.ADMIN)
    zhang = card(members(client), "M003")
    assert zhang.one("span", data_lapsed=None).text == "已到期"
    assert zhang.one("div", data_valid_until="lapsed").text == "2025-12-31 到期"
    assert card(members(client), "M001").find("span", data_lapsed=None) == []
    client.cookies.set("yz_lang", "en")
    zhang = card(members(client), "M003")
    assert zhang.one("span", data_lapsed=None).text == "lapsed"
    assert zhang.one("div", data_valid_until="lapsed").text == "ended 31 Dec 2025"


def test_buttons_fit_each_standing_and_revoking_asks_first(sign_in: SignIn) -> None:
    page = members(sign_in(Role.ADMIN))

    def actions(member_id: str) -> list[str]:
        buttons = card(page, member_id).find("button", data_member_action=None)
        return [str(b.attrs["data-member-action"]) for b in buttons]

    assert actions("M001") == ["suspend", "revoke"]
    assert actions("M002") == ["reinstate", "revoke"]
    assert actions("M003") == ["reinstate"]
    suspend = card(page, "M001").one("button", data_member_action="suspend")
    assert suspend.attrs["data-api"] == "/api/v1/members/M001/suspend"
    assert suspend.attrs["data-method"] == "POST"
    assert "data-confirm" not in suspend.attrs
    assert suspend.attrs["data-done"] == "已暂停 M001 的会籍"
    revoke = card(page, "M001").one("button", data_member_action="revoke")
    assert "M001" in str(revoke.attrs["data-confirm"])
    # The note field and the answer's slot sit in the scope app.js reports into.
    scope = card(page, "M001").one("div", data_action_scope="M001")
    assert scope.attrs["class"] == "member-actions"
    assert card(page, "M001").one("input", data_note="M001").attrs["maxlength"] == "200"


def test_history_shows_what_who_when_and_the_note_newest_first(sign_in: SignIn) -> None:
    page = members(sign_in(Role.ADMIN))
    history = card(page, "M002").one("details", data_history="M002")
    assert "open" not in history.attrs
    steps = card(page, "M002").find("li", data_audit=None)
    assert [s.attrs["data-audit"] for s in steps] == ["suspended", "created"]
    assert steps[0].text == "2026-12-06 08:00 暂停会籍 操作人 root 备注：欠缴会费"
    assert steps[1].text == "2026-11-06 10:00 建档 操作人 token:platform"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?q=M00", ["M001", "M002", "M003"]),  # an id's beginning
        ("?q=王", ["M001", "M010"]),  # a name's part
        ("?q=8866", ["M001"]),  # the phone's last four
        ("?q=%25", []),  # a % is a percent sign, not "anything"
        ("?standing=suspended", ["M002"]),
        ("?standing=active&q=王", ["M001", "M010"]),
        ("?group=sanitation", ["M002"]),
        ("?group=rider&standing=revoked", ["M003"]),
    ],
)
def test_search_and_filters(sign_in: SignIn, query: str, expected: list[str]) -> None:
    page = members(sign_in(Role.ADMIN), query)
    assert shown(page) == expected
    assert page.one("p", data_match_count=None).attrs["data-match-count"] == str(len(expected))
    if not expected:
        assert page.one("p", data_members_empty=None).text == "没有符合条件的会员"


def test_the_search_form_keeps_what_was_asked(sign_in: SignIn) -> None:
    page = members(sign_in(Role.ADMIN), "?q=王&standing=active&group=courier")
    assert page.one("input", name="q").attrs["value"] == "王"
    assert page.one("option", value="active", selected=None)
    assert page.one("option", value="courier", selected=None).text == "快递员"
    # Every group the roster knows, by its name for people.
    groups = page.within(page.one("select", name="group")).find("option")
    assert len(groups) == 12  # "all", the ten seeded groups and the walk-ins' guest (0010)


def test_nonsense_in_the_address_is_a_page_saying_so(sign_in: SignIn) -> None:
    client = sign_in(Role.ADMIN)
    for query in ("?standing=gone", "?group=NOT%20A%20GROUP", f"?q={'x' * 41}"):
        response = client.get(f"/members{query}")
        assert response.status_code == 422, query
        assert "data-error-page" in response.text


def test_paging_walks_the_roster_with_the_cursor(sign_in: SignIn, engine: Engine) -> None:
    with Session(engine) as session:
        many = [entry(f"P{n:03d}", f"骑手{n}") for n in range(PAGE_SIZE * 2 + 5)]
        upsert(session=session, entries=many, by="import", now=ADDED)
        session.commit()
    client = sign_in(Role.ADMIN)
    pages: list[Page] = []
    query = "?q=骑手"
    while len(pages) < 4:
        pages.append(members(client, query))
        following = pages[-1].find("a", data_page_next=None)
        if not following:
            break
        query = str(following[0].attrs["href"])
        assert parse_qs(urlsplit(query).query) == {"q": ["骑手"], "after": [shown(pages[-1])[-1]]}
    assert [len(shown(p)) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 5]
    assert [shown_id for p in pages for shown_id in shown(p)] == [f"P{n:03d}" for n in range(45)]
    for page in pages:
        assert page.one("p", data_match_count=None).attrs["data-match-count"] == "45"
    assert pages[0].find("a", data_page_first=None) == []  # already there
    first = pages[-1].one("a", data_page_first=None).attrs["href"]
    assert parse_qs(urlsplit(str(first)).query) == {"q": ["骑手"]}


def test_english_with_the_switch(sign_in: SignIn) -> None:
    client = sign_in(Role.ADMIN)
    client.cookies.set("yz_lang", "en")
    page = members(client)
    assert page.one("p", data_match_count="5").text == "Matching members: 5"
    li = card(page, "M002")
    assert li.one("div", data_member_groups=None).text.startswith("Courier, Sanitation worker")
    assert li.one("span", data_standing_badge="suspended").text == "suspended"
    assert card(page, "M001").one("div", data_valid_until="valid").text == "until 31 Dec 2027"
    assert [b.text for b in li.find("button", data_member_action=None)] == ["Reinstate", "Revoke"]
    assert li.one("li", data_audit="suspended").text.endswith("by root Note: 欠缴会费")
    assert "会员管理" not in client.get("/members").text


def test_names_from_the_roster_never_become_markup(sign_in: SignIn) -> None:
    html = sign_in(Role.ADMIN).get("/members?q=X-").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_file_controls_check_before_import_and_export_both_kinds(sign_in: SignIn) -> None:
    page = members(sign_in(Role.ADMIN))
    box = page.one("div", data_import=None)
    assert box.attrs["data-url"] == "/api/v1/members/import"
    assert page.one("input", data_import_file=None).attrs["accept"] == ".csv,.xlsx"
    assert "disabled" in page.one("button", data_import_apply=None).attrs
    reasons = {str(li.attrs["data-reason"]): li.text for li in page.find("li", data_reason=None)}
    assert set(reasons) == {
        "bad_id",
        "unknown_group",
        "duplicate_in_file",
        "bad_date",
        "bad_standing",
        "bad_phone_tail",
        "bad_name",
        "bad_row",
    }
    assert reasons["bad_phone_tail"].startswith("手机尾号须为 4 位数字。")
    links = page.find("a", download=None)
    exports = {a.attrs["data-export-format"]: a.attrs["href"] for a in links}
    assert exports == {
        "csv": "/api/v1/members/export?format=csv",
        "xlsx": "/api/v1/members/export?format=xlsx",
    }
    # The page's script is its own file: the dashboard's CSP allows no inline script.
    assert page.one("script", src="/static/members.js")


@pytest.mark.parametrize("role", [Role.MANAGER, Role.TECHNICIAN, Role.MEMBER])
def test_everyone_but_an_admin_gets_the_not_for_your_role_page(sign_in: SignIn, role: Role) -> None:
    response = sign_in(role).get("/members")
    assert response.status_code == 403
    assert "您的角色无权查看此页面" in response.text
    assert "data-member=" not in response.text
    assert 'data-nav="members"' not in response.text


def test_the_nav_link_is_only_for_admins(sign_in: SignIn, client: TestClient) -> None:
    sign_in(Role.MANAGER)
    assert 'data-nav="members"' not in client.get("/").text
    client.cookies.clear()
    admin = sign_in(Role.ADMIN)
    link = parse(admin.get("/").text).one("a", data_nav="members")
    assert (link.attrs["href"], link.text) == ("/members", "会员管理")


def test_signed_out_is_sent_to_sign_in_first(client: TestClient) -> None:
    response = client.get("/members?q=王", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/members")


def press(client: TestClient, page: Page, member_id: str, action: str, note: str) -> dict[str, str]:
    """What app.js does with a button: POST its data-api, the note as JSON, the CSRF header."""
    button = card(page, member_id).one("button", data_member_action=action)
    token = str(page.one("meta", name="csrf-token").attrs["content"])
    response = client.post(
        str(button.attrs["data-api"]), json={"note": note}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, str] = response.json()
    return answer


def test_a_button_changes_the_standing_and_the_page_shows_who_and_why(sign_in: SignIn) -> None:
    client = sign_in(Role.ADMIN)
    answer = press(client, members(client), "M001", "suspend", "会费未缴")
    assert (answer["member_id"], answer["standing"], answer["changed_by"]) == (
        "M001",
        "suspended",
        "root",
    )
    wang = card(members(client), "M001")
    assert wang.one("span", data_standing_badge="suspended").text == "已暂停"
    assert [b.attrs["data-member-action"] for b in wang.find("button")] == ["reinstate", "revoke"]
    latest = wang.find("li", data_audit=None)[0]
    assert latest.attrs["data-audit"] == "suspended"
    assert latest.text == "2026-12-06 10:00 暂停会籍 操作人 root 备注：会费未缴"
    assert wang.one("div", data_last_change=None).text == "最近变更：root · 2026-12-06 10:00"

    press(client, members(client), "M001", "reinstate", "已补缴")
    wang = card(members(client), "M001")
    assert wang.one("span", data_standing_badge="active").text == "正常"
    assert wang.find("li", data_audit=None)[0].text.endswith("恢复会籍 操作人 root 备注：已补缴")


def test_a_button_without_the_pages_csrf_token_changes_nothing(sign_in: SignIn) -> None:
    client = sign_in(Role.ADMIN)
    button = card(members(client), "M001").one("button", data_member_action="revoke")
    refused = client.post(str(button.attrs["data-api"]), json={"note": "x"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    assert card(members(client), "M001").one("span", data_standing_badge="active")
