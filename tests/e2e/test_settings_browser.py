"""The venue settings page in a real browser: a manager changes the capacity and marks a probe
as the fridge through static/settings.js, reloads and finds both kept, at a phone's 360 px and
a laptop's 1366 px, without sideways scroll; a bad door policy is marked next to its field.

Headless Chromium (Debian's, through Playwright) against the cloud served by uvicorn on a
loopback port over SQLite; screenshots go to $YIZHAN_ARTIFACTS, else a temporary folder.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
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

from cloud.aggregates.models import VenueSettings
from cloud.alerts.models import SensorRole
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.settings import AuthSettings
from cloud.auth.store import create_user
from cloud.core.time import utc_now
from cloud.devices.models import Device, DeviceDesiredConfig
from cloud.jobs.settings import JobSettings
from cloud.models import Reading, Venue
from cloud.service import build_api, open_database
from cloud.settings import CloudSettings
from ops.broker.probe import poll_until
from tests.e2e.browsers import (  # skips without playwright
    artifacts_folder,
    headless_chromium,
    serving,
)

TIMEOUT_MS: Final = 30_000
PHONE: Final = ViewportSize(width=360, height=740)
LAPTOP: Final = ViewportSize(width=1366, height=768)
MANAGER: Final = "boss"
TECHNICIAN: Final = "tom"
PASSWORD: Final = "venue-settings-e2e-password"
PROBES: Final = ("28-00000000f001", "28-00000000f002")
AXE: Final = Path(__file__).parent / "vendor" / "axe.min.js"
_SERIOUS: Final = ("serious", "critical")


@dataclass(frozen=True, slots=True)
class SettingsWorld:
    url: str
    engine: Engine


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SettingsWorld]:
    settings = CloudSettings(
        data_dir=tmp_path_factory.mktemp("venue-settings"),
        auth=AuthSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32))),
        jobs=JobSettings(enabled=False),
    )
    engine = open_database(settings)
    now = utc_now()
    with Session(engine) as session:
        session.add(Venue(id="v1", name="徐汇区漕河泾开发区骑手暖心驿站", kind="outdoor-station"))
        session.commit()
        session.add_all([Device(id="hub1", venue_id="v1", role="sensor-hub"),
                         Device(id="door1", venue_id="v1", role="door")])  # fmt: skip
        session.commit()
        session.add_all(
            Reading(device_id="hub1", seq=seq, venue_id="v1", metric="temperature_c",
                    sensor=sensor, ts=now - timedelta(minutes=5), value=4.5 + seq)
            for seq, sensor in enumerate(PROBES, start=1)
        )  # fmt: skip
        session.commit()
        user = UserCreate(username=MANAGER, password=PASSWORD, role=Role.MANAGER, venue_ids=["v1"])
        create_user(session=session, user_in=user)
        tech = UserCreate(username=TECHNICIAN, password=PASSWORD, role=Role.TECHNICIAN)
        create_user(session=session, user_in=tech)
    try:
        with serving(build_api(settings, engine), name="venue-settings") as url:
            yield SettingsWorld(url, engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(timeout_ms=TIMEOUT_MS) as launched:
        yield launched


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts_folder(tmp_path_factory, "venue-settings")


def _signed_in(
    browser: Browser,
    world: SettingsWorld,
    viewport: ViewportSize,
    *,
    who: str = MANAGER,
    start: str = "/venues/v1/settings",
) -> Page:
    context = browser.new_context(base_url=world.url, viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(path=AXE)
    tab = context.new_page()
    tab.goto(f"/login?next={start}")
    tab.fill("input[name=username]", who)
    tab.fill("input[name=password]", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url(re.compile(f"{re.escape(start)}$"))
    return tab


def _desired(world: SettingsWorld, device: str) -> DeviceDesiredConfig | None:
    with Session(world.engine) as session:
        return session.get(DeviceDesiredConfig, (device, 1))


def _axe_findings(page: Page) -> list[str]:
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"axe {v['id']} on {[n['target'] for n in v['nodes']][:3]}"
        for v in found["violations"]
        if v["impact"] in _SERIOUS
    ]


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"{page.url} is {width} px wide in a {inner} px window"


@pytest.mark.parametrize(
    ("viewport", "capacity", "probe"),
    [(PHONE, "41", PROBES[0]), (LAPTOP, "57", PROBES[1])],
    ids=["360", "1366"],
)
def test_capacity_and_a_fridge_probe_are_kept_across_a_reload(
    browser: Browser,
    world: SettingsWorld,
    artifacts: Path,
    viewport: ViewportSize,
    capacity: str,
    probe: str,
) -> None:
    page = _signed_in(browser, world, viewport)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _no_sideways_scroll(page)

    venue = page.locator("form[data-settings-form=capacity]")
    venue.locator("input[name=capacity]").fill(capacity)
    venue.locator("button[type=submit]").click()
    expect(venue.locator("[data-result]")).to_have_text("已保存")
    sensor = page.locator(f'form[data-probe="hub1/{probe}"]')
    sensor.locator("input[name=label]").fill("饮料冰箱")
    sensor.locator("select[name=role]").select_option("fridge")
    sensor.locator("button[type=submit]").click()
    expect(sensor.locator("[data-result]")).to_have_text("已保存")
    page.reload()

    expect(page.locator("form[data-settings-form=capacity] input[name=capacity]")).to_have_value(
        capacity
    )
    kept = page.locator(f'form[data-probe="hub1/{probe}"]')
    expect(kept.locator("select[name=role]")).to_have_value("fridge")
    expect(kept.locator("input[name=label]")).to_have_value("饮料冰箱")
    _no_sideways_scroll(page)
    assert _axe_findings(page) == []
    page.screenshot(path=str(artifacts / f"settings-{viewport['width']}.png"), full_page=True)
    with Session(world.engine) as session:
        assert session.get(VenueSettings, "v1").capacity == int(capacity)  # type: ignore[union-attr]
        role = session.get(SensorRole, ("hub1", probe))
    assert role is not None
    assert (role.role, role.label) == ("fridge", "饮料冰箱")
    assert not errors, f"the page raised script errors: {errors}"
    page.context.close()


def test_a_bad_door_policy_is_marked_next_to_its_field(
    browser: Browser, world: SettingsWorld
) -> None:
    page = _signed_in(browser, world, PHONE)
    door = page.locator('form[data-door="door1"]')
    door.locator("textarea[name=hours]").fill("mon-fri 25:00-22:00")
    door.locator("input[name=passback_s]").fill("-1")
    door.locator("input[name=passback_s]").evaluate("el => el.removeAttribute('min')")

    door.locator("button[type=submit]").click()

    expect(door.locator('[data-error-for="hours"]')).to_contain_text("格式不对")
    expect(door.locator('[data-error-for="passback_s"]')).to_contain_text("太小；允许范围 0–86400")
    expect(door.locator("[data-result]")).to_have_text("请更正标出的项目后再保存")
    _no_sideways_scroll(page)
    door.locator("textarea[name=hours]").fill("mon-fri 07:00-22:00\nsat,sun 09:00-18:00")
    door.locator("input[name=passback_s]").fill("30")
    door.locator("[data-add-exception]").click()
    closed = door.locator("[data-exception]").last
    closed.locator('[data-part="date"]').fill("2027-02-05")
    closed.locator('[data-part="until"]').fill("2027-02-07")
    closed.locator('[data-part="note"]').fill("春节")
    door.locator("button[type=submit]").click()

    expect(door.locator("[data-result]")).to_have_text(re.compile(r"已保存为 v1"))
    expect(door.locator('[data-error-for="hours"]')).to_be_empty()
    page.context.close()
    with Session(world.engine) as session:
        pushed = session.get(DeviceDesiredConfig, ("door1", 1))
    assert pushed is not None
    assert pushed.settings["door"]["policy"]["hours"] == [
        "mon-fri 07:00-22:00",
        "sat,sun 09:00-18:00",
    ]
    assert pushed.settings["door"]["policy"]["passback_s"] == 30
    assert pushed.settings["door"]["policy"]["exceptions"] == [
        {"date": "2027-02-05", "until": "2027-02-07", "hours": [], "note": "春节"}
    ]


def test_a_technician_pushes_a_key_from_the_fleet_form(
    browser: Browser, world: SettingsWorld
) -> None:
    page = _signed_in(browser, world, PHONE, who=TECHNICIAN, start="/fleet")
    page.locator('details[data-config="hub1"] summary').click()
    form = page.locator('form[data-config-form="hub1"]')
    interval = form.locator('input[data-key="sample_interval_s"]')
    interval.evaluate("el => el.removeAttribute('min')")
    interval.fill("-5")
    form.locator("button[type=submit]").click()

    expect(form.locator('[data-error-for="sample_interval_s"]')).to_contain_text("0.05–3600")
    assert form.locator('input[data-key="door.pulse_s"]').count() == 0  # a hub has no door
    _no_sideways_scroll(page)
    interval.fill("30")
    form.locator("button[type=submit]").click()

    # The fleet page refreshes itself when the config changes: the stored row is the answer.
    poll_until(lambda: _desired(world, "hub1"), timeout=TIMEOUT_MS / 1000, what="hub1 config")
    page.reload()
    page.locator('details[data-config="hub1"] summary').click()
    expect(interval).to_have_value("30")  # filled from the desired settings now
    page.context.close()
    pushed = _desired(world, "hub1")
    assert pushed is not None
    assert pushed.settings == {"sample_interval_s": 30}
