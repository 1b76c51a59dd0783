"""The reports page on a phone (390×844) in Chromium: a manager picks November, downloads the
Excel file and the PDF (Playwright downloads) and opens them, then subscribes by e-mail.

The cloud is served by uvicorn on a loopback port over SQLite with the district the report
tests seed (tests/cloud/reports/world.py); no broker or box is needed.
"""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, ViewportSize, expect
from pydantic import SecretStr
from pypdf import PdfReader
from sqlmodel import Session

from cloud.auth.settings import AuthSettings
from cloud.jobs.settings import JobSettings
from cloud.service import build_api, open_database
from cloud.settings import CloudSettings
from tests.cloud.reports.world import EXPECTED, PASSWORD, RIDERS, RIDERS_NAME, seed
from tests.e2e.browsers import (  # skips without playwright
    artifacts_folder,
    headless_chromium,
    serving,
)

TIMEOUT_MS: Final = 30_000
PHONE: Final = ViewportSize(width=390, height=844)
AXE: Final = Path(__file__).parent / "vendor" / "axe.min.js"
_SERIOUS: Final = ("serious", "critical")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = CloudSettings(
        data_dir=tmp_path_factory.mktemp("reports"),
        auth=AuthSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32))),
        jobs=JobSettings(enabled=False),
    )
    engine = open_database(settings)
    with Session(engine) as session:
        seed(session)
    try:
        with serving(build_api(settings, engine), name="reports") as base:
            yield base
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(timeout_ms=TIMEOUT_MS) as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, url: str) -> Iterator[Page]:
    """The manager of "riders", signed in on a phone; no script error may happen."""
    context = browser.new_context(base_url=url, viewport=PHONE, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(path=AXE)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto("/login?next=/reports")
    tab.fill("input[name=username]", "mia")
    tab.fill("input[name=password]", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url(re.compile(r"/reports$"))
    yield tab
    context.close()
    assert not errors, f"the page raised script errors: {errors}"


def _problems(page: Page) -> list[str]:
    problems = []
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width > inner:
        problems.append(f"scrolls sideways: {width} px in {inner} px")
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    for violation in found["violations"]:
        if violation["impact"] in _SERIOUS:
            targets = [node["target"] for node in violation["nodes"]][:3]
            problems.append(f"axe {violation['id']} on {targets}")
    return problems


def _download(page: Page, fmt: str) -> bytes:
    with page.expect_download() as info:
        page.locator(f"a[data-download={fmt}]").click()
    download = info.value
    assert download.suggested_filename == f"{RIDERS}-month-2026-11.{fmt}"
    path = download.path()
    return Path(path).read_bytes()


def test_a_manager_downloads_novembers_report_on_a_phone_and_subscribes(
    page: Page, tmp_path_factory: pytest.TempPathFactory
) -> None:
    form = page.locator("form[data-report-form]")
    form.locator("select[name=period]").select_option("month")
    form.locator("input[name=date]").fill("2026-11-17")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"period=month"))
    expect(page.locator("#report-h")).to_have_text(f"{RIDERS_NAME} 月报（2026年11月）")
    visits = page.locator("tr[data-report-venue] td[data-figure=visits]")
    expect(visits).to_have_text(str(EXPECTED["visits"]))
    page.screenshot(path=artifacts_folder(tmp_path_factory, "reports") / "reports-390.png")
    assert _problems(page) == []

    book = load_workbook(io.BytesIO(_download(page, "xlsx")))
    summary = book["汇总"]
    row = dict(zip([c.value for c in summary[3]], [c.value for c in summary[4]], strict=True))
    assert row["到访人次"] == EXPECTED["visits"]
    assert row["冰箱超温（分钟）"] == EXPECTED["fridge_minutes"]
    pdf = PdfReader(io.BytesIO(_download(page, "pdf")))
    text = "\n".join(p.extract_text() for p in pdf.pages)
    assert "到访人次" in text
    assert "85.0" in text

    subscribe = page.locator("form[data-subscribe]")
    subscribe.locator("input[name=email]").fill("mia@union.example.cn")
    subscribe.locator("button[type=submit]").click()
    expect(page.locator("tr[data-subscription]")).to_have_count(1)
    expect(page.locator("tr[data-subscription] td").nth(3)).to_have_text("mia@union.example.cn")
