"""Group robots: WeChat Work (企业微信), DingTalk (钉钉) and Feishu/Lark (飞书) webhooks.

Each is one JSON POST to a URL that carries the robot's key; what differs is the body, the
signing and how success is answered (sources in docs/notifications.md):

- WeChat Work: ``POST …/cgi-bin/webhook/send?key=KEY`` with ``{"msgtype": "markdown",
  "markdown": {"content": …}}``; answers ``{"errcode": 0, "errmsg": "ok"}``. No signing: the
  key in the URL is the secret.
- DingTalk: ``POST …/robot/send?access_token=…&timestamp=MS&sign=S`` where ``S`` is
  ``urlencode(base64(HMAC-SHA256(key=secret, msg=f"{MS}\\n{secret}")))``, ``MS`` in
  milliseconds and within an hour of DingTalk's clock; answers ``{"errcode": 0, …}``.
- Feishu: the body carries ``"timestamp"`` (seconds, as a string) and ``"sign"`` =
  ``base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))``; answers ``{"code": 0, …}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote_plus

import httpx

from cloud.notify.errors import ChannelError

_QUOTED_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class Message:
    """What a person reads: a title, the text, and the acknowledge link (if any)."""

    title: str
    text: str
    link: str | None = None


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The ``sign`` query value, already URL-encoded as DingTalk's page says."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """The body's ``sign``: the key is timestamp + newline + secret, the message empty."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


# What a venue's name or an alert's text could use to make markup of its own in a group's
# message: links and images ([…](…)), emphasis, code, headings, quotes, tables, and the tags
# WeChat Work's markdown reads (<font …>, <@userid>) as Feishu's text does (<at user_id=…>).
# Neither WeChat Work nor DingTalk documents a backslash escape, so each becomes its
# full-width twin instead: it reads the same beside Chinese text and no robot parses it.
_MARKDOWN: Final = str.maketrans(dict(zip("[]<>*`#|~", "［］＜＞＊｀＃｜～", strict=True)))
_TAGS: Final = str.maketrans({"<": "＜", ">": "＞"})


def _one_line(text: str) -> str:
    return " ".join(text.split())


def escape_markdown(text: str) -> str:
    """``text`` as WeChat Work's and DingTalk's markdown show it literally: no link, no tag."""
    return text.translate(_MARKDOWN)


def _markdown(message: Message) -> str:
    # The title is one line: a line break in it would end the bold and start a heading.
    lines = [f"**{escape_markdown(_one_line(message.title))}**", escape_markdown(message.text)]
    if message.link:
        lines.append(f"[确认处理 Acknowledge]({message.link})")
    return "\n\n".join(lines)


def _plain(message: Message) -> str:
    # Feishu's text message reads <at user_id="all"></at> as "@everyone": no tags from a name.
    lines = [_one_line(message.title).translate(_TAGS), message.text.translate(_TAGS)]
    if message.link:
        lines.append(f"确认处理 Acknowledge: {message.link}")
    return "\n".join(lines)


def wecom_request(url: str, message: Message) -> tuple[str, dict[str, Any]]:
    return url, {"msgtype": "markdown", "markdown": {"content": _markdown(message)}}


def dingtalk_request(
    url: str, secret: str | None, message: Message, *, now: datetime
) -> tuple[str, dict[str, Any]]:
    if secret:
        stamp = int(now.timestamp() * 1000)
        url = f"{url}&timestamp={stamp}&sign={dingtalk_sign(secret, stamp)}"
    # The title is what the chat list shows: plain text, one line.
    title = _one_line(message.title)
    body = {"msgtype": "markdown", "markdown": {"title": title, "text": _markdown(message)}}
    return url, body


def feishu_request(
    url: str, secret: str | None, message: Message, *, now: datetime
) -> tuple[str, dict[str, Any]]:
    body: dict[str, Any] = {"msg_type": "text", "content": {"text": _plain(message)}}
    if secret:
        stamp = int(now.timestamp())
        body = {"timestamp": str(stamp), "sign": feishu_sign(secret, stamp), **body}
    return url, body


def post(client: httpx.Client, url: str, body: dict[str, Any], *, robot: str) -> None:
    """POST ``body``; return when the robot answered success, else raise ChannelError."""
    content = json.dumps(body, ensure_ascii=False).encode()
    try:
        response = client.post(
            url, content=content, headers={"Content-Type": "application/json; charset=utf-8"}
        )
    except httpx.HTTPError as exc:
        raise ChannelError(f"{robot} could not be reached ({type(exc).__name__}: {exc})") from exc
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        quoted = response.text[:_QUOTED_CHARS]
        raise ChannelError(f"{robot} answered HTTP {response.status_code}, not JSON: {quoted!r}")
    # WeChat Work and DingTalk say errcode/errmsg, Feishu code/msg; all answer 0 for success.
    code = answer.get("errcode", answer.get("code"))
    if response.is_success and code == 0:
        return
    said = answer.get("errmsg", answer.get("msg", ""))
    raise ChannelError(f"{robot} refused the message (HTTP {response.status_code}, {code}: {said})")
