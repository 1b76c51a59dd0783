"""SMS notices through the Aliyun and Tencent senders (against the signature-checking fake
providers of tests/cloud/sms, taught the notice template) and e-mail over SMTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from cloud.notify.delivery import DeliveryJob
from cloud.notify.mail import SmtpConfig
from cloud.notify.services import NotifyServices
from cloud.sms.aliyun import AliyunConfig, AliyunSender
from cloud.sms.sender import DevSender, NoticeSender
from cloud.sms.tencent import TencentConfig, TencentSender
from tests.cloud.notify.conftest import LINK_KEY
from tests.cloud.notify.fake_smtp import FakeSmtp
from tests.cloud.notify.helpers import deliveries, open_alert, subscribe, wall_now
from tests.cloud.sms.conftest import KEY_ID, SECRET, SIGN_NAME
from tests.cloud.sms.fake_aliyun import FakeAliyun, _json
from tests.cloud.sms.fake_tencent import FakeTencent

PHONE = "13800138000"
NOTICE_VARIABLES = {"venue", "alert", "link"}


class NoticeAliyun(FakeAliyun):
    """Aliyun with an approved notice template: ${venue} ${alert} ${link}."""

    def _send(self, params: dict[str, str]) -> tuple[int, bytes]:
        template = json.loads(params["TemplateParam"])
        if params["TemplateCode"] != "SMS_NOTICE" or set(template) != NOTICE_VARIABLES:
            return _json(200, Code="isv.TEMPLATE_MISSING_PARAMETERS", Message="模板缺少变量")
        if self.refusal is not None:
            code, message = self.refusal
            return _json(200, Code=code, Message=message)
        self.sent.append((params["PhoneNumbers"], json.dumps(template, ensure_ascii=False)))
        return _json(200, Code="OK", Message="OK", BizId="900619746936498440^0")


class NoticeTencent(FakeTencent):
    """Tencent with an approved notice template {1} {2} {3}."""

    def _send(self, payload: dict[str, object]) -> tuple[int, bytes]:
        params, phones = payload.get("TemplateParamSet"), payload.get("PhoneNumberSet")
        notice = payload.get("TemplateId") == "777001" and isinstance(params, list)
        if not notice or not isinstance(params, list) or len(params) != 3:
            return super()._send(payload)  # its own refusal of a wrong parameter set
        assert isinstance(phones, list)
        phone = str(phones[0])
        if self.refusal is not None:
            return self._status(phone, *self.refusal)
        self.sent.append((phone, "|".join(map(str, params))))
        return self._status(phone, "Ok", "send success")


@pytest.fixture(params=["aliyun", "tencent"])
def sms(request: pytest.FixtureRequest) -> Iterator[tuple[FakeAliyun | FakeTencent, NoticeSender]]:
    if request.param == "aliyun":
        fake: FakeAliyun | FakeTencent = NoticeAliyun(keys={KEY_ID: SECRET}, now=time.time)
        sender: NoticeSender = AliyunSender(
            AliyunConfig(
                access_key_id=KEY_ID,
                access_key_secret=SECRET,
                sign_name=SIGN_NAME,
                template_code="SMS_154950909",
                notice_template_code="SMS_NOTICE",
                endpoint=fake.endpoint,
                timeout_s=2.0,
            )
        )
    else:
        fake = NoticeTencent(keys={KEY_ID: SECRET}, now=time.time)
        sender = TencentSender(
            TencentConfig(
                secret_id=KEY_ID,
                secret_key=SECRET,
                sdk_app_id="1400006666",
                sign_name=SIGN_NAME,
                template_id="449739",
                notice_template_id="777001",
                endpoint=fake.endpoint,
                timeout_s=2.0,
            )
        )
    yield fake, sender
    fake.close()


def test_an_alert_reaches_a_phone_through_the_providers_notice_template(
    engine: Engine, sms: tuple[FakeAliyun | FakeTencent, NoticeSender]
) -> None:
    fake, sender = sms
    services = NotifyServices(link_base_url="https://d.example", link_key=LINK_KEY, sms=sender)
    subscribe(engine, "mia", "sms", target=PHONE)
    now = wall_now()
    open_alert(engine, now)

    DeliveryJob(services).run(engine, now)

    [(phone, values)] = fake.sent
    assert phone.removeprefix("+86") == PHONE
    assert "徐汇骑手驿站" in values
    assert "冰箱温度过高" in values
    assert "https://d.example" in values
    assert [d.status for d in deliveries(engine)] == ["sent"]


def test_a_provider_refusal_is_the_deliverys_error(
    engine: Engine, sms: tuple[FakeAliyun | FakeTencent, NoticeSender]
) -> None:
    fake, sender = sms
    fake.refusal = ("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控")
    if isinstance(fake, FakeTencent):
        fake.refusal = ("LimitExceeded.PhoneNumberDailyLimit", "daily limit")
    services = NotifyServices(link_base_url="https://d.example", link_key=LINK_KEY, sms=sender)
    subscribe(engine, "mia", "sms", target=PHONE)
    now = wall_now()
    open_alert(engine, now)

    DeliveryJob(services).run(engine, now)

    [delivery] = deliveries(engine)
    assert delivery.status == "failed"
    assert "refused" in (delivery.last_error or "")


def test_the_development_sender_only_remembers_the_notice(engine: Engine) -> None:
    dev = DevSender()
    services = NotifyServices(link_base_url="https://d.example", link_key=LINK_KEY, sms=dev)
    subscribe(engine, "tom", "sms", target=PHONE)
    now = wall_now()
    open_alert(engine, now)

    DeliveryJob(services).run(engine, now)

    [(phone, notice)] = dev.notices
    assert (phone, notice.venue) == (PHONE, "徐汇骑手驿站")


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    server = FakeSmtp()
    yield server
    server.close()


def test_an_alert_is_mailed_with_its_link(engine: Engine, smtp: FakeSmtp) -> None:
    config = SmtpConfig("127.0.0.1", smtp.port, "alerts@union.example.cn", starttls=False)
    services = NotifyServices(link_base_url="https://d.example", link_key=LINK_KEY, smtp=config)
    subscribe(engine, "ada", "email", target="duty@union.example.cn")
    now = wall_now()
    open_alert(engine, now)

    DeliveryJob(services).run(engine, now)

    [mail] = smtp.received
    assert (mail.sender, mail.recipients) == ("alerts@union.example.cn", ["duty@union.example.cn"])
    assert "冰箱温度过高" in str(mail.message["Subject"])
    body = mail.message.get_content()
    assert "https://d.example/n/ack/" in body
    assert deliveries(engine)[0].status == "sent"


def test_a_server_without_starttls_is_refused_when_starttls_is_on(
    engine: Engine, smtp: FakeSmtp
) -> None:
    config = SmtpConfig("127.0.0.1", smtp.port, "alerts@union.example.cn", starttls=True)
    services = NotifyServices(link_base_url="https://d.example", link_key=LINK_KEY, smtp=config)
    subscribe(engine, "ada", "email", target="duty@union.example.cn")
    now = wall_now()
    open_alert(engine, now)

    DeliveryJob(services).run(engine, now)

    [delivery] = deliveries(engine)
    assert delivery.status == "failed"
    assert "STARTTLS" in (delivery.last_error or "")
    assert smtp.received == []
