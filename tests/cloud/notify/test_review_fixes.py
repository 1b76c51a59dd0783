"""The security review's notify findings, past what tests/security_review asserts: a bug in
one channel or one report stops nothing else, test sends are limited per subscription too,
production refuses the unsafe notify settings, each robot shows a name as plain text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.auth import store
from cloud.auth.settings import AuthSettings
from cloud.devices.settings import BrokerSettings
from cloud.notify.delivery import DeliveryJob
from cloud.notify.errors import TargetError
from cloud.notify.limits import TestSendLimit
from cloud.notify.models import Channel, Subscription
from cloud.notify.robots import Message, dingtalk_request, feishu_request, wecom_request
from cloud.notify.services import NotifyServices
from cloud.notify.settings import NotifySettings
from cloud.notify.targets import check_target
from cloud.reports.mail import Attachment, ReportMailError, send_report_mail
from cloud.reports.models import ReportSubscription
from cloud.reports.schedule import send_due
from cloud.settings import CloudSettings
from cloud.sms.sender import DevSender
from cloud.web.i18n import API_ERRORS
from tests.cloud.notify.conftest import LINK_KEY, Site
from tests.cloud.notify.fake_smtp import FakeSmtp
from tests.cloud.notify.helpers import deliveries, open_alert, subscribe, wall_now
from tests.cloud.reports.conftest import sqlite_engine  # noqa: F401  (the reports' world)
from tests.cloud.reports.world import RIDERS


class BrokenFor(NotifyServices):
    """Sends fine, except that a bug fires for one person's messages."""

    def send(self, sub: Subscription, message: Message, *, now: datetime) -> None:
        if sub.username == "ada":
            raise RuntimeError("a bug in a channel")
        super().send(sub, message, now=now)


def test_an_unexpected_error_fails_that_delivery_and_the_others_go(engine: Engine) -> None:
    services = BrokenFor(link_base_url="https://d.example", link_key=LINK_KEY, sms=DevSender())
    subscribe(engine, "ada", "sms", target="13800138000")
    subscribe(engine, "mia", "sms", target="13800138001", venue_id="v1")
    now = wall_now()
    open_alert(engine, now)

    result = DeliveryJob(services).run(engine, now)

    by_user = {d.username: d for d in deliveries(engine)}
    assert by_user["ada"].status == "failed"
    assert "RuntimeError: a bug in a channel" in (by_user["ada"].last_error or "")
    assert by_user["ada"].next_attempt_at is not None  # tried again later, with backoff
    assert by_user["mia"].status == "sent"
    assert result.failed == [by_user["ada"].id]
    assert result.sent == [by_user["mia"].id]


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    server = FakeSmtp()
    yield server
    server.close()


def test_a_report_whose_subject_breaks_a_line_is_a_report_mail_error(smtp: FakeSmtp) -> None:
    settings = NotifySettings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False)
    file = Attachment("r.xlsx", b"PK", "application", "octet-stream")

    with pytest.raises(ReportMailError, match="line break"):
        send_report_mail(
            settings, to="a@union.example.cn", subject="驿站\nBcc: x@evil.example", body="b",
            attachment=file,
        )  # fmt: skip
    send_report_mail(settings, to="a@union.example.cn", subject="驿站", body="b", attachment=file)

    [mail] = smtp.received
    assert [a.get_filename() for a in mail.message.iter_attachments()] == ["r.xlsx"]


def test_one_failing_report_does_not_stop_the_others(sqlite_engine: Engine) -> None:  # noqa: F811
    new_year = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    with Session(sqlite_engine) as session:
        mia = store.get_user_by_username(session=session, username="mia")
        assert mia is not None
        assert mia.id is not None
        for email in ("first@union.example.cn", "second@union.example.cn"):
            session.add(
                ReportSubscription(
                    user_id=mia.id, scope="venue", target=RIDERS, period="day", email=email,
                    created_at=datetime(2026, 12, 1, tzinfo=UTC),
                )
            )  # fmt: skip
        session.commit()
    mailed: list[str] = []

    def mail(to: str, subject: str, body: str, attachment: Attachment) -> None:
        if to.startswith("first"):
            raise RuntimeError("a bug while mailing")
        mailed.append(to)

    outcomes = send_due(sqlite_engine, now=new_year, mail=mail)

    assert [o.status for o in outcomes] == ["failed", "sent"]
    assert "RuntimeError" in (outcomes[0].error or "")
    assert mailed == ["second@union.example.cn"]
    retried = send_due(sqlite_engine, now=new_year, mail=lambda *_: None)
    assert [o.status for o in retried] == ["sent", "skipped"]  # its claim was dropped


def test_test_sends_are_limited_per_subscription_then_per_person(site: Site) -> None:
    ids = [
        site.call(
            "mia", "POST", "/notify/subscriptions", json={"venue_id": "v1", "channel": "dashboard"}
        ).json()["id"]
        for _ in range(2)
    ]

    first = [site.call("mia", "POST", f"/notify/subscriptions/{ids[0]}/test") for _ in range(4)]
    second = [site.call("mia", "POST", f"/notify/subscriptions/{ids[1]}/test") for _ in range(3)]

    assert [r.status_code for r in first] == [200, 200, 200, 429]
    assert [r.status_code for r in second] == [200, 200, 429]  # five for the person
    refused = second[-1]
    assert refused.json()["error"]["code"] == "too_many_test_sends"
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    assert "api.too_many_test_sends" in API_ERRORS
    other = site.call(
        "ada", "POST", "/notify/subscriptions", json={"venue_id": "v1", "channel": "dashboard"}
    )
    assert site.call("ada", "POST", f"/notify/subscriptions/{other.json()['id']}/test").is_success


def test_the_test_send_limit_frees_up_after_its_window() -> None:
    clock = [0.0]
    limit = TestSendLimit(per_user=2, per_subscription=2, window_s=600, monotonic=lambda: clock[0])

    assert [limit.take("mia", 1) for _ in range(2)] == [None, None]
    assert limit.take("mia", 1) == 600
    clock[0] = 599.5
    assert limit.take("mia", 2) == 1
    clock[0] = 600.0
    assert limit.take("mia", 2) is None


def _production(notify: NotifySettings) -> CloudSettings:
    return CloudSettings(
        mode="production",
        auth=AuthSettings(jwt_secret=SecretStr("Zr8-qT3vLx9_Np2Wm6Ks4Hd7Bf1Gy5Jc0")),
        broker=BrokerSettings(
            security="dynsec", control_password=SecretStr("k3J9-x2Qm_Pz7Lw4Vn8Rt1Yb6Hc5Fd0Gs")
        ),
        notify=notify,
    )


HTTPS = "https://dash.union.example.cn"


@pytest.mark.parametrize(
    ("notify", "said"),
    [
        (NotifySettings(link_base_url="http://dash.union.example.cn"), "LINK_BASE_URL"),
        (
            NotifySettings(
                link_base_url=HTTPS, smtp_host="smtp.exmail.qq.com", smtp_user="a",
                smtp_password=SecretStr("p"), smtp_starttls=False,
            ),
            "SMTP_STARTTLS",
        ),
    ],
)  # fmt: skip
def test_production_refuses_clear_links_and_clear_mail_logins(
    notify: NotifySettings, said: str
) -> None:
    with pytest.raises(ValidationError, match=said):
        _production(notify)


def test_production_takes_https_links_and_a_local_relay_without_starttls() -> None:
    _production(NotifySettings(link_base_url=HTTPS))
    _production(NotifySettings())  # the default link is this machine: nothing in clear
    relay = NotifySettings(
        link_base_url=HTTPS, smtp_host="127.0.0.1", smtp_user="a", smtp_password=SecretStr("p"),
        smtp_starttls=False,
    )  # fmt: skip
    _production(relay)


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pw@127.0.0.1:8080/cgi-bin/webhook/send?key=k",
        "https://qyapi.weixin.qq.com:443/cgi-bin/webhook/send?key=k",
        "https://qyapi.weixin.qq.com:x/cgi-bin/webhook/send?key=k",
    ],
)
def test_a_robot_url_takes_a_port_only_on_loopback_and_credentials_never(url: str) -> None:
    with pytest.raises(TargetError, match="no port"):
        check_target(Channel.WECOM, url, allow_loopback=True)


def test_a_loopback_robot_keeps_its_port_when_allowed() -> None:
    url = "http://127.0.0.1:8080/cgi-bin/webhook/send?key=k"
    assert check_target(Channel.WECOM, url, allow_loopback=True) == url


@pytest.mark.parametrize(
    "address", ["duty@union.example.cn", "duty.manager+alerts@mail.union-xh.example.cn"]
)
def test_a_plain_address_is_taken(address: str) -> None:
    assert check_target(Channel.EMAIL, address, allow_loopback=False) == address


@pytest.mark.parametrize(
    "address",
    ['"a b"@union.example.cn', "a@b@union.example.cn", "duty@union.example.cn>", "a;b@x.cn"],
)
def test_anything_but_one_plain_address_is_refused(address: str) -> None:
    with pytest.raises(TargetError, match="one plain e-mail address"):
        check_target(Channel.EMAIL, address, allow_loopback=False)


def test_a_report_subscription_takes_one_plain_address(site: Site) -> None:
    answer = site.call(
        "mia",
        "POST",
        "/reports/subscriptions",
        json={"scope": "venue", "target": "v1", "period": "day", "email": "root,mia@x.example.cn"},
    )
    assert answer.status_code == 422, answer.text


NAME = '[确认](https://evil.example) <at user_id="all"></at> <font color="warning">'
EVIL = Message(
    f"【新告警】冰箱温度过高 · {NAME}\n# 标题", "**x** `y` > z", "https://d.example/n/ack/t"
)


def test_dingtalk_shows_a_name_as_text() -> None:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    _, body = dingtalk_request("https://oapi.dingtalk.com/robot/send?access_token=k", None, EVIL,
                               now=now)  # fmt: skip
    text, title = body["markdown"]["text"], body["markdown"]["title"]

    assert "](https://evil" not in text
    assert "<font" not in text
    assert "\n#" not in text
    assert "**x**" not in text
    assert "[确认处理 Acknowledge](https://d.example/n/ack/t)" in text  # ours still links
    assert "\n" not in title
    assert "［确认］" in text  # readable, not dropped


def test_wecom_title_is_one_bold_line() -> None:
    _, body = wecom_request("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", EVIL)
    first = body["markdown"]["content"].split("\n")[0]

    assert first.startswith("**【新告警】")
    assert first.endswith("＃ 标题**")


def test_feishu_text_mentions_nobody() -> None:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    _, body = feishu_request("https://open.feishu.cn/open-apis/bot/v2/hook/abcdefgh", None, EVIL,
                             now=now)  # fmt: skip

    assert "<at" not in body["content"]["text"]
    assert "https://d.example/n/ack/t" in body["content"]["text"]
