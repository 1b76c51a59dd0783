"""What sending needs, built once from settings by each composition root: the channels'
configuration, the link key, and the injected network and clock for tests."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from fastapi import Request

from cloud.notify.errors import ChannelError
from cloud.notify.limits import TestSendLimit
from cloud.notify.links import DEVELOPMENT_KEY, derive_key, make_token
from cloud.notify.mail import SmtpConfig, send_email
from cloud.notify.models import Channel, Subscription
from cloud.notify.robots import (
    Message,
    dingtalk_request,
    feishu_request,
    post,
    wecom_request,
)
from cloud.notify.text import title_parts
from cloud.settings import CloudSettings
from cloud.sms.aliyun import AliyunSender
from cloud.sms.sender import DevSender, Notice, NoticeSender, SmsError
from cloud.sms.settings import aliyun_config, production_weakness, tencent_config
from cloud.sms.tencent import TencentSender

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Retry:
    backoff_base_s: float = 30.0
    backoff_max_s: float = 1800.0
    max_attempts: int = 8
    # A message this late is noise: the alert page says more than it would.
    max_age: timedelta = timedelta(days=1)
    batch_size: int = 100

    def backoff(self, attempts: int, rng: random.Random) -> timedelta:
        """Doubling from the base to the cap, then 50-100 % of it, as the alert webhook."""
        delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=delay * rng.uniform(0.5, 1.0))


@dataclass(slots=True)
class NotifyServices:
    link_base_url: str
    link_key: bytes | None = field(repr=False)
    link_hours: int = 168
    allow_loopback_robots: bool = False
    smtp: SmtpConfig | None = None
    sms: NoticeSender | None = None
    timeout_s: float = 10.0
    retry: Retry = field(default_factory=Retry)
    transport: httpx.BaseTransport | None = None
    rng: random.Random = field(default_factory=random.Random)
    # How many test messages a person may send (POST …/subscriptions/{id}/test).
    test_limit: TestSendLimit = field(default_factory=TestSendLimit)

    def link(self, alert_id: int | None, username: str, *, now: datetime) -> str | None:
        if alert_id is None or self.link_key is None:
            return None
        token = make_token(
            self.link_key, alert_id=alert_id, username=username, now=now, hours=self.link_hours
        )
        return f"{self.link_base_url.rstrip('/')}/n/ack/{token}"

    def send(self, sub: Subscription, message: Message, *, now: datetime) -> None:
        """Send ``message`` through ``sub``'s channel; raises ChannelError saying why not."""
        channel = Channel(sub.channel)
        if channel is Channel.DASHBOARD:
            return
        if channel is Channel.EMAIL:
            if self.smtp is None:
                raise ChannelError("no mail server is set; set YZ_CLOUD_NOTIFY__SMTP_HOST")
            send_email(self.smtp, sub.target, message)
            return
        if channel is Channel.SMS:
            self._sms(sub.target, message)
            return
        if channel is Channel.WECOM:
            url, body = wecom_request(sub.target, message)
        elif channel is Channel.DINGTALK:
            url, body = dingtalk_request(sub.target, sub.secret, message, now=now)
        else:
            url, body = feishu_request(sub.target, sub.secret, message, now=now)
        with httpx.Client(timeout=self.timeout_s, transport=self.transport) as client:
            post(client, url, body, robot=_ROBOT_NAMES[channel])

    def _sms(self, phone: str, message: Message) -> None:
        if self.sms is None:
            raise ChannelError("no SMS provider is set; set YZ_CLOUD_SMS__PROVIDER (docs/sms.md)")
        alert, venue = title_parts(message.title)
        try:
            self.sms.send_notice(phone, Notice(venue=venue, alert=alert, link=message.link or ""))
        except SmsError as exc:
            raise ChannelError(exc.message) from exc


_ROBOT_NAMES = {
    Channel.WECOM: "the WeChat Work robot",
    Channel.DINGTALK: "the DingTalk robot",
    Channel.FEISHU: "the Feishu robot",
}


def link_key(settings: CloudSettings) -> bytes | None:
    """The acknowledge links' key: set, else derived from the JWT secret; in development
    without either, a fixed key (so every local process agrees)."""
    notify, auth = settings.notify, settings.auth
    if notify.link_key is not None:
        return notify.link_key.get_secret_value().encode()
    if auth.jwt_secret is not None:
        return derive_key(auth.jwt_secret.get_secret_value().encode())
    if settings.mode == "production":
        logger.warning("no notify.link_key nor auth.jwt_secret: messages carry no ack link")
        return None
    return DEVELOPMENT_KEY


def notice_sender(settings: CloudSettings) -> NoticeSender | None:
    """The configured SMS provider's notice sender; none in production without a provider
    (the development sender only logs)."""
    sms = settings.sms
    if settings.mode == "production" and production_weakness(sms) is not None:
        return None
    if sms.provider == "aliyun":
        return AliyunSender(aliyun_config(sms))
    if sms.provider == "tencent":
        return TencentSender(tencent_config(sms))
    return DevSender()


def notify_services(
    settings: CloudSettings,
    *,
    transport: httpx.BaseTransport | None = None,
    sms: NoticeSender | None = None,
) -> NotifyServices:
    notify = settings.notify
    smtp = None
    if notify.smtp_host is not None:
        smtp = SmtpConfig(
            host=notify.smtp_host,
            port=notify.smtp_port,
            sender=notify.smtp_from,
            user=notify.smtp_user,
            password=notify.smtp_password.get_secret_value() if notify.smtp_password else None,
            starttls=notify.smtp_starttls,
            timeout_s=notify.smtp_timeout_s,
        )
    if sms is None:
        sms = notice_sender(settings)
    return NotifyServices(
        link_base_url=notify.link_base_url,
        link_key=link_key(settings),
        link_hours=notify.link_hours,
        allow_loopback_robots=notify.allow_loopback_robots,
        smtp=smtp,
        sms=sms,
        timeout_s=notify.timeout_s,
        retry=Retry(
            backoff_base_s=notify.backoff_base_s,
            backoff_max_s=notify.backoff_max_s,
            max_attempts=notify.max_attempts,
            batch_size=notify.batch_size,
        ),
        transport=transport,
    )


def get_services(request: Request) -> NotifyServices:
    """The app's notification services (``app.state.notify``, set by ``create_app``)."""
    services = request.app.state.notify
    if not isinstance(services, NotifyServices):
        raise TypeError("app.state.notify is not NotifyServices; build the app with create_app()")
    return services
