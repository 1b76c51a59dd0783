"""The notifications page and the acknowledge page a message's link opens: sign-in first,
the link checked, scope checked, the note kept with the alert."""

from __future__ import annotations

from sqlmodel import Session

from cloud.alerts.models import Alert
from cloud.core.time import utc_now
from cloud.notify.links import derive_key, make_token
from tests.cloud.notify.conftest import JWT_SECRET, NOW, PASSWORD, Site
from tests.cloud.notify.fake_robots import WECOM_KEY, FakeRobots
from tests.cloud.notify.helpers import open_alert, subscribe
from tests.cloud.web.helpers import csrf_of, sign_in


def _link(alert_id: int, username: str = "mia") -> str:
    key = derive_key(JWT_SECRET.encode())
    token = make_token(key, alert_id=alert_id, username=username, now=utc_now(), hours=1)
    return f"/n/ack/{token}"


def test_the_link_asks_for_sign_in_and_comes_back(site: Site) -> None:
    path = _link(open_alert(site.engine, NOW))

    answer = site.client.get(path, follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=/n/ack/")


def test_a_changed_link_is_refused_and_another_venues_manager_sees_nothing(site: Site) -> None:
    path = _link(open_alert(site.engine, NOW))
    payload, signature = path.removeprefix("/n/ack/").split(".")
    forged = f"/n/ack/{payload[:-2]}AA.{signature}"

    sign_in(site.client, "max", password=PASSWORD)
    theirs = site.client.get(path)
    sign_in(site.client, "mia", password=PASSWORD)
    changed = site.client.get(forged)

    assert theirs.status_code == 404
    assert "不在您负责的阵地" in theirs.text
    assert "冰箱" not in theirs.text
    assert changed.status_code == 400
    assert "链接无效" in changed.text


def test_the_manager_acknowledges_from_the_link_with_a_note(site: Site) -> None:
    alert_id = open_alert(site.engine, NOW)
    sign_in(site.client, "mia", password=PASSWORD)

    page = site.client.get(_link(alert_id))
    ack = site.client.post(
        f"/api/v1/alerts/{alert_id}/ack",
        json={"note": "冰箱门没关好，已关上"},
        headers={"X-CSRF-Token": csrf_of(page.text)},
    )
    after = site.client.get(_link(alert_id))

    assert page.status_code == 200
    assert "冰箱温度过高" in page.text
    assert 'data-ack-action="/api/v1/alerts/' in page.text
    assert ack.status_code == 200, ack.text
    with Session(site.engine) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        assert (alert.status, alert.acknowledged_by, alert.ack_note) == (
            "acknowledged",
            "mia",
            "冰箱门没关好，已关上",
        )
    assert "冰箱门没关好，已关上" in after.text


def test_the_notifications_page_shows_subscriptions_masked_and_the_escalation_order(
    site: Site, robots: FakeRobots
) -> None:
    subscribe(site.engine, "mia", "wecom", venue_id="v1", target=robots.wecom_url)
    subscribe(site.engine, "ada", "dashboard", escalate_after_min=30)
    sign_in(site.client, "mia", password=PASSWORD)

    page = site.client.get("/notifications")
    site.client.cookies.set("yz_lang", "en")
    english = site.client.get("/notifications")

    assert page.status_code == 200
    assert "企业微信群机器人" in page.text
    assert WECOM_KEY not in page.text
    assert 'data-escalation-venue="v1"' in page.text
    assert "30 分钟无人确认后" in page.text
    assert "WeChat Work robot" in english.text
    assert 'class="cards"' in page.text
