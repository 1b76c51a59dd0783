"""Words a person reads: one term per figure, venue names per language, sizes, durations and
dates in the venue's zone, alert and points texts as sentences, API errors in the page's
language (the catalog on every page, and errors.js wording a refusal in Chromium)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.alerts import messages
from cloud.alerts.engine import OccupancyNow, find_conditions
from cloud.alerts.models import AlertKind
from cloud.alerts.rules import Finding
from cloud.alerts.subject import Subject
from cloud.api.app import create_app
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.core.lang import venue_name
from cloud.models import Venue
from cloud.points.models import Posting
from cloud.points.statement import EntryPublic, _place
from cloud.service import open_database
from cloud.settings import CloudSettings
from cloud.web import words
from cloud.web.i18n import COMMON, Catalog, Lang
from cloud.web.pages import PAGES
from cloud.web.render import STATIC_DIR
from tests.cloud.web.helpers import PASSWORD, sign_in

NOW: Final = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
ZH_NAME, EN_NAME = "徐汇骑手驿站", "Xuhui Riders' Station"


def text_of(key: str, lang: Lang, **values: object) -> str:
    return Catalog.merged([COMMON, *(page.TEXT for page in PAGES)]).text(lang, key, **values)


# ---- formatters ------------------------------------------------------------------------


def test_sizes_read_in_kb_mb_gb() -> None:
    assert words.size_mb(78232) == "76.4 GB"
    assert words.size(512) == "512 B"
    assert words.size(1536) == "1.5 KB"
    assert words.size(250 * 1024 * 1024) == "250 MB"
    assert words.size_mb(5 * 1024 * 1024) == "5.0 TB"


def test_durations_show_their_two_largest_units() -> None:
    assert words.duration(7200 + 300, "zh-CN") == "2 小时 5 分钟"
    assert words.duration(7200 + 300, "en") == "2 h 5 min"
    assert words.duration(30 * 86400 + 59, "zh-CN") == "30 天"
    assert words.duration(45, "en") == "45 s"
    assert words.duration(0, "zh-CN") == "0 秒"


def test_dates_fall_in_the_venues_zone_around_midnight() -> None:
    # 16:30 UTC on the 5th is half past midnight on the 6th in Shanghai.
    late = datetime(2026, 12, 5, 16, 30, tzinfo=UTC)
    assert words.local_day(late, "Asia/Shanghai", "zh-CN") == "2026-12-06"
    assert words.local_day(late, "UTC", "zh-CN") == "2026-12-05"
    assert words.local_day(late, "Asia/Shanghai", "en") == "6 Dec 2026"
    assert words.local_time(late, "Asia/Shanghai", "en") == "6 Dec 2026 00:30"
    assert words.local_time(late.isoformat(), "UTC", "zh-CN") == "2026-12-05 16:30"
    assert words.local_time(None, "UTC", "en") == "—"


def test_counts_and_shares_carry_their_units() -> None:
    assert words.count(3, "people", "zh-CN") == "3 人"
    assert words.count(1, "people", "en") == "1 person"
    assert words.count(12345, "visits", "en") == "12,345 visits"
    assert words.percent(0.456) == "46%"
    assert words.percent(1, 3, digits=1) == "33.3%"
    assert words.percent(1, 0) == "—"


def test_credentials_read_as_words() -> None:
    def t(key: str, **values: object) -> str:
        return text_of(key, "zh-CN", **values)

    said = [words.credentials(n, t) for n in (0, 1, 3)]
    assert said == ["尚无凭据", "凭据：首次签发", "凭据版本 3"]
    assert all("代" not in s for s in said)


# ---- one term per thing ----------------------------------------------------------------

# (what a catalog must not say, the glossary's term to say instead)
SYNONYMS: Final = (
    (r"在站|当前人数|当前在场|进站", "在场人数 / 进入人次"),
    (r"今日到访(?!人次|的)", "今日到访人次"),
    (r"今日进入(?!人次)", "今日进入人次"),
    (r"到访会员(?!数)", "到访会员数"),
    (r"(?i)\binside now\b|\bvisitors\b", "people inside / visits"),
)


def test_every_catalog_uses_the_glossary_terms() -> None:
    messages = Catalog.merged([COMMON, *(page.TEXT for page in PAGES)]).messages
    wrong = [
        f"{key}: {text!r} (say {term})"
        for key, pair in messages.items()
        for text in pair
        for pattern, term in SYNONYMS
        if re.search(pattern, text)
    ]
    assert wrong == []
    assert messages["overview.inside"][0] == words.GLOSSARY["term.inside"][0]


# ---- texts that read as sentences ------------------------------------------------------


def test_an_alert_names_the_venue_as_each_language_calls_it(tmp_path: Path) -> None:
    engine = open_database(CloudSettings(data_dir=tmp_path))
    with Session(engine) as session:
        session.add(Venue(id="xuhui-riders", name=ZH_NAME, name_en=EN_NAME))
        session.commit()

        def crowd(_session: Session) -> list[OccupancyNow]:
            return [OccupancyNow("xuhui-riders", 33, 30, NOW)]

        findings = find_conditions(session, now=NOW, occupancy=crowd)
    engine.dispose()
    (over,) = [f for f in findings if f.subject.kind == AlertKind.OVER_CAPACITY]
    assert over.message_zh.startswith(f"{ZH_NAME} 在场 33 人")
    assert over.message_en.startswith(f"{EN_NAME}: 33 people inside")
    assert "xuhui-riders" not in over.message_zh + over.message_en


def test_a_fridge_alert_names_the_probe_by_its_label() -> None:
    subject = Subject(AlertKind.FRIDGE_WARM, "v1", "hub-01", "28-6174025e7a57")
    finding = Finding(subject, True, NOW, 9.5, 8.0)
    venues = {"v1": Venue(id="v1", name=ZH_NAME, name_en=EN_NAME)}
    labelled = messages.named(finding, venues, {("hub-01", "28-6174025e7a57"): "饮料冰箱"})
    assert "（探头 饮料冰箱）" in labelled.message_zh
    assert labelled.message_en.startswith(f"{EN_NAME}: fridge at 9.5 °C")
    unlabelled = messages.named(finding, venues)
    assert "探头 hub-01/28-6174025e7a57" in unlabelled.message_zh  # no label: its ids


def test_a_check_in_reads_as_a_sentence_with_the_event_as_a_detail() -> None:
    posting = Posting(
        idempotency_key="checkin:xuhui-riders:M1:2026-12-06",
        kind="checkin",
        memo="check-in at xuhui-riders on 2026-12-06 (door-01#1796528316240400)",
        at=NOW,
    )
    place = _place(posting)
    assert place == {
        "venue_id": "xuhui-riders",
        "day": "2026-12-06",
        "detail": "door-01#1796528316240400",
    }
    entry = EntryPublic(
        posting_id=1,
        at=NOW,
        kind="checkin",
        memo=posting.memo,
        amount=5,
        venue_name=ZH_NAME,
        venue_name_en=EN_NAME,
        **place,
    )
    assert entry.day == date(2026, 12, 6)

    def said(lang: Lang) -> str:
        return words.entry_text(entry, lambda key, **v: text_of(key, lang, **v), lang)

    assert said("zh-CN") == f"2026-12-06 在 {ZH_NAME} 签到"
    assert said("en") == f"Check-in at {EN_NAME} on 6 Dec 2026"


def test_venue_name_per_language() -> None:
    both = Venue(id="v1", name=ZH_NAME, name_en=EN_NAME)
    only = Venue(id="v2", name="浦东职工之家")
    assert (venue_name(both, "zh-CN"), venue_name(both, "en")) == (ZH_NAME, EN_NAME)
    assert venue_name(only, "en") == "浦东职工之家"
    assert venue_name(None, "en", fallback="v3") == "v3"


# ---- pages -----------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    engine: Engine = open_database(CloudSettings(data_dir=tmp_path))
    with Session(engine) as session:
        session.add(Venue(id="v1", name=ZH_NAME, name_en=EN_NAME, district="徐汇区"))
        session.add(Venue(id="v2", name="浦东职工之家", district="浦东新区"))
        session.commit()
        user = UserCreate(username="root", password=PASSWORD, role=Role.ADMIN, venue_ids=[])
        create_user(session=session, user_in=user)
    app = create_app(settings=CloudSettings(data_dir=tmp_path), engine=engine)
    with TestClient(app) as made:
        sign_in(made, "root")
        yield made
    engine.dispose()


def api_errors_of(html: str) -> dict[str, str]:
    found = re.search(r'<script type="application/json" id="api-errors">(.*?)</script>', html)
    assert found is not None, "the page carries no API error sentences"
    loaded: dict[str, str] = json.loads(found.group(1))
    return loaded


def test_the_overview_names_venues_in_the_readers_language(client: TestClient) -> None:
    chinese = client.get("/")
    assert chinese.status_code == 200, chinese.text
    assert ZH_NAME in chinese.text
    assert EN_NAME not in chinese.text
    assert api_errors_of(chinese.text)["non_json"] == "服务器暂时无法回应，请稍后重试"
    client.cookies.set("yz_lang", "en")
    english = client.get("/")
    assert EN_NAME.replace("'", "&#39;") in english.text
    assert "浦东职工之家" in english.text  # no English name: its one name
    assert api_errors_of(english.text)["non_json"].startswith("The server did not answer")


# ---- errors.js in a browser --------------------------------------------------------------

PAGE: Final = """<!doctype html><html lang="{lang}"><head>
<script type="application/json" id="api-errors">{table}</script></head>
<body><main id="live-root"><form data-api-form="/api/v1/x">
<label>采样间隔（秒）<input name="sample_interval_s"></label>
<label>设置<textarea name="settings" data-json>{{"sample_interval_s": 5,}}</textarea></label>
<button type="submit">push</button><span data-result></span>
</form></main></body></html>"""
REFUSALS: Final[dict[str, str]] = {
    # What callApi throws: {status, data} (data null when the answer was not JSON).
    "validation": """Object.assign(new Error("x"), {status: 422, data: {error: {
        code: "invalid_request", message: "Input should be greater than or equal to 0.05",
        details: [{field: "body.sample_interval_s", code: "value_too_small",
                   params: {limit: 0.05}}]}}})""",
    "proxy": """Object.assign(new Error("HTTP 502"), {status: 502, data: null})""",
    "network": """new TypeError("Failed to fetch")""",
    "claim": """Object.assign(new Error("x"), {status: 422, data: {error: {
        code: "claim_code_invalid", message: "the claim code has a typo", details: []}}})""",
    "unknown": """Object.assign(new Error("x"), {status: 409, data: {error: {
        code: "something_new", message: "an English sentence", details: []}}})""",
    # A model's own rule over the whole body: no field to name, and its reason is English.
    "whole_body": """Object.assign(new Error("x"), {status: 422, data: {error: {
        code: "invalid_request", message: "x", details: [{field: "body",
        code: "invalid_value", params: {reason: "closes must be after opens"}}]}}}),
        '请检查开放时间。'""",
}


def explain_all(lang: Lang) -> dict[str, Any]:
    browsers = pytest.importorskip("tests.e2e.browsers")
    table = json.dumps(words_table(lang), ensure_ascii=False).replace("<", "\\u003c")
    script = (STATIC_DIR / "errors.js").read_text(encoding="utf-8")
    calls = ", ".join(f"{name}: yzErrors.explain({js})" for name, js in REFUSALS.items())
    with browsers.headless_chromium(timeout_ms=10_000) as browser:
        page = browser.new_page()
        page.set_content(PAGE.format(lang=lang, table=table))
        page.add_script_tag(content=script)
        said: dict[str, Any] = page.evaluate(f"() => ({{{calls}}})")
        # A JSON box the browser cannot parse: the page's words, before any request.
        page.click("button[type=submit]")
        said["json_box"] = page.inner_text("[data-result]")
        page.close()
    return said


def words_table(lang: Lang) -> dict[str, str]:
    from cloud.web.i18n import api_errors  # noqa: PLC0415

    return api_errors(lang)


def test_errors_js_words_refusals_in_the_pages_language() -> None:
    said = explain_all("zh-CN")
    assert said == {
        "validation": "“采样间隔（秒）”不能小于 0.05",
        "proxy": "服务器暂时无法回应，请稍后重试",
        "network": "网络连接中断，操作没有完成；请检查网络后重试",
        "claim": words_table("zh-CN")["claim_code_invalid"],
        "unknown": words_table("zh-CN")["status.409"],
        "json_box": "“设置”不是有效的 JSON，请检查括号、引号和逗号",
        "whole_body": "请检查开放时间。",
    }
    # No English words (JSON is the box's own name).
    assert not any(re.search(r"[A-Za-z]{4,}", t.replace("JSON", "")) for t in said.values())
