"""Security review: where a subscription may make the cloud POST, and what it shows back."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from cloud.auth.settings import AuthSettings
from cloud.devices.settings import BrokerSettings
from cloud.notify.errors import TargetError
from cloud.notify.models import Channel
from cloud.notify.settings import NotifySettings
from cloud.notify.targets import check_target
from cloud.settings import CloudSettings
from tests.cloud.notify.conftest import PASSWORD, Site
from tests.cloud.web.helpers import sign_in

KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
INTERNAL = [
    "http://127.0.0.1:5432/cgi-bin/webhook/send?key=k",
    "https://169.254.169.254/cgi-bin/webhook/send?key=k",
    "https://db.internal/cgi-bin/webhook/send?key=k",
    "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
    "https://127.0.0.1\\@qyapi.weixin.qq.com.evil/cgi-bin/webhook/send?key=k",
    "https://qyapi.weixin.qq.com@127.0.0.1/cgi-bin/webhook/send?key=k",
]


@pytest.mark.parametrize("url", INTERNAL)
def test_a_robot_url_cannot_point_inside_by_default(url: str) -> None:
    with pytest.raises(TargetError):
        check_target(Channel.WECOM, url, allow_loopback=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://qyapi.weixin.qq.com:5432/cgi-bin/webhook/send?key=k",
        "https://user:pw@qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
    ],
)
def test_a_robot_url_names_no_port_nor_credentials(url: str) -> None:
    with pytest.raises(TargetError):
        check_target(Channel.WECOM, url, allow_loopback=False)


def test_production_refuses_loopback_robots() -> None:
    with pytest.raises(ValidationError, match="allow_loopback_robots"):
        CloudSettings(
            mode="production",
            auth=AuthSettings(jwt_secret=SecretStr("Zr8-qT3vLx9_Np2Wm6Ks4Hd7Bf1Gy5Jc0")),
            broker=BrokerSettings(
                security="dynsec", control_password=SecretStr("k3J9-x2Qm_Pz7Lw4Vn8Rt1Yb6Hc5Fd0Gs")
            ),
            notify=NotifySettings(
                allow_loopback_robots=True, link_base_url="https://dash.union.example.cn"
            ),
        )


def test_a_robot_key_and_secret_are_never_shown_back(site: Site) -> None:
    created = site.call(
        "mia",
        "POST",
        "/notify/subscriptions",
        json={
            "venue_id": "v1",
            "channel": "dingtalk",
            "target": f"https://oapi.dingtalk.com/robot/send?access_token={KEY}",
            "secret": "SECabcdef0123456789abcdef0123456789",
        },
    )
    listed = site.call("mia", "GET", "/notify/subscriptions")
    escalation = site.call("ada", "GET", "/notify/venues/v1/escalation")
    sign_in(site.client, "mia", password=PASSWORD)
    page = site.client.get("/notifications")

    assert created.status_code == 201, created.text
    assert page.status_code == 200
    assert "oapi.dingtalk.com" in page.text
    for text in (created.text, listed.text, escalation.text, page.text):
        assert KEY not in text
        assert "0123456789abcdef" not in text


def test_a_manager_subscribes_to_no_other_venue(site: Site) -> None:
    answer = site.call(
        "mia", "POST", "/notify/subscriptions", json={"venue_id": "v2", "channel": "dashboard"}
    )
    order = site.call("mia", "GET", "/notify/venues/v2/escalation")

    assert answer.status_code == 404
    assert order.status_code == 404
