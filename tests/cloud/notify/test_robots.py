"""Each robot gets its documented body and signature, and its error answers become a failed
delivery that is tried again later. The robots check timestamps against the wall clock, so
these sends use it too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from cloud.notify.delivery import DeliveryJob
from cloud.notify.links import read_token
from cloud.notify.services import NotifyServices
from tests.cloud.notify.conftest import LINK_KEY
from tests.cloud.notify.fake_robots import DINGTALK_SECRET, FEISHU_SECRET, FakeRobots
from tests.cloud.notify.helpers import deliveries, open_alert, subscribe, wall_now


def _subscribe_robot(engine: Engine, robots: FakeRobots, robot: str) -> None:
    if robot == "wecom":
        subscribe(engine, "mia", "wecom", venue_id="v1", target=robots.wecom_url)
    elif robot == "dingtalk":
        subscribe(engine, "mia", "dingtalk", target=robots.dingtalk_url, secret=DINGTALK_SECRET)
    else:
        subscribe(engine, "mia", "feishu", target=robots.feishu_url, secret=FEISHU_SECRET)


@pytest.mark.parametrize("robot", ["wecom", "dingtalk", "feishu"])
def test_an_opened_alert_reaches_the_robot_signed_with_its_ack_link(
    engine: Engine, robots: FakeRobots, services: NotifyServices, robot: str
) -> None:
    _subscribe_robot(engine, robots, robot)
    now = wall_now()
    alert_id = open_alert(engine, now)

    result = DeliveryJob(services).run(engine, now)

    [received] = robots.of(robot)
    assert "冰箱温度过高" in received.text
    assert "徐汇骑手驿站" in received.text
    [delivery] = deliveries(engine)
    assert result.sent == [delivery.id]
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, None)
    assert delivery.link is not None
    assert delivery.link in received.text
    token = delivery.link.rsplit("/", 1)[1]
    link = read_token(LINK_KEY, token, now=now)
    assert (link.alert_id, link.username) == (alert_id, "mia")


@pytest.mark.parametrize(
    ("robot", "answer", "said"),
    [
        ("wecom", {"errcode": 45009, "errmsg": "api freq out of limit"}, "45009"),
        ("dingtalk", {"errcode": 410100, "errmsg": "send too fast"}, "410100"),
        ("feishu", {"code": 11232, "msg": "frequency limited"}, "11232"),
    ],
)
def test_a_robots_refusal_fails_the_delivery_and_it_is_sent_on_a_later_try(
    engine: Engine,
    robots: FakeRobots,
    services: NotifyServices,
    robot: str,
    answer: dict[str, object],
    said: str,
) -> None:
    _subscribe_robot(engine, robots, robot)
    now = wall_now()
    open_alert(engine, now)
    robots.refuse[robot] = (200, answer)

    first = DeliveryJob(services).run(engine, now)

    [delivery] = deliveries(engine)
    assert first.failed == [delivery.id]
    assert delivery.status == "failed"
    assert delivery.attempts == 1
    assert delivery.last_error is not None
    assert said in delivery.last_error
    assert delivery.next_attempt_at is not None
    retry_at = delivery.next_attempt_at
    assert DeliveryJob(services).run(engine, now + timedelta(seconds=1)).failed == []  # not due

    del robots.refuse[robot]
    DeliveryJob(services).run(engine, retry_at.replace(tzinfo=now.tzinfo) + timedelta(seconds=1))

    [delivery] = deliveries(engine)
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert len(robots.of(robot)) == 1


def test_a_wrong_signing_secret_is_refused_by_the_robot(
    engine: Engine, robots: FakeRobots, services: NotifyServices
) -> None:
    subscribe(engine, "mia", "dingtalk", target=robots.dingtalk_url, secret="SECnot-the-secret")
    subscribe(engine, "mia", "feishu", target=robots.feishu_url, secret="not-the-secret")
    now = wall_now()
    open_alert(engine, now)

    DeliveryJob(services).run(engine, now)

    errors = sorted(d.last_error or "" for d in deliveries(engine))
    assert "sign not match" in errors[0]
    assert "sign match fail" in errors[1]
    assert robots.received == []


def test_a_stale_dingtalk_timestamp_is_refused(
    engine: Engine, robots: FakeRobots, services: NotifyServices
) -> None:
    subscribe(engine, "mia", "dingtalk", target=robots.dingtalk_url, secret=DINGTALK_SECRET)
    now = wall_now() - timedelta(hours=2)  # our clock two hours behind the robot's
    open_alert(engine, now)

    DeliveryJob(services).run(engine, now)

    [delivery] = deliveries(engine)
    assert delivery.status == "failed"
    assert "within one hour" in (delivery.last_error or "")
