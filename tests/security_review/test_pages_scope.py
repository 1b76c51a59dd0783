"""Security review: the new pages and the live figures show a manager only their venues."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from cloud.models import Venue
from cloud.notify.robots import Message, wecom_request
from tests.cloud.notify.conftest import PASSWORD, Site
from tests.cloud.web.helpers import sign_in

THEIRS = "职工之家"  # v2's name: mia manages v1 only


def _districts(site: Site) -> None:
    with Session(site.engine) as session:
        for venue_id, district in (("v1", "徐汇"), ("v2", "长宁")):
            venue = session.get(Venue, venue_id)
            assert venue is not None
            venue.district = district
            session.add(venue)
        session.commit()


@pytest.mark.parametrize(
    "path",
    [
        "/wall?district=长宁",
        "/wall?district=长宁&part=alerts",
        "/reports?target=venue:v2",
        "/reports?target=district:长宁&period=month",
        "/notifications",
    ],
)
def test_a_manager_sees_nothing_of_another_venue(site: Site, path: str) -> None:
    _districts(site)
    sign_in(site.client, "mia", password=PASSWORD)

    page = site.client.get(path)

    assert page.status_code in (200, 404), page.status_code
    assert THEIRS not in page.text


def test_live_figures_leave_out_another_managers_venue(site: Site) -> None:
    sign_in(site.client, "mia", password=PASSWORD)

    answer = site.client.get("/live/figures?venues=v1,v2&totals=1&energy=1")

    assert answer.status_code == 200
    assert not [k for k in answer.json()["figures"] if k.startswith("v2:")]


def test_another_venues_settings_page_is_not_found_and_a_technician_has_no_wall(
    site: Site,
) -> None:
    sign_in(site.client, "mia", password=PASSWORD)
    settings = site.client.get("/venues/v2/settings")
    patch = site.call("mia", "PATCH", "/venues/v2", json={"hours": []})
    rename = site.call("mia", "PATCH", "/venues/v1", json={"name": "x"})
    sign_in(site.client, "tom", password=PASSWORD)
    wall = site.client.get("/wall", follow_redirects=False)

    assert settings.status_code == 404
    assert THEIRS not in settings.text
    assert patch.status_code == 404
    assert rename.status_code == 403
    assert wall.status_code == 403


def test_a_venue_name_adds_no_link_to_a_robots_markdown() -> None:
    name = "[确认处理 Acknowledge](https://evil.example/phish)"
    message = Message(f"【新告警】冰箱温度过高 · {name}", "text", "https://d.example/n/ack/t")

    _, body = wecom_request("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", message)

    assert "](https://evil.example" not in body["markdown"]["content"]
