"""The admin's member page in a real browser: find, suspend, reinstate, load a roster file.

Headless Chromium (Debian's, through Playwright) against the cloud served by uvicorn on a
loopback port over SQLite: no broker or box is needed, the page and the members API are the
whole story. Screenshots at a phone's 360 px and a laptop's 1366 px, in both languages, are
kept for a person to look at ($YIZHAN_ARTIFACTS, else a temporary folder).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import pytest
from playwright.sync_api import (  # after the check above: only if playwright is there
    Browser,
    FilePayload,
    Locator,
    Page,
    ViewportSize,
    expect,
)
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.access.models import Member
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.settings import AuthSettings
from cloud.auth.store import create_user
from cloud.core.time import utc_now
from cloud.jobs.settings import JobSettings
from cloud.members.roster import RosterEntry, Standing, set_standing, upsert
from cloud.service import build_api, open_database
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
ADMIN: Final = "root"
PASSWORD: Final = "members-e2e-password"
WANG: Final = "M0001"  # found by his phone's last four
PHONE_TAIL: Final = "8866"
# A union clerk's file: Chinese headers and group names, as Excel saves it.
HEADER: Final = "会员号,姓名,群体,有效期至,状态,手机尾号"


@dataclass(frozen=True, slots=True)
class RosterWorld:
    url: str
    engine: Engine

    def member(self, member_id: str) -> Member | None:
        with Session(self.engine) as session:
            return session.get(Member, member_id)


def _seed(engine: Engine) -> None:
    until = datetime(2027, 12, 31, 16, 0, tzinfo=UTC)  # the end of 2027-12-31 in China
    people = [
        RosterEntry(
            member_id=WANG,
            display_name="王建国",
            groups=("rider",),
            valid_until=until,
            phone_tail=PHONE_TAIL,
        ),
        RosterEntry(
            member_id="M0002",
            display_name="李秀英",
            groups=("courier", "sanitation"),
            valid_until=until,
            phone_tail="1234",
        ),
        RosterEntry(
            member_id="M0003",
            display_name="张伟",
            groups=("rider",),
            valid_until=utc_now() - timedelta(days=3),
            phone_tail="0001",
        ),
        RosterEntry(member_id="M0004", display_name="赵丽", groups=("domestic",)),
    ]
    with Session(engine) as session:
        create_user(
            session=session, user_in=UserCreate(username=ADMIN, password=PASSWORD, role=Role.ADMIN)
        )
        upsert(session=session, entries=people, by="token:union-platform")
        set_standing(
            session=session, member_id="M0004", standing=Standing.SUSPENDED, by=ADMIN, note="核实中"
        )
        session.commit()


@contextmanager
def roster_world(root: Path) -> Iterator[RosterWorld]:
    """The cloud API and dashboard on a free loopback port, over SQLite under ``root``."""
    settings = CloudSettings(
        data_dir=root,
        auth=AuthSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32))),
        jobs=JobSettings(enabled=False),
    )
    engine = open_database(settings)
    _seed(engine)
    try:
        with serving(build_api(settings, engine), name="members") as url:
            yield RosterWorld(url, engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RosterWorld]:
    with roster_world(tmp_path_factory.mktemp("members")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(timeout_ms=TIMEOUT_MS) as launched:
        yield launched


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts_folder(tmp_path_factory, "members")


@pytest.fixture
def page(browser: Browser, world: RosterWorld) -> Iterator[Page]:
    """A fresh browser (no cookies) signed in as the admin; no script error may happen."""
    context = browser.new_context(base_url=world.url, viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto("/login?next=/members")
    tab.fill("input[name=username]", ADMIN)
    tab.fill("input[name=password]", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url(re.compile(r"/members$"))
    yield tab
    context.close()
    assert not errors, f"the page raised script errors: {errors}"


def find(page: Page, text: str) -> None:
    search = page.locator("form[data-member-search]")
    search.locator("input[name=q]").fill(text)
    search.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"[?&]q={re.escape(text)}"))


def test_an_admin_finds_a_member_by_phone_tail_suspends_and_reinstates_them(
    world: RosterWorld, page: Page
) -> None:
    expect(page.locator("a[data-nav=members]")).to_have_text("会员管理")
    find(page, PHONE_TAIL)
    cards = page.locator("article[data-member]")
    expect(cards).to_have_count(1)
    row = page.locator(f'article[data-member="{WANG}"]')
    badge = row.locator("[data-standing-badge]")
    expect(badge).to_have_text("正常")
    page.evaluate("window.__marker = 1")

    # Revoking asks first; saying no sends nothing.
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("button[data-member-action=revoke]").click()
    expect(row.locator("button[data-member-action=revoke]")).to_be_enabled()
    untouched = world.member(WANG)
    assert untouched is not None
    assert untouched.standing == "active"

    row.locator(f'input[data-note="{WANG}"]').fill("欠缴会费三个月")
    row.locator("button[data-member-action=suspend]").click()
    expect(badge).to_have_attribute("data-standing-badge", "suspended")
    expect(badge).to_have_text("已暂停")
    expect(row.locator("[data-result]")).to_have_text(f"已暂停 {WANG} 的会籍")
    expect(row.locator(f'input[data-note="{WANG}"]')).to_have_value("")  # sent, so cleared
    row.locator(f'details[data-history="{WANG}"] summary').click()
    latest = row.locator("li[data-audit]").first
    expect(latest).to_have_attribute("data-audit", "suspended")
    expect(latest.locator("[data-audit-note]")).to_have_text("备注：欠缴会费三个月")
    expect(latest.locator("[data-audit-by]")).to_have_attribute("data-audit-by", ADMIN)
    expect(row.locator("[data-last-change]")).to_contain_text(f"最近变更：{ADMIN}")
    stored = world.member(WANG)
    assert stored is not None
    assert (stored.standing, stored.status, stored.changed_by) == ("suspended", "revoked", ADMIN)

    row.locator("button[data-member-action=reinstate]").click()
    expect(badge).to_have_text("正常")
    expect(latest).to_have_attribute("data-audit", "reinstated")
    # The re-render kept the history unfolded and the answer on screen; no reload happened.
    expect(row.locator(f'details[data-history="{WANG}"]')).to_have_attribute("open", "")
    expect(row.locator("[data-result]")).to_have_text(f"已恢复 {WANG} 的会籍")
    assert page.evaluate("window.__marker") == 1, "the page reloaded instead of updating"
    stored = world.member(WANG)
    assert stored is not None
    assert stored.standing == "active"


def roster_file(second_until: str, *, name: str = "roster.csv") -> FilePayload:
    rows = [
        HEADER,
        "M0101,陈师傅,外卖骑手,2027-12-31,正常,3131",
        f"M0102,刘阿姨,环卫工人 快递员,{second_until},,5678",
    ]
    return {"name": name, "mimeType": "text/csv", "buffer": "\r\n".join(rows).encode()}


def check(box: Locator, payload: FilePayload) -> None:
    box.locator("input[data-import-file]").set_input_files(payload)
    box.locator("button[data-import-check]").click()


def test_a_roster_file_is_refused_for_one_bad_row_then_fixed_and_imported(
    world: RosterWorld, page: Page
) -> None:
    box = page.locator("[data-import]")
    result = box.locator("[data-import-result]")
    apply = box.locator("button[data-import-apply]")
    count = {k: box.locator(f'[data-import-count="{k}"]') for k in ("created", "refused")}

    not_a_roster: FilePayload = {"name": "notes.csv", "mimeType": "text/csv", "buffer": b"a,b\r\n"}
    check(box, not_a_roster)
    expect(result).to_contain_text("no header row")  # the API's 400, said where the file is
    expect(result).to_have_class("result error")
    expect(apply).to_be_disabled()

    check(box, roster_file("2027-13-45"))
    expect(result).to_have_text("有 1 行有问题，未导入任何数据。请修改文件后重新检查。")
    refused = box.locator("li[data-refused-row]")
    expect(refused).to_have_count(1)
    expect(refused).to_have_attribute("data-refused-row", "3")  # as Excel numbers it
    expect(refused).to_have_attribute("data-reason", "bad_date")
    expect(refused.locator("code")).to_have_text("M0102")
    expect(refused.locator("[data-reason-text]")).to_have_text(
        "有效期无法识别：请写成 2027-12-31（会籍到当天结束），长期有效请留空。"
    )
    expect(count["created"]).to_have_text("1")  # what the good row would do
    expect(count["refused"]).to_have_text("1")
    expect(apply).to_be_disabled()
    assert world.member("M0101") is None, "a dry run wrote a member"

    box.locator("input[data-import-file]").set_input_files(roster_file("2027-12-31"))
    expect(box.locator("[data-import-report]")).to_be_hidden()  # said of the other file
    box.locator("button[data-import-check]").click()
    expect(result).to_have_text("检查通过，可以导入。")
    expect(count["created"]).to_have_text("2")
    expect(count["refused"]).to_have_text("0")
    expect(box.locator("[data-import-refused]")).to_be_hidden()
    assert world.member("M0101") is None, "a dry run wrote a member"

    apply.click()
    expect(page.locator("main#live-root")).to_have_attribute("data-refreshed", "1")
    expect(page.locator('article[data-member="M0102"]')).to_be_visible()  # the list re-rendered
    # The fresh <main> still says what happened, to the file still chosen.
    expect(result).to_have_text("导入完成。")
    expect(count["created"]).to_have_text("2")
    chosen = box.locator("input[data-import-file]").evaluate("input => input.files[0].name")
    assert chosen == "roster.csv"
    expect(apply).to_be_disabled()  # the same file once is enough
    stored = world.member("M0102")
    assert stored is not None
    assert (stored.display_name, stored.groups, stored.phone_tail, stored.standing) == (
        "刘阿姨",
        ["sanitation", "courier"],
        "5678",
        "active",
    )
    assert stored.changed_by == ADMIN
    card = page.locator('article[data-member="M0102"]')
    expect(card.locator("[data-valid-until]")).to_have_text("2027-12-31 到期")
    expect(card.locator('li[data-audit="created"] [data-audit-note]')).to_have_text(
        "备注：import roster.csv"
    )


def test_the_export_links_download_the_roster(page: Page) -> None:
    with page.expect_download() as csv_download:
        page.click("a[data-export-format=csv]")
    assert csv_download.value.suggested_filename == "members.csv"
    text = Path(csv_download.value.path()).read_bytes().decode("utf-8-sig")
    assert text.splitlines()[0] == "member_id,display_name,groups,valid_until,standing,phone_tail"
    assert f"{WANG},王建国,rider," in text
    with page.expect_download() as xlsx_download:
        page.click("a[data-export-format=xlsx]")
    assert xlsx_download.value.suggested_filename == "members.xlsx"
    assert Path(xlsx_download.value.path()).read_bytes()[:2] == b"PK"  # a zip: a workbook


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"the page is {width} px wide in a {inner} px window"


def shoot(page: Page, folder: Path, name: str) -> Path:
    lang = page.locator("html").get_attribute("lang")
    size = page.viewport_size
    assert size is not None
    path = folder / f"members-{name}-{size['width']}-{lang}.png"
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 0
    return path


def test_screenshots_on_a_phone_and_a_laptop_in_both_languages(
    page: Page, artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():  # where to look, even when the output is captured
        print(f"\nmember page screenshots: {artifacts}")
    shots: list[Path] = []
    for lang in ("zh-CN", "en"):
        if page.locator("html").get_attribute("lang") != lang:
            page.click(f'a[data-lang="{lang}"]')
            expect(page.locator("html")).to_have_attribute("lang", lang)
        page.locator('details[data-history="M0004"] summary').click()
        expect(page.locator('details[data-history="M0004"] li[data-audit]').first).to_be_visible()
        box = page.locator("[data-import]")
        check(box, roster_file("someday", name="名册.csv"))  # refused: the report is shown
        expect(box.locator("li[data-refused-row]")).to_have_count(1)
        for size in (PHONE, LAPTOP):
            page.set_viewport_size(size)
            expect(page.locator("article[data-member]").first).to_be_visible()
            if size == PHONE:
                _no_sideways_scroll(page)
            shots.append(shoot(page, artifacts, "list"))
    assert len({p.name for p in shots}) == 4
