"""Where a subscription's messages go: each channel's address, checked, and shown masked.

A robot webhook URL carries its key: whoever has it can post into the group. So URLs are
checked against the robot's own host (https), and shown back with the key cut down.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, urlsplit

from cloud.notify.errors import TargetError
from cloud.notify.models import Channel
from cloud.notify.settings import LOOPBACK_HOSTS
from cloud.sms.sender import mask_phone

_PHONE: Final = re.compile(r"1[3-9]\d{9}")
# One plain address: no list (","), no display name ("<…>"), no quoting, nothing a mail
# server would read as a second recipient. Report subscriptions use the same pattern.
EMAIL_PATTERN: Final = (
    r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}$"
)
_EMAIL: Final = re.compile(EMAIL_PATTERN)


@dataclass(frozen=True, slots=True)
class RobotRule:
    hosts: frozenset[str]
    path: re.Pattern[str]
    key_param: str | None  # the query parameter holding the key; None: the key is the path
    example: str


ROBOTS: Final[dict[Channel, RobotRule]] = {
    Channel.WECOM: RobotRule(
        frozenset({"qyapi.weixin.qq.com"}),
        re.compile(r"/cgi-bin/webhook/send"),
        "key",
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…",
    ),
    Channel.DINGTALK: RobotRule(
        frozenset({"oapi.dingtalk.com"}),
        re.compile(r"/robot/send"),
        "access_token",
        "https://oapi.dingtalk.com/robot/send?access_token=…",
    ),
    Channel.FEISHU: RobotRule(
        frozenset({"open.feishu.cn", "open.larksuite.com"}),
        re.compile(r"/open-apis/bot/v2/hook/[A-Za-z0-9-]{8,}"),
        None,
        "https://open.feishu.cn/open-apis/bot/v2/hook/…",
    ),
}


def check_target(channel: Channel, target: str, *, allow_loopback: bool) -> str:
    """``target`` tidied for ``channel``; raises TargetError saying what is wrong."""
    target = target.strip()
    if channel is Channel.DASHBOARD:
        return ""
    if channel is Channel.SMS:
        if not _PHONE.fullmatch(target):
            raise TargetError("target", "give an 11-digit mainland mobile number, e.g. 13800138000")
        return target
    if channel is Channel.EMAIL:
        if len(target) > 254 or not _EMAIL.fullmatch(target):
            raise TargetError(
                "target",
                "give one plain e-mail address (letters, digits and . _ % + - before the @; "
                "no list, no name in <>), e.g. duty@union.example.cn",
            )
        return target
    return _check_robot_url(channel, target, allow_loopback=allow_loopback)


def _check_robot_url(channel: Channel, url: str, *, allow_loopback: bool) -> str:
    rule = ROBOTS[channel]
    parts = urlsplit(url)
    loopback = (
        allow_loopback and parts.hostname in LOOPBACK_HOSTS and parts.scheme in ("http", "https")
    )
    if not loopback and (parts.scheme != "https" or parts.hostname not in rule.hosts):
        raise TargetError(
            "target", f"the robot's webhook address must look like {rule.example} (https)"
        )
    try:
        port = parts.port
    except ValueError:
        port = -1  # not a number: refused below as any port is
    if "@" in parts.netloc or (port is not None and not loopback):
        raise TargetError(
            "target",
            f"the webhook address must name the robot's host alone (no port, no user:password@);"
            f" copy it whole from the robot, like {rule.example}",
        )
    if not rule.path.fullmatch(parts.path):
        raise TargetError("target", f"the webhook path is not the robot's; expected {rule.example}")
    if rule.key_param is not None:
        keys = parse_qs(parts.query).get(rule.key_param, [])
        if len(keys) != 1 or not keys[0]:
            raise TargetError(
                "target", f"the address has no {rule.key_param}=…; copy it whole from the robot"
            )
    return url


def _cut(secret: str) -> str:
    return "****" if len(secret) <= 8 else f"{secret[:4]}…{secret[-4:]}"


def mask_target(channel: str, target: str) -> str:
    """The address as the page and the API show it: enough to recognise, not to use."""
    if channel == Channel.SMS:
        return mask_phone(target)
    if channel == Channel.EMAIL:
        name, _, domain = target.partition("@")
        return f"{name[:1]}***@{domain}"
    if channel in (Channel.WECOM, Channel.DINGTALK):
        parts = urlsplit(target)
        param = ROBOTS[Channel(channel)].key_param or ""
        key = parse_qs(parts.query).get(param, [""])[0]
        return f"{parts.scheme}://{parts.netloc}{parts.path}?{param}={_cut(key)}"
    if channel == Channel.FEISHU:
        head, _, hook = target.rpartition("/")
        return f"{head}/{_cut(hook)}"
    return ""
