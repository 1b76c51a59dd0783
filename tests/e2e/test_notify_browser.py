"""A probe marked as the fridge on the settings page raises an alert that reaches a WeChat
Work group and is acknowledged from its link, on a phone (390×844) in Chromium.

The venue's manager subscribes on the notifications page and sends a test; a probe reads
12 °C for eleven minutes, which alerts nobody until the manager marks it as the fridge on
the venue's settings page; then the alert evaluation opens the alert, the delivery job
sends it to a local WeChat Work robot (tests/cloud/notify/fake_robots.py, checking the
documented body); the manager, signed out, opens the message's link, signs in, and
acknowledges with a note that is kept with the alert. Served by uvicorn over SQLite; the
jobs are run by the test (their schedule is the scheduler's business, tested elsewhere).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select

from cloud.alerts.engine import evaluate
from cloud.alerts.models import Alert
from cloud.auth import store
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.settings import AuthSettings
from cloud.core.time import utc_now
from cloud.devices.models import Device
from cloud.jobs.settings import JobSettings
from cloud.models import Reading, Venue
from cloud.notify.delivery import DeliveryJob
from cloud.notify.services import notify_services
from cloud.notify.settings import NotifySettings
from cloud.service import api_server, build_api, open_database
from cloud.settings import CloudSettings
from ops.broker.probe import poll_until
from ops.broker.process import free_port
from tests.cloud.notify.fake_robots import FakeRobots
from tests.e2e.browsers import artifacts_folder, headless_chromium  # skips without playwright

TIMEOUT_MS: Final = 30_000
PHONE: Final = ViewportSize(width=390, height=844)
AXE: Final = Path(__file__).parent / "vendor" / "axe.min.js"
_SERIOUS: Final = ("serious", "critical")
PASSWORD: Final = secrets.token_urlsafe(16)
NOTE: Final = "冰箱门没关严，已关好并复查温度"


@dataclass
class World:
    url: str
    engine: Engine
    settings: CloudSettings
    robots: FakeRobots


def _seed(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Venue(id="riders", name="徐汇骑手驿站"))
        session.commit()
        session.add(Device(id="hub-1", venue_id="riders", online=True, last_seen_at=utc_now()))
        user = UserCreate(
            username="mia", role=Role.MANAGER, venue_ids=["riders"], password=PASSWORD
        )
        store.create_user(session=session, user_in=user)
        session.commit()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = CloudSettings(
        data_dir=tmp_path_factory.mktemp("notify"),
        auth=AuthSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32))),
        jobs=JobSettings(enabled=False),
        notify=NotifySettings(allow_loopback_robots=True, link_base_url=url),
    )
    engine = open_database(settings)
    _seed(engine)
    robots = FakeRobots()
    server = api_server(build_api(settings, engine), host="127.0.0.1", port=port)
    thread = threading.Thread(target=server.run, name="notify-e2e-api", daemon=True)
    thread.start()
    try:
        poll_until(lambda: server.started, timeout=30, what="the API never started")
        yield World(url, engine, settings, robots)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        robots.close()
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(timeout_ms=TIMEOUT_MS) as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, world: World) -> Iterator[Page]:
    context = browser.new_context(base_url=world.url, viewport=PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(path=AXE)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"the page raised script errors: {errors}"


def _problems(page: Page) -> list[str]:
    problems = []
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width > inner:
        problems.append(f"{page.url} scrolls sideways: {width} px in {inner} px")
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    for violation in found["violations"]:
        if violation["impact"] in _SERIOUS:
            targets = [node["target"] for node in violation["nodes"]][:3]
            problems.append(f"{page.url}: axe {violation['id']} on {targets}")
    return problems


def _sign_in(page: Page) -> None:
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def _warm_fridge(world: World) -> None:
    """Eleven minutes at 12 °C up to now: past the fridge rule's 8 °C for 10 minutes."""
    now = utc_now()
    with Session(world.engine) as session:
        session.add_all(
            Reading(
                device_id="hub-1",
                seq=100 + minute,
                venue_id="riders",
                metric="temperature_c",
                sensor="28-fridge",
                ts=now - timedelta(minutes=11 - minute),
                value=12.0,
            )
            for minute in range(12)
        )
        session.commit()


def test_a_fridge_alert_reaches_wecom_and_is_acknowledged_from_its_link_with_a_note(
    page: Page, world: World, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shots = artifacts_folder(tmp_path_factory, "notify")
    page.goto("/login?next=/notifications")
    _sign_in(page)
    page.wait_for_url(re.compile(r"/notifications$"))
    form = page.locator("[data-add-subscription] form[data-sub-form]")
    form.locator("select[name=venue_id]").select_option("riders")
    form.locator("input[name=kinds][value=fridge_warm]").check()
    form.locator("select[name=channel]").select_option("wecom")
    form.locator("input[name=target]").fill(world.robots.wecom_url)
    form.locator("button[type=submit]").click()
    row = page.locator("tr[data-subscription]")
    expect(row).to_have_count(1)
    expect(row.locator("[data-masked-target]")).to_contain_text("693a…5aaa")
    expect(row.locator("td").first).to_have_text("徐汇骑手驿站")
    row.locator("button[data-sub-test]").click()
    expect(row.locator("[data-row-result]")).to_have_text("测试消息已发送")
    assert "测试消息" in world.robots.of("wecom")[0].text
    page.screenshot(path=shots / "notifications-390.png", full_page=True)
    assert _problems(page) == []

    _warm_fridge(world)
    # Nothing says the probe is in a fridge yet: no alert until a person marks it.
    assert evaluate(world.engine, utc_now()).opened == []
    page.goto("/venues/riders/settings")
    probe = page.locator('form[data-probe="hub-1/28-fridge"]')
    probe.locator("input[name=label]").fill("饮料冰箱")
    probe.locator("select[name=role]").select_option("fridge")
    probe.locator("button[type=submit]").click()
    expect(probe.locator("[data-result]")).to_have_text("已保存")
    assert len(evaluate(world.engine, utc_now()).opened) == 1
    DeliveryJob(notify_services(world.settings)).run(world.engine, utc_now())
    message = world.robots.of("wecom")[-1].text
    assert "冰箱温度过高" in message
    assert "徐汇骑手驿站" in message
    link = re.search(r"\((http://127\.0\.0\.1:\d+/n/ack/[^)]+)\)", message)
    assert link is not None, message

    page.goto("about:blank")  # leave the page first: its live feed would reload on a 401
    page.context.clear_cookies()  # the message is opened on a phone not signed in
    page.goto(link.group(1))
    page.wait_for_url(re.compile(r"/login\?next="))
    _sign_in(page)
    page.wait_for_url(re.compile(r"/n/ack/"))
    expect(page.locator("[data-alert-status]")).to_have_attribute("data-alert-status", "open")
    assert _problems(page) == []
    page.fill("[data-ack-note-input]", NOTE)
    page.click("button[data-ack-action$='/ack']")
    expect(page.locator("[data-alert-status]")).to_have_attribute(
        "data-alert-status", "acknowledged"
    )
    expect(page.locator("[data-ack-note]")).to_have_text(NOTE)
    page.screenshot(path=shots / "ack-390.png", full_page=True)
    with Session(world.engine) as session:
        [alert] = session.exec(select(Alert)).all()
        assert (alert.status, alert.acknowledged_by, alert.ack_note) == (
            "acknowledged",
            "mia",
            NOTE,
        )
