"""The notify API: my subscriptions (validated, masked, scoped), test sends that say what
happened, my deliveries, the inbox behind the bell, and a venue's escalation order."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cloud.api.app import create_app
from tests.cloud.notify.conftest import NOW, Site, site_settings
from tests.cloud.notify.fake_robots import DINGTALK_SECRET, WECOM_KEY, FakeRobots
from tests.cloud.notify.helpers import open_alert


def test_a_robot_subscription_is_stored_and_shown_masked(site: Site, robots: FakeRobots) -> None:
    made = site.call(
        "mia",
        "POST",
        "/notify/subscriptions",
        json={
            "venue_id": "v1",
            "channel": "wecom",
            "target": robots.wecom_url,
            "kinds": ["fridge_warm"],
        },
    )

    assert made.status_code == 201, made.text
    listed = site.call("mia", "GET", "/notify/subscriptions").json()
    assert listed["count"] == 1
    assert WECOM_KEY not in made.text + str(listed)
    assert re.search(r"key=693a…5aaa$", listed["data"][0]["target"])
    assert site.call("max", "GET", "/notify/subscriptions").json()["count"] == 0


def test_bad_addresses_and_other_venues_are_refused_with_what_to_do(site: Site) -> None:
    cases = [
        ({"channel": "wecom", "target": "https://evil.example/cgi-bin/webhook/send?key=k"}, 422),
        ({"channel": "wecom", "target": "http://127.0.0.1:9/cgi-bin/webhook/send"}, 422),
        ({"channel": "dingtalk", "target": "https://oapi.dingtalk.com/robot/send"}, 422),
        ({"channel": "sms", "target": "12345"}, 422),
        ({"channel": "email", "target": "not-an-address"}, 422),
        ({"channel": "wecom"}, 422),
        ({"channel": "sms", "target": "13800138000", "secret": "x"}, 422),
        ({"channel": "dashboard", "venue_id": "v2"}, 404),  # mia manages v1 only
    ]
    for body, status in cases:
        answer = site.call("mia", "POST", "/notify/subscriptions", json=body)
        assert answer.status_code == status, (body, answer.text)
        code = answer.json()["error"]["code"]
        assert code == ("invalid_subscription" if status == 422 else "venue_not_found"), body


def test_production_style_settings_refuse_a_loopback_robot(engine: Engine) -> None:
    app = create_app(settings=site_settings(loopback=False), engine=engine)
    with TestClient(app) as client:
        site = Site(client, engine)
        answer = site.call(
            "mia",
            "POST",
            "/notify/subscriptions",
            json={"channel": "wecom", "target": "http://127.0.0.1:9/cgi-bin/webhook/send?key=k"},
        )
        good = site.call(
            "mia",
            "POST",
            "/notify/subscriptions",
            json={
                "channel": "wecom",
                "target": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123",
            },
        )

    assert answer.status_code == 422
    assert "https" in answer.json()["error"]["message"]
    assert good.status_code == 201


def test_editing_keeps_the_address_and_secret_it_is_not_sent(
    site: Site, robots: FakeRobots
) -> None:
    body = {"channel": "dingtalk", "target": robots.dingtalk_url, "secret": DINGTALK_SECRET}
    made = site.call("mia", "POST", "/notify/subscriptions", json=body).json()

    changed = site.call(
        "mia",
        "PUT",
        f"/notify/subscriptions/{made['id']}",
        json={"channel": "dingtalk", "escalate_after_min": 20},
    )
    tested = site.call("mia", "POST", f"/notify/subscriptions/{made['id']}/test")

    assert changed.status_code == 200, changed.text
    assert changed.json()["escalate_after_min"] == 20
    assert changed.json()["has_secret"] is True
    assert tested.json()["status"] == "sent", tested.text  # the kept secret still signs
    assert "测试消息" in robots.of("dingtalk")[0].text
    assert (
        site.call("max", "PUT", f"/notify/subscriptions/{made['id']}", json=body).status_code == 404
    )


def test_a_test_send_reports_the_robots_refusal(site: Site, robots: FakeRobots) -> None:
    made = site.call(
        "tom",
        "POST",
        "/notify/subscriptions",
        json={"channel": "wecom", "target": robots.wecom_url},
    ).json()
    robots.refuse["wecom"] = (200, {"errcode": 93000, "errmsg": "invalid webhook url"})

    tested = site.call("tom", "POST", f"/notify/subscriptions/{made['id']}/test").json()
    listed = site.call("tom", "GET", "/notify/deliveries").json()

    assert tested["status"] == "gave_up"
    assert "93000" in tested["last_error"]
    assert [d["status"] for d in listed["data"]] == ["gave_up"]
    assert site.call("tom", "DELETE", f"/notify/subscriptions/{made['id']}").status_code == 204
    assert site.call("tom", "GET", "/notify/subscriptions").json()["count"] == 0


def test_the_inbox_counts_unresolved_alerts_in_the_callers_venues(site: Site) -> None:
    site.call("mia", "POST", "/notify/subscriptions", json={"channel": "dashboard"})
    alert_id = open_alert(site.engine, NOW)

    mine = site.call("mia", "GET", "/notify/inbox").json()
    theirs = site.call("max", "GET", "/notify/inbox").json()

    assert (mine["open"], [i["id"] for i in mine["items"]], mine["notify"]) == (
        1,
        [alert_id],
        [alert_id],
    )
    assert (theirs["open"], theirs["items"]) == (0, [])
    acked = site.call("mia", "POST", f"/alerts/{alert_id}/ack", json={"note": "door was ajar"})
    assert acked.json()["ack_note"] == "door was ajar"
    after = site.call("mia", "GET", "/notify/inbox").json()
    assert (after["open"], after["notify"]) == (1, [])  # acknowledged: counted, no popup


def test_the_escalation_order_is_a_venue_leads_and_scoped(site: Site) -> None:
    site.call(
        "ada",
        "POST",
        "/notify/subscriptions",
        json={"channel": "dashboard", "escalate_after_min": 45},
    )
    site.call(
        "mia",
        "POST",
        "/notify/subscriptions",
        json={"channel": "sms", "target": "13800138000", "escalate_after_min": 15},
    )
    site.call(
        "max",
        "POST",
        "/notify/subscriptions",
        json={"channel": "dashboard", "escalate_after_min": 5},
    )

    order = site.call("mia", "GET", "/notify/venues/v1/escalation").json()

    assert [(s["username"], s["escalate_after_min"]) for s in order["data"]] == [
        ("mia", 15),
        ("ada", 45),
    ]
    assert order["data"][0]["target"] == "138****8000"
    assert site.call("mia", "GET", "/notify/venues/v2/escalation").status_code == 404
    assert site.call("tom", "GET", "/notify/venues/v1/escalation").status_code == 403
