"""The kiosk page: zh-CN and en, and a touch that posts the selection."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from edge.kiosk.journal import State
from edge.kiosk.screen import ScreenServer
from firmware_sim.kiosk import Touch

from .conftest import Kiosk


@pytest.fixture
def server(kiosk: Kiosk) -> Iterator[ScreenServer]:
    screen = ScreenServer(kiosk.controller, port=0)
    screen.start()
    yield screen
    screen.close()


def test_the_page_shows_balance_and_items_in_both_languages(
    kiosk: Kiosk, server: ScreenServer
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        idle = http.get("/")
        assert "请扫描会员码" in idle.text
        kiosk.controller.present(kiosk.code("M1"))
        zh = http.get("/", params={"lang": "zh"}).text
        en = http.get("/", params={"lang": "en"}).text
    assert 'lang="zh-CN"' in zh
    assert "积分余额: 100" in zh
    assert "矿泉水 · 30 积分" in zh
    assert "已售完" in zh
    assert 'lang="en"' in en
    assert "Balance: 100" in en
    assert "Water · 30 points" in en
    assert 'value="A1"' in en


def test_a_form_touch_redeems_and_returns_to_the_page(kiosk: Kiosk, server: ScreenServer) -> None:
    kiosk.controller.present(kiosk.code("M1"))
    with httpx.Client(base_url=server.url, timeout=10) as http:
        answer = http.post("/select", data={"slot": "A1", "lang": "en"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/?lang=en"
        page = http.get("/?lang=en").text
    assert "Done, please take your item" in page
    assert kiosk.cloud.balances["M1"] == 70


def test_the_simulated_finger_touches_through_the_json_api(
    kiosk: Kiosk, server: ScreenServer
) -> None:
    kiosk.controller.present(kiosk.code("M1"))
    answer = Touch(url=server.url).press("A1")
    assert isinstance(answer, dict)
    assert answer["state"] == str(State.COMMITTED)
    assert answer["notice"]["code"] == "take_item"
    direct = Touch(select=kiosk.controller.select).press("A1")
    assert getattr(direct, "notice").code == "no_session"  # noqa: B009


def test_bad_requests_get_a_clear_answer(server: ScreenServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.post("/select", json={"nope": 1}).status_code == 400
        assert http.post("/select", content=b"").status_code == 400
        assert http.get("/admin").status_code == 404
        assert http.get("/state").json()["notice"]["code"] == "scan"
