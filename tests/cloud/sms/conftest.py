"""Fake providers on loopback ports, the senders that talk to them, and dead endpoints."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import pytest

from cloud.core.time import Clock, utc_now
from cloud.sms.aliyun import AliyunConfig, AliyunSender
from cloud.sms.sender import SmsSender
from cloud.sms.tencent import TencentConfig, TencentSender
from tests.cloud.sms.fake_aliyun import FakeAliyun
from tests.cloud.sms.fake_tencent import FakeTencent
from tests.cloud.sms.loopback import FakeProvider

KEY_ID = "LTAI5tTestKeyId"
SECRET = "q3JvZ2F0ZS1zbXMtdGVzdC1zZWNyZXQ"
PHONE = "13800138000"
CODE = "482913"
SIGN_NAME = "职工驿站"


class SenderBuilder(Protocol):
    def __call__(
        self,
        fake: FakeProvider,
        *,
        endpoint: str | None = ...,
        secret: str = ...,
        clock: Clock = ...,
        timeout_s: float = ...,
    ) -> SmsSender: ...


@dataclass(frozen=True)
class Provider:
    """A fake provider and the sender that talks to it, for the behaviours both share."""

    name: str
    fake: FakeProvider
    build: SenderBuilder

    def sender(
        self,
        *,
        endpoint: str | None = None,
        secret: str = SECRET,
        clock: Clock = utc_now,
        timeout_s: float = 2.0,
    ) -> SmsSender:
        """A sender to the fake, or to ``endpoint``; 2 s is far above a loopback answer."""
        return self.build(
            self.fake, endpoint=endpoint, secret=secret, clock=clock, timeout_s=timeout_s
        )


@pytest.fixture
def aliyun() -> Iterator[FakeAliyun]:
    fake = FakeAliyun(keys={KEY_ID: SECRET}, now=time.time)
    yield fake
    fake.close()


@pytest.fixture
def tencent() -> Iterator[FakeTencent]:
    fake = FakeTencent(keys={KEY_ID: SECRET}, now=time.time)
    yield fake
    fake.close()


def aliyun_sender(
    fake: FakeProvider,
    *,
    endpoint: str | None = None,
    secret: str = SECRET,
    clock: Clock = utc_now,
    timeout_s: float = 2.0,
) -> AliyunSender:
    config = AliyunConfig(
        access_key_id=KEY_ID,
        access_key_secret=secret,
        sign_name=SIGN_NAME,
        template_code="SMS_154950909",
        endpoint=endpoint or fake.endpoint,
        timeout_s=timeout_s,
    )
    return AliyunSender(config, clock=clock)


def tencent_sender(
    fake: FakeProvider,
    *,
    endpoint: str | None = None,
    secret: str = SECRET,
    clock: Clock = utc_now,
    timeout_s: float = 2.0,
) -> TencentSender:
    config = TencentConfig(
        secret_id=KEY_ID,
        secret_key=secret,
        sdk_app_id="1400006666",
        sign_name=SIGN_NAME,
        template_id="449739",
        endpoint=endpoint or fake.endpoint,
        timeout_s=timeout_s,
    )
    return TencentSender(config, clock=clock)


@pytest.fixture(params=["aliyun", "tencent"])
def provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    """Each real provider in turn."""
    fake: FakeProvider
    build: SenderBuilder
    if request.param == "aliyun":
        fake, build = FakeAliyun(keys={KEY_ID: SECRET}, now=time.time), aliyun_sender
    else:
        fake, build = FakeTencent(keys={KEY_ID: SECRET}, now=time.time), tencent_sender
    yield Provider(request.param, fake, build)
    fake.close()


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A port that takes connections (the kernel's backlog) and never answers a byte."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"


@pytest.fixture
def closed_endpoint() -> str:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
