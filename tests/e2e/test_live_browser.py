"""Live updates in a real browser: figures and charts change in place, a tooltip being read
survives an update, a busy venue costs a phone few bytes, and the wall screen stays bounded.

Debian's Chromium under Playwright against the cloud served on a loopback port; rows are
written straight into the database, as ingest would, and the live feed finds them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any, Final

import pytest
from playwright.sync_api import Browser, CDPSession, Page, ViewportSize, expect
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.aggregates.occupancy import set_venue_settings
from cloud.alerts.models import Alert, SensorRole
from cloud.api.app import create_app
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.devices.models import Device
from cloud.models import DeviceEvent, Reading, Venue
from cloud.service import open_database
from cloud.settings import CloudSettings
from ops.broker.probe import poll_until
from tests.e2e.browsers import headless_chromium, serving

PASSWORD: Final = "a long enough password"
TIMEOUT_MS: Final = 20_000
BUSY: Final = "busy-01"
WALL_VENUES: Final = 40
_seq = count(1)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    folder = tmp_path_factory.mktemp("live-browser")
    made = open_database(CloudSettings(data_dir=folder))
    now = datetime.now(UTC)
    with Session(made) as session:
        session.add(Venue(id=BUSY, name="忙碌驿站", district="徐汇区"))
        session.add_all(
            Venue(id=f"w{n:03d}", name=f"驿站 {n}", district="浦东新区") for n in range(WALL_VENUES)
        )
        session.commit()
        session.add(Device(id="door-1", venue_id=BUSY, role="door", online=True))
        session.add(Device(id="hub-01", venue_id=BUSY, role="hub", online=True))
        session.add(
            SensorRole(device_id="hub-01", sensor="28-6174025e7a57", venue_id=BUSY, role="fridge")
        )
        session.add(
            SensorRole(
                device_id="hub-01", sensor="28-aa", venue_id=BUSY, role="ambient", label="大厅"
            )
        )
        for hours in range(1, 6):  # one reading an hour per probe: sparse, as in the issue
            at = now - timedelta(hours=hours)
            for sensor, value in (("28-6174025e7a57", 4.0 + hours), ("28-aa", 26.0)):
                session.add(
                    Reading(
                        device_id="hub-01",
                        seq=next(_seq),
                        venue_id=BUSY,
                        sensor=sensor,
                        metric="temperature_c",
                        ts=at,
                        value=value,
                        received_at=at,
                    )
                )
        session.add(
            create_user(
                session=session,
                user_in=UserCreate(username="root", password=PASSWORD, role=Role.ADMIN),
            )
        )
        session.commit()
    for _ in range(3):
        _admit(made, at=now - timedelta(minutes=30))
    set_venue_settings(made, BUSY, now=now, capacity=50)
    yield made
    made.dispose()


@pytest.fixture(scope="module")
def base_url(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = CloudSettings(data_dir=tmp_path_factory.mktemp("live-browser-app"))
    with serving(create_app(settings=settings, engine=engine), name="live") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(timeout_ms=TIMEOUT_MS) as launched:
        yield launched


def _admit(engine: Engine, *, at: datetime | None = None, venue: str = BUSY) -> None:
    """A member let in at the door, stored as ingest stores it."""
    at = at or datetime.now(UTC)
    with Session(engine) as session:
        session.add(
            DeviceEvent(
                device_id="door-1",
                seq=next(_seq),
                venue_id=venue,
                type="access.decision",
                ts=at,
                data={"reason": "accepted", "member": f"M{next(_seq)}"},
                received_at=at,
            )
        )
        session.commit()


def _open(browser: Browser, base_url: str, viewport: ViewportSize, path: str) -> Page:
    context = browser.new_context(base_url=base_url, viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/login")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
    page.goto(path)
    expect(page.locator("#live-state")).to_be_visible()  # the event stream is open
    return page


def _tooltip_shown(page: Page) -> bool:
    shown: bool = page.evaluate(
        """() => [...document.querySelectorAll('[data-chart="traffic"] .yz-tooltip')].some(
             (el) => getComputedStyle(el).display !== 'none' && getComputedStyle(el).opacity > 0
               && el.textContent.trim() !== '')"""
    )
    return shown


def test_figures_and_charts_change_in_place_and_a_tooltip_survives(
    browser: Browser, base_url: str, engine: Engine
) -> None:
    page = _open(browser, base_url, ViewportSize(width=1366, height=768), f"/venues/{BUSY}")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    traffic = page.locator('[data-chart="traffic"]')
    expect(traffic).to_have_attribute("data-chart-state", "drawn")
    expect(page.locator('[data-chart="temperature"]')).to_have_attribute(
        "data-chart-state", "drawn"
    )

    # The temperature chart names its probes and draws the fridge's limit.
    temperature: dict[str, Any] = page.evaluate(
        """() => { const o = echarts.getInstanceByDom(
             document.querySelector('[data-chart="temperature"]')).getOption();
           return { names: o.series.map((s) => s.name), legend: o.legend[0].type,
                    limit: o.series.flatMap((s) => (s.markLine ? s.markLine.data : []))
                             .map((d) => d.yAxis),
                    symbols: o.series.map((s) => s.showSymbol) }; }"""
    )
    assert sorted(temperature["names"]) == ["冰箱", "大厅"]
    assert temperature["legend"] == "plain"
    assert temperature["limit"] == [8]
    assert temperature["symbols"] == [True, True]

    # Someone reads the traffic chart's tooltip…
    traffic.evaluate("(el) => { el.dataset.reuseMs = '0'; }")  # take the next news at once
    traffic.scroll_into_view_if_needed()
    box = traffic.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.93, box["y"] + box["height"] * 0.6)
    poll_until(lambda: _tooltip_shown(page), timeout=10, what="no tooltip appeared")
    visits = page.locator(f'[data-fig="{BUSY}:visits"]')
    before = int(visits.inner_text())
    # …while a member walks in: the figure and the chart change, the page does not.
    _admit(engine)
    expect(visits).to_have_text(str(before + 1))
    expect(traffic).to_have_attribute("data-chart-updates", "1")
    assert _tooltip_shown(page), "the update took the tooltip away"
    assert page.locator("main#live-root").get_attribute("data-refreshed") is None
    assert not errors, errors
    page.context.close()


def test_a_busy_venue_costs_a_phone_few_bytes_a_minute(
    browser: Browser, base_url: str, engine: Engine
) -> None:
    page = _open(browser, base_url, ViewportSize(width=390, height=844), f"/venues/{BUSY}")
    cdp: CDPSession = page.context.new_cdp_session(page)
    received: list[int] = []
    cdp.on("Network.dataReceived", lambda e: received.append(int(e["encodedDataLength"])))
    cdp.on("Network.responseReceived", lambda e: received.append(_header_bytes(e["response"])))
    cdp.send("Network.enable")
    figures = page.locator("main#live-root")
    start = int(figures.get_attribute("data-figures") or 0)
    seconds = 6
    began = time.monotonic()
    for second in range(seconds):  # a member a second, as at the busiest door
        _admit(engine)
        pause = began + second + 1 - time.monotonic()
        if pause > 0:
            page.wait_for_timeout(pause * 1000)
    per_minute = sum(received) * 60 / seconds
    updates = int(figures.get_attribute("data-figures") or 0) - start
    assert updates >= 3, "the figures did not follow the door"
    # The 30 kB target is `yizhan bench dashboard`'s (live_bytes_per_min); six seconds on a
    # shared machine only tell figures in place (~20-30 kB) from whole pages (~310 kB).
    assert per_minute <= 60_000, f"{per_minute:.0f} bytes a minute"
    page.context.close()


def _header_bytes(response: dict[str, Any]) -> int:
    headers = response.get("headersText") or "".join(
        f"{k}: {v}\r\n" for k, v in response.get("headers", {}).items()
    )
    return len(headers.encode())


def _heap(cdp: CDPSession) -> int:
    cdp.send("HeapProfiler.collectGarbage")
    used: int = cdp.send("Runtime.getHeapUsage")["usedSize"]
    return used


def test_the_wall_runs_many_updates_without_growing(
    browser: Browser, base_url: str, engine: Engine
) -> None:
    page = _open(
        browser, base_url, ViewportSize(width=1920, height=1080), "/wall?district=浦东新区"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 1920
    cdp = page.context.new_cdp_session(page)
    nodes = "document.getElementsByTagName('*').length"
    # Warm up: the first updates allocate what every later one reuses.
    page.evaluate(_UPDATES, 50)
    quiet_nodes, first_heap = page.evaluate(nodes), _heap(cdp)
    page.evaluate(_UPDATES, 250)
    assert page.evaluate(nodes) == quiet_nodes  # figures change text, never add nodes
    with Session(engine) as session:  # a real alert: the list re-renders alone
        key = "door_forced:w001"
        session.add(
            Alert(
                venue_id="w001",
                kind="door_forced",
                severity="critical",
                dedupe_key=key,
                active_key=key,
                opened_at=datetime.now(UTC),
                last_seen_at=datetime.now(UTC),
                message_zh="门被强行打开",
                message_en="door forced",
            )
        )
        session.commit()
    expect(page.locator("[data-wall-alert]")).to_have_count(1)
    expect(page.locator('[data-fig="w001:alerts"]')).to_have_text("1")
    with_alert = page.evaluate(nodes)
    page.evaluate(_UPDATES, 250)
    grown = _heap(cdp) - first_heap
    assert page.evaluate(nodes) == with_alert
    # One alert row (its time and venue) in place of the "no alerts" line.
    assert with_alert == quiet_nodes + 2
    assert grown < 2_000_000, f"the heap grew {grown} bytes over 500 rounds of updates"
    page.set_viewport_size(ViewportSize(width=360, height=740))  # a manager's phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.context.close()


# Many rounds of new figures for every tile, as the live feed would bring them.
_UPDATES: Final = """(rounds) => {
  const ids = [...document.querySelectorAll('[data-tile]')].map((el) => el.dataset.tile);
  for (let n = 0; n < rounds; n++) {
    const figures = {};
    for (const id of ids) {
      const inside = (n * 7 + id.length) % 60;
      figures[`${id}:inside`] = inside; figures[`${id}:over`] = inside > 50;
      figures[`${id}:bar`] = inside > 50 ? "over" : ""; figures[`${id}:fill`] = inside * 2;
      figures[`${id}:today`] = n; figures[`${id}:visits`] = n; figures[`${id}:entries`] = 0;
      figures[`${id}:alerts_state`] = "muted";
    }
    window.yz.applyFigures(figures);
  }
}"""
